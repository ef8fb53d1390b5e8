"""Every ```python block in docs/ and README.md runs here, against the fake provider server.

How a page's examples run:
- The blocks of one page run in order in one namespace (a page reads like a session), in a
  fresh temporary directory, with top-level `await` allowed.
- Profiles come "the way the docs say": `$LLM_CONTEXT_PROFILES` names a profiles.yaml whose
  profiles point at the fake server: `default` (OpenAI), `claude` (Anthropic), `gemini`
  (Google), `local` (Ollama), and one per provider named after it (`openai`, `azure`, ...).
  Provider env vars (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, ...) point there too, and any
  other host goes to a dead proxy: no example can reach the network.
- Directives are HTML comments right before a block (invisible on the site):
    <!-- test: skip (why) -->           do not run this block (keep these rare)
    <!-- test
    fake.script(Reply("Hi!"))
    -->                                  run this Python first (scripted replies, files)
  Setup code sees `fake` (the server) and the names of `llm_context.testing`.
- A ```text block preceded by `<!-- test: output -->` must equal what the Python block
  before it printed.
- `<!-- test: pytest -->` before a ```python block whose first line is `# name.py`: the
  block is written to that file; a `test_*.py` file is then run by pytest in a subprocess
  (the plugin's fixtures come from the installed entry point, as for a user).
- A ```console block runs each `$ llm-context ...` line through the CLI; the lines shown
  after a command must each begin a line of its output, in order. Other lines (pipes,
  other programs) are not run.

The provider-by-feature and defaults tables in docs/providers.md are generated from the
registry (`llm-context providers --markdown` prints them); this file checks they match, and
`UPDATE_DOCS=1 pytest tests/test_docs.py` rewrites them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import llm_context.testing as testing_kit
from llm_context import context
from llm_context.cli import main as cli_main
from llm_context.cli.features import defaults_table, feature_table
from llm_context.providers.registry import PROVIDERS
from llm_context.testing import FakeProviderServer

from .conftest import FAST_RETRY

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]

FENCE = re.compile(
    r"(?P<directives>(?:<!--(?:(?!-->).)*-->[ \t]*\n)*)"  # comments right before the fence
    r"(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.S | re.M,
)
DIRECTIVE = re.compile(r"<!--\s*test(?P<colon>:)?(?P<text>.*?)-->", re.S)

# Docs profile names -> the fake's per-provider profile they copy, and the model the docs'
# YAML gives them (examples print it).
ALIASES = {
    "default": ("openai", "gpt-4.1-mini"),
    "claude": ("anthropic", "claude-sonnet-4-6"),
    "gemini": ("google", "gemini-2.5-flash"),
    "local": ("ollama", "llama3.2"),
}


@dataclass
class Block:
    line: int
    lang: str
    code: str
    setup: list[str]
    skip: str | None = None
    expect_output: bool = False
    pytest: bool = False


def parse_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    for match in FENCE.finditer(text):
        lang = match["lang"]
        block = Block(
            line=text.count("\n", 0, match.start("indent")) + 1,
            lang=lang,
            code=textwrap.dedent(
                "\n".join(
                    line[len(match["indent"]) :] if line.startswith(match["indent"]) else line
                    for line in match["body"].splitlines()
                )
                + "\n"
            ),
            setup=[],
        )
        for directive in DIRECTIVE.finditer(match["directives"]):
            body = directive["text"]
            if directive["colon"]:
                word = body.strip().split(maxsplit=1)
                if word and word[0] == "skip":
                    block.skip = word[1] if len(word) > 1 else "skipped"
                elif word and word[0] == "output":
                    block.expect_output = True
                elif word and word[0] == "pytest":
                    block.pytest = True
                else:
                    raise AssertionError(f"line {block.line}: unknown directive {body.strip()!r}")
            else:
                block.setup.append(textwrap.dedent(body).strip("\n"))
        blocks.append(block)
    return blocks


def docs_profiles(fake: FakeProviderServer) -> dict[str, Any]:
    doc = fake.profiles(**{name.value: {"retry": FAST_RETRY} for name in PROVIDERS})
    profiles = doc["profiles"]
    for alias, (provider, model) in ALIASES.items():
        profiles[alias] = {**profiles[provider], "model": model}
    # OpenAI, Anthropic and Google serve embeddings and images in the docs as in real life.
    return {"default_profile": "default", "profiles": profiles}


def provider_env(fake: FakeProviderServer) -> dict[str, str]:
    """Every provider env var pointed at the fake, so even ad-hoc profiles stay offline."""
    env: dict[str, str] = {
        "HTTP_PROXY": "http://127.0.0.1:9",  # the discard port: nothing listens, fails fast
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    for spec in PROVIDERS.values():
        for name in spec.key_env:
            env[name] = f"test-env-key-{spec.provider.value}"
        for name in spec.base_url_env:
            env[name] = fake.base_url(spec.provider.value)
    env["AZURE_OPENAI_DEPLOYMENT"] = "test-deployment"
    env["OPENAI_API_VERSION"] = "2024-10-21"
    return env


@pytest.fixture
def docs_env(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeProviderServer]:
    work = tmp_path / "work"
    work.mkdir()
    profiles = tmp_path / "docs-profiles.yaml"
    profiles.write_text(yaml.safe_dump(docs_profiles(fake)), encoding="utf-8")
    for name, value in provider_env(fake).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LLM_CONTEXT_PROFILES", str(profiles))
    monkeypatch.chdir(work)
    context.profiles.reload()
    yield fake
    monkeypatch.undo()
    with contextlib.suppress(Exception):
        context.profiles.reload()


def run_code(code: str, namespace: dict[str, Any], where: str) -> str:
    """Run one block; returns what it printed. Top-level `await` runs in a fresh loop."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    compiled = compile(code, where, "exec", flags=flags)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if compiled.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(compiled, namespace))
        else:
            exec(compiled, namespace)
    return out.getvalue()


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def run_pytest_block(block: Block, where: str) -> None:
    """Write the block to the file its first line names; run it with pytest if it is a test."""
    first = block.code.splitlines()[0]
    assert re.fullmatch(r"# [\w.]+\.py", first), f"{where}: a pytest block starts with # name.py"
    name = first[2:]
    Path(name).write_text(block.code, encoding="utf-8")
    if not name.startswith("test_"):
        return
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{where}: pytest failed:\n{done.stdout}\n{done.stderr}"
    assert " passed" in done.stdout


