"""`llm-context keys`: provider keys kept in a file only the user can read (mode 0600, in
the data directory beside the log), used by the command line when neither the profile nor
the environment gives one. A key is read from the terminal (hidden) or stdin, never from
the command line (shell history keeps that), and never printed back.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..providers.registry import PROVIDERS, parse_provider
from .common import CLIError, say
from .logbook import data_dir

__all__ = ["add_parser", "keys_path", "stored_keys"]

DESCRIPTION = """\
Keep provider keys for the command line, in a file only you can read. A stored key is used
when the profile and the environment give none (the environment wins).

examples:
  llm-context keys set anthropic          # asks for the key (hidden)
  echo "$KEY" | llm-context keys set openai
  llm-context keys list                   # names only, never the keys
  llm-context keys path
"""


def keys_path() -> Path:
    return data_dir() / "keys.json"


def _stored() -> dict[str, str]:
    path = keys_path()
    if not path.exists():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path} is not a keys file ({type(exc).__name__}); remove it") from None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


@contextlib.contextmanager
def stored_keys(environ: Any = os.environ) -> Iterator[None]:
    """Each stored key in its provider's key variable, where that is not already set, for
    as long as the command runs (then the environment is as it was)."""
    added: list[str] = []
    try:
        if keys_path().exists():
            for name, key in _stored().items():
                variables = PROVIDERS[parse_provider(name)].key_env
                if variables and not any(environ.get(v) for v in variables):
                    environ[variables[0]] = key
                    added.append(variables[0])
        yield
    finally:
        for variable in added:
            environ.pop(variable, None)


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "keys",
        help="store provider keys for the command line (set, list, path)",
        description=DESCRIPTION,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("set", "list", "path"))
    parser.add_argument("name", nargs="?", help="the provider, for `set` (openai, anthropic...)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "path":
        say(str(keys_path()))
        return 0
    if args.action == "list":
        for name in sorted(_stored()):
            say(name)
        return 0
    if not args.name:
        raise CLIError("keys set needs the provider: llm-context keys set openai")
    try:
        name = parse_provider(args.name, show_value=False).value
    except Exception as exc:  # LLMConfigError: one line, the names it takes
        raise CLIError(str(exc)) from None
    if sys.stdin is not None and sys.stdin.isatty():
        key = getpass.getpass(f"{name} key: ")
    else:
        key = sys.stdin.readline() if sys.stdin is not None else ""
    key = key.strip()
    if not key:
        raise CLIError("no key given: type it when asked, or pipe it in")
    keys = {**_stored(), name: key}
    path = keys_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(keys, out, indent=2)
    os.chmod(path, 0o600)  # a file made earlier with looser rights is tightened too
    say(f"stored the {name} key in {path}")
    return 0