def run_console_block(block: Block, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Run the `$ llm-context ...` lines; shown output lines must begin output lines in order."""
    commands: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line.rstrip())
    for command, shown in commands:
        argv = shlex.split(command)
        if argv[0] != "llm-context" or any(token in command for token in "|<>"):
            continue
        capsys.readouterr()
        status = cli_main(argv[1:])
        out, err = capsys.readouterr()
        assert status == 0, f"{where}: `{command}` exited {status}: {err}"
        lines = iter(out.splitlines())
        for expected in shown:
            assert any(line.startswith(expected) for line in lines), (
                f"{where}: `{command}` did not print {expected!r}; it printed:\n{out}"
            )


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_examples_run(
    page: Path, docs_env: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = parse_blocks(page.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    setup_names = {name: getattr(testing_kit, name) for name in testing_kit.__all__}
    setup_ns: dict[str, Any] = {**setup_names, "fake": docs_env}
    printed: str | None = None
    for block in blocks:
        where = f"{page_id(page)}:{block.line}"
        if block.expect_output:
            assert printed is not None, f"{where}: an output block needs a Python block before it"
            assert printed.rstrip() == block.code.rstrip(), f"{where}: printed output differs"
            continue
        if block.skip or block.lang not in ("python", "console"):
            continue
        for setup in block.setup:
            exec(compile(setup, f"{where} (setup)", "exec"), {**setup_ns, **namespace}, namespace)
        if block.pytest:
            run_pytest_block(block, where)
        elif block.lang == "console":
            run_console_block(block, where, capsys)
        else:
            try:
                printed = run_code(block.code, namespace, where)
            except Exception as exc:
                raise AssertionError(f"{where}: the example failed: {exc!r}") from exc
    assert not docs_env.errors, docs_env.errors


def test_pages_have_examples_and_few_skips() -> None:
    blocks = [b for page in PAGES for b in parse_blocks(page.read_text(encoding="utf-8"))]
    python = [b for b in blocks if b.lang in ("python", "console")]
    skipped = [b for b in python if b.skip]
    assert len(python) >= 40
    assert len(skipped) * 10 <= len(python), "keep skipped examples rare"


def check_generated(path: Path, marker: str, content: str) -> None:
    """The text between the page's BEGIN/END markers must be `content`; with
    UPDATE_DOCS=1 in the environment it is rewritten instead."""
    text = path.read_text(encoding="utf-8")
    start, end = f"<!-- BEGIN {marker} -->\n", f"<!-- END {marker} -->"
    assert start in text and end in text, f"{path}: {marker} markers are missing"
    head, rest = text.split(start, 1)
    current, tail = rest.split(end, 1)
    if os.environ.get("UPDATE_DOCS") == "1":
        path.write_text(head + start + content + end + tail, encoding="utf-8")
        return
    assert current == content, f"{path}: {marker} is stale; run UPDATE_DOCS=1 pytest {__file__}"


def test_feature_table_is_generated_from_the_registry() -> None:
    page = DOCS / "providers.md"
    check_generated(page, "feature-table", feature_table().markdown())
    check_generated(page, "defaults-table", defaults_table().markdown())


def test_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def files(nav: Any) -> Iterator[str]:
        if isinstance(nav, str):
            yield nav
        elif isinstance(nav, list):
            for item in nav:
                yield from files(item)
        elif isinstance(nav, dict):
            for item in nav.values():
                yield from files(item)

    listed = set(files(config["nav"]))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages - listed == set(), "pages missing from the nav in mkdocs.yml"
    assert listed - pages == set(), "nav entries without a page"


def test_directive_parser() -> None:
    text = textwrap.dedent(
        """\
        <!-- test
        fake.script(Reply("x"))
        -->
        ```python
        print(1)
        ```

        <!-- test: output -->
        ```text
        1
        ```

        <!-- test: skip (needs a real key) -->
        ```python
        boom()
        ```
        """
    )
    first, output, skipped = parse_blocks(text)
    assert (first.lang, first.code, first.setup) == (
        "python",
        "print(1)\n",
        ['fake.script(Reply("x"))'],
    )
    assert output.expect_output and output.code == "1\n"
    assert skipped.skip == "(needs a real key)"


def test_the_pytest_plugin_is_an_installed_entry_point() -> None:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="pytest11") if ep.value.startswith("llm_context")]
    # Named after the module, so a conftest that also lists it registers it only once.
    assert [(ep.name, ep.value) for ep in found] == [
        ("llm_context.testing.pytest_plugin", "llm_context.testing.pytest_plugin")
    ]
