"""ProfileStore: loading, validation, interpolation, env defaults, runtime updates, resolution."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_context import LLMContext
from llm_context.config import profiles as profiles_module
from llm_context.config.profiles import (
    ProfileStore,
    resolve_api_key,
    resolve_base_url,
    resolve_model,
)
from llm_context.config.settings import Pricing, Profile, RateLimitSettings, RetrySettings
from llm_context.errors import LLMConfigError, LLMServerError
from llm_context.providers.registry import Provider
from llm_context.testing import FakeProviderServer, Fault, Reply

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-proj-SECRETSECRETSECRET1234567890"


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    """An environment isolated from the real one: HOME points into tmp_path."""
    return {"HOME": str(tmp_path / "home"), **values}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def mapping_store(profiles: Mapping[str, Any], tmp_path: Path, **environ: str) -> ProfileStore:
    return ProfileStore(
        {"profiles": dict(profiles)}, environ=env(tmp_path, **environ), cwd=tmp_path
    )


def load_error(profiles: Mapping[str, Any], tmp_path: Path, **environ: str) -> str:
    """The message of a document-level problem: the whole load fails."""
    with pytest.raises(LLMConfigError) as info:
        mapping_store(profiles, tmp_path, **environ)
    return str(info.value)


def config_error(profiles: Mapping[str, Any], tmp_path: Path, **environ: str) -> str:
    """The message of a problem inside the first profile: deferred to that profile's use.

    A healthy `ok` profile is loaded beside it and must keep working.
    """
    name = next(iter(profiles))
    store = mapping_store({**profiles, "ok": {"provider": "ollama"}}, tmp_path, **environ)
    assert store.names() == [*profiles, "ok"]
    assert name in store
    assert store.get("ok").provider is Provider.OLLAMA
    with pytest.raises(LLMConfigError) as info:
        store.get(name)
    with pytest.raises(LLMConfigError) as again:
        store.get(name)
    assert str(again.value) == str(info.value)
    return str(info.value)


# ---------------------------------------------------------------------------- loading


def test_yaml_file_loads_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        """
default_profile: claude
profiles:
  claude:
    provider: anthropic
    model: claude-sonnet-4-6
    base_url: https://proxy.example/anthropic/
    api_key: literal-key
    timeout: 120
    embed_model: e
    image_model: i
    headers: {X-One: "1"}
    retry:
      {max_attempts: 5, max_wait_s: 10, initial_backoff_s: 0.1, max_backoff_s: 2, jitter: false}
    rate_limit: {rpm: 50, tpm: 40000, max_concurrency: 8, group: team}
    fallbacks: [local]
    pricing: {input_per_million: 3, output_per_million: 15, cached_input_per_million: 0.3}
    repair_attempts: 2
    extras: {anything: [1, 2]}
  local:
    provider: OLLAMA
    timeout: null
  az:
    provider: azure
    azure_deployment: dep
    api_version: "2024-10-21"
""",
    )
    store = ProfileStore(path, environ=env(tmp_path), cwd=tmp_path)
    assert store.path == path
    assert store.names() == ["claude", "local", "az"]
    assert store.default_profile == "claude"
    claude = store.get("claude")
    assert claude == Profile(
        name="claude",
        provider=Provider.ANTHROPIC,
        model="claude-sonnet-4-6",
        base_url="https://proxy.example/anthropic/",
        api_key="literal-key",
        timeout=120.0,
        embed_model="e",
        image_model="i",
        headers={"X-One": "1"},
        retry=RetrySettings(5, 10.0, 0.1, 2.0, False),
        rate_limit=RateLimitSettings(50, 40000, 8, "team"),
        fallbacks=("local",),
        pricing=Pricing(3.0, 15.0, 0.3),
        repair_attempts=2,
        extras={"anything": [1, 2]},
        source=f"file:{path}",
    )
    local = store.get("local")
    assert local.provider is Provider.OLLAMA
    assert local.timeout is None
    assert local.retry == RetrySettings()
    assert store.get("az").azure_deployment == "dep"
    assert store.get("az").api_version == "2024-10-21"
    # The undefined name "default" means the default profile.
    assert store.get("default") is claude
    assert store.get() is claude


def test_defaults_when_fields_are_left_out(tmp_path: Path) -> None:
    store = mapping_store({"x": {"provider": "openai"}}, tmp_path)
    assert store.get("x") == Profile(name="x", provider=Provider.OPENAI, source="mapping")
    assert store.default_profile == "x"  # no "default" profile: the first one


def test_mapping_source(tmp_path: Path) -> None:
    store = ProfileStore(
        {
            "default_profile": "b",
            "profiles": {"a": {"provider": "openai"}, "b": {"provider": "google"}},
        },
        environ=env(tmp_path),
        cwd=tmp_path,
    )
    assert store.path is None
    assert store.default_profile == "b"
    assert store.get().provider is Provider.GOOGLE
    assert store.get("a").source == "mapping"
    message = config_error({"a": {"provider": "openai", "timeout": "x"}}, tmp_path)
    assert message.startswith("<mapping>: profile 'a', field 'timeout'")


def test_default_profile_must_exist(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match=r"default_profile.*'nope'.*use one of: a"):
        ProfileStore(
            {"default_profile": "nope", "profiles": {"a": {"provider": "openai"}}},
            environ=env(tmp_path),
        )


def test_default_profile_defaults_to_default_when_present(tmp_path: Path) -> None:
    store = mapping_store(
        {"a": {"provider": "openai"}, "default": {"provider": "ollama"}}, tmp_path
    )
    assert store.default_profile == "default"
    assert store.get().provider is Provider.OLLAMA


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match=r"'profile'.*did you mean 'profiles'"):
        ProfileStore({"profile": {}}, environ=env(tmp_path))


def test_empty_file_has_no_profiles(tmp_path: Path) -> None:
    store = ProfileStore(write(tmp_path / "p.yaml", ""), environ=env(tmp_path))
    assert store.names() == []
    with pytest.raises(LLMConfigError, match=r"no profiles are configured"):
        store.get()


def test_explicit_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(LLMConfigError, match=r"nowhere\.yaml"):
        ProfileStore(missing, environ=env(tmp_path, OPENAI_API_KEY="k"))
    with pytest.raises(LLMConfigError, match=r"nowhere\.yaml"):
        ProfileStore(str(missing), environ=env(tmp_path))


def test_relative_path_is_relative_to_cwd(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "p.yaml", "profiles: {r: {provider: openai}}")
    store = ProfileStore("sub/p.yaml", environ=env(tmp_path), cwd=tmp_path)
    assert store.names() == ["r"]


# ---------------------------------------------------------------------------- search order


def _search_tree(tmp_path: Path) -> dict[str, Path]:
    return {
        "explicit": write(
            tmp_path / "explicit.yaml", "profiles: {from_env_var: {provider: openai}}"
        ),
        "cwd": write(
            tmp_path / "work" / "profiles.yaml", "profiles: {from_cwd: {provider: openai}}"
        ),
        "xdg": write(
            tmp_path / "xdg" / "llm_context" / "profiles.yaml",
            "profiles: {from_xdg: {provider: openai}}",
        ),
        "home": write(
            tmp_path / "home" / ".config" / "llm_context" / "profiles.yaml",
            "profiles: {from_home: {provider: openai}}",
        ),
    }


def test_search_order(tmp_path: Path) -> None:
    files = _search_tree(tmp_path)
    cwd = tmp_path / "work"
    xdg = str(tmp_path / "xdg")

    def names(**environ: str) -> list[str]:
        return ProfileStore(environ=env(tmp_path, **environ), cwd=cwd).names()

    assert names(LLM_CONTEXT_PROFILES=str(files["explicit"]), XDG_CONFIG_HOME=xdg) == [
        "from_env_var"
    ]
    assert names(XDG_CONFIG_HOME=xdg) == ["from_cwd"]
    files["cwd"].unlink()
    assert names(XDG_CONFIG_HOME=xdg) == ["from_xdg"]
    assert names() == ["from_home"]  # no XDG_CONFIG_HOME: ~/.config
    files["home"].unlink()
    assert names(OPENAI_API_KEY="k") == ["default", "openai"]  # no file: the environment


def test_search_reports_found_path(tmp_path: Path) -> None:
    files = _search_tree(tmp_path)
    store = ProfileStore(environ=env(tmp_path), cwd=tmp_path / "work")
    assert store.path == files["cwd"]
    assert store.get("from_cwd").source == f"file:{files['cwd']}"


def test_profiles_env_var_pointing_nowhere_is_an_error(tmp_path: Path) -> None:
    _search_tree(tmp_path)
    with pytest.raises(LLMConfigError, match=r"LLM_CONTEXT_PROFILES.*gone\.yaml"):
        ProfileStore(
            environ=env(tmp_path, LLM_CONTEXT_PROFILES=str(tmp_path / "gone.yaml")),
            cwd=tmp_path / "work",
        )


# ---------------------------------------------------------------------------- interpolation


def test_interpolation_whole_embedded_and_defaults(tmp_path: Path) -> None:
    store = mapping_store(
        {
            "a": {
                "provider": "${PROVIDER}",
                "model": "${MODEL:-fallback-model}",
                "base_url": "https://${HOST}:${PORT:-8443}/v1",
                "api_key": "${KEY}",
                "embed_model": "${EMPTY:-used-when-empty}",
                "image_model": "price is $$5 and $${NOT_A_VAR}",
                "headers": {"Authorization": "Bearer ${KEY}"},
                "timeout": "${TIMEOUT}",
                "retry": {"max_attempts": "${ATTEMPTS}", "jitter": "${JITTER}"},
                "fallbacks": ["${FALLBACK}"],
                "extras": {"nested": "${HOST}"},
            },
            "b": {"provider": "openai"},
        },
        tmp_path,
        PROVIDER="openai",
        HOST="gw.example",
        KEY=SECRET,
        EMPTY="",
        TIMEOUT="12.5",
        ATTEMPTS="7",
        JITTER="false",
        FALLBACK="b",
    )
    a = store.get("a")
    assert a.provider is Provider.OPENAI
    assert a.model == "fallback-model"
    assert a.base_url == "https://gw.example:8443/v1"
    assert a.api_key == SECRET
    assert a.embed_model == "used-when-empty"
    assert a.image_model == "price is $$5 and ${NOT_A_VAR}"
    assert a.headers["Authorization"] == f"Bearer {SECRET}"
    assert a.timeout == 12.5
    assert a.retry.max_attempts == 7
    assert a.retry.jitter is False
    assert a.fallbacks == ("b",)
    assert a.extras == {"nested": "gw.example"}
    assert type(a.model) is str  # no internal marker type leaks out


def test_empty_interpolation_means_unset(tmp_path: Path) -> None:
    store = mapping_store(
        {"g": {"provider": "google", "api_key": "${GEMINI_API_KEY:-}"}},
        tmp_path,
    )
    assert store.get("g").api_key is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"api_key": "${MISSING_VAR}"}, "api_key"),
        ({"base_url": "http://${MISSING_VAR}:1/v1"}, "base_url"),
        ({"headers": {"X-Token": "${MISSING_VAR}"}}, "headers.X-Token"),
        ({"retry": {"max_attempts": "${MISSING_VAR}"}}, "retry.max_attempts"),
        ({"fallbacks": ["${MISSING_VAR}"]}, "fallbacks[0]"),
    ],
)
def test_unset_variable_names_var_file_profile_field(
    tmp_path: Path, fields: dict[str, Any], field: str
) -> None:
    import yaml

    path = write(
        tmp_path / "p.yaml",
        yaml.safe_dump({"profiles": {"prof": {"provider": "openai", **fields}}}),
    )
    store = ProfileStore(
        path, environ=env(tmp_path)
    )  # the problem is the profile's, not the file's
    assert store.names() == ["prof"]
    with pytest.raises(LLMConfigError) as info:
        store.get("prof")
    message = str(info.value)
    assert str(path) in message
    assert "profile 'prof'" in message
    assert f"field {field!r}" in message
    assert "MISSING_VAR is not set" in message


def test_malformed_reference(tmp_path: Path) -> None:
    message = config_error({"a": {"provider": "openai", "model": "${1BAD}"}}, tmp_path)
    assert "field 'model'" in message and "malformed" in message
    message = config_error({"a": {"provider": "openai", "model": "${UNCLOSED"}}, tmp_path)
    assert "malformed" in message


def test_default_profile_is_interpolated(tmp_path: Path) -> None:
    store = ProfileStore(
        {"default_profile": "${WHICH}", "profiles": {"x": {"provider": "openai"}}},
        environ=env(tmp_path, WHICH="x"),
    )
    assert store.default_profile == "x"


# ---------------------------------------------------------------------------- validation


def test_unknown_field_suggests_the_right_one(tmp_path: Path) -> None:
    message = config_error({"p": {"provider": "openai", "modle": "x"}}, tmp_path)
    assert "profile 'p'" in message and "field 'modle'" in message
    assert "did you mean 'model'" in message
    message = config_error({"p": {"provider": "openai", "retry": {"attempts": 2}}}, tmp_path)
    assert "field 'retry.attempts'" in message and "max_attempts" in message


@pytest.mark.parametrize(
    ("fields", "field", "expected"),
    [
        ({"timeout": "fast"}, "timeout", "number"),
        ({"timeout": 0}, "timeout", "> 0"),
        ({"timeout": -3}, "timeout", "> 0"),
        ({"timeout": True}, "timeout", "number"),
        ({"timeout": float("nan")}, "timeout", "finite"),
        ({"model": 4}, "model", "string"),
        ({"api_key": 1234}, "api_key", "string"),
        ({"headers": {"X-N": 5}}, "headers.X-N", "string"),
        ({"headers": ["a"]}, "headers", "mapping"),
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts", ">= 1"),
        ({"retry": {"max_attempts": 2.5}}, "retry.max_attempts", "whole number"),
        ({"retry": {"jitter": "yes"}}, "retry.jitter", "true or false"),
        ({"retry": 3}, "retry", "mapping"),
        ({"rate_limit": {"rpm": 0}}, "rate_limit.rpm", ">= 1"),
        ({"rate_limit": {"tpm": "lots"}}, "rate_limit.tpm", "whole number"),
        ({"pricing": {"input_per_million": -1}}, "pricing.input_per_million", ">= 0"),
        ({"fallbacks": "other"}, "fallbacks", "list"),
        ({"fallbacks": [3]}, "fallbacks[0]", "profile name"),
        ({"repair_attempts": -1}, "repair_attempts", ">= 0"),
        ({"extras": ["x"]}, "extras", "mapping"),
    ],
)
def test_wrong_types_and_bad_values(
    tmp_path: Path, fields: dict[str, Any], field: str, expected: str
) -> None:
    message = config_error({"p": {"provider": "openai", **fields}}, tmp_path)
    assert message.startswith(f"<mapping>: profile 'p', field {field!r}: ")
    assert expected in message


def test_non_numeric_env_value_for_number(tmp_path: Path) -> None:
    message = config_error({"p": {"provider": "openai", "timeout": "${T}"}}, tmp_path, T=SECRET)
    assert "field 'timeout'" in message and "not a number" in message
    assert SECRET not in message


def test_profile_must_be_a_mapping(tmp_path: Path) -> None:
    message = config_error({"p": "openai"}, tmp_path)
    assert "profile 'p'" in message and "mapping" in message


def test_bad_provider_lists_valid_ones(tmp_path: Path) -> None:
    message = config_error({"p": {"provider": "openia"}}, tmp_path)
    assert "profile 'p', field 'provider'" in message
    assert "'openia'" in message
    for provider in Provider:
        assert provider.value in message


def test_missing_provider(tmp_path: Path) -> None:
    message = config_error({"p": {"model": "x"}}, tmp_path)
    assert "profile 'p', field 'provider'" in message and "required" in message
    assert "anthropic" in message


def test_bad_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "broken.yaml",
        "profiles:\n  a:\n    provider: openai\n    api_key: s3cr3t-v4lue: oops\n",
    )
    with pytest.raises(LLMConfigError) as info:
        ProfileStore(path, environ=env(tmp_path))
    message = str(info.value)
    assert str(path) in message
    assert "line 4" in message and "column" in message
    assert "s3cr3t" not in message  # the offending line is not quoted


def test_fallbacks_must_exist_and_not_point_to_self(tmp_path: Path) -> None:
    ok = mapping_store(
        {"a": {"provider": "openai", "fallbacks": ["b"]}, "b": {"provider": "anthropic"}},
        tmp_path,
    )
    assert ok.get("a").fallbacks == ("b",)  # a forward reference is fine
    message = load_error({"a": {"provider": "openai", "fallbacks": ["ghost"]}}, tmp_path)
    assert "profile 'a', field 'fallbacks[0]'" in message and "'ghost'" in message
    message = load_error({"a": {"provider": "openai", "fallbacks": ["a"]}}, tmp_path)
    assert "itself" in message


# ---------------------------------------------------------------------------- one broken profile

QUICKSTART = """\
default_profile: default
profiles:
  default:
    provider: openai
    model: gpt-4.1-mini
    api_key: ${OPENAI_API_KEY}
  claude:
    provider: anthropic
    model: claude-sonnet-4-6
    api_key: ${ANTHROPIC_API_KEY}
    timeout: 120
    retry: {max_attempts: 5}
    fallbacks: [default]
"""


def test_quickstart_with_one_key_set_loads_the_other_profile_broken(tmp_path: Path) -> None:
    path = write(tmp_path / "profiles.yaml", QUICKSTART)
    store = ProfileStore(path, environ=env(tmp_path, OPENAI_API_KEY=SECRET))
    assert store.names() == ["default", "claude"]
    assert "claude" in store
    assert store.get().api_key == SECRET
    with pytest.raises(LLMConfigError) as info:
        store.get("claude")
    assert str(info.value) == (
        f"{path}: profile 'claude', field 'api_key': environment variable ANTHROPIC_API_KEY "
        "is not set; set it, or write ${ANTHROPIC_API_KEY:-default} to give a default"
    )
    assert "claude" in repr(store)


def test_default_profile_pointing_at_a_broken_profile(tmp_path: Path) -> None:
    store = ProfileStore(
        {
            "default_profile": "claude",
            "profiles": {
                "claude": {"provider": "anthropic", "api_key": "${NOPE}"},
                "gpt": {"provider": "openai"},
            },
        },
        environ=env(tmp_path),
    )
    assert store.default_profile == "claude"
    for name in (None, "default", "claude"):
        with pytest.raises(LLMConfigError, match=r"profile 'claude', field 'api_key'.*NOPE"):
            store.get(name)
    assert store.get("gpt").provider is Provider.OPENAI


def test_fallbacks_to_and_from_a_broken_profile(tmp_path: Path) -> None:
    store = mapping_store(
        {
            "a": {"provider": "openai", "fallbacks": ["bad"]},
            "bad": {"provider": "anthropic", "timeout": "soon", "fallbacks": ["a"]},
        },
        tmp_path,
    )
    assert store.get("a").fallbacks == ("bad",)  # a broken target exists: it fails when used
    message = load_error(
        {"bad": {"provider": "anthropic", "timeout": "soon", "fallbacks": ["ghost"]}}, tmp_path
    )
    assert "profile 'bad', field 'fallbacks[0]'" in message and "'ghost'" in message


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"profiles": ["a", "b"]}, "field 'profiles': expected a mapping"),
        ({"profiles": {"": {"provider": "openai"}}}, "names must be non-empty"),
        ({"profiles": {"a": {"provider": "x"}}, "default_profile": "b"}, "names no profile 'b'"),
        ({"profiles": {"a": {"provider": "x"}}, "default_profile": "${UNSET}"}, "UNSET"),
        ({"profiles": {"a": {"provider": "x"}}, "profile": {}}, "did you mean 'profiles'"),
        (["profiles"], "expected a mapping"),
    ],
)
def test_document_problems_still_fail_the_whole_load(
    tmp_path: Path, doc: Any, expected: str
) -> None:
    path = write(tmp_path / "p.yaml", yaml.safe_dump(doc))
    with pytest.raises(LLMConfigError, match=re.escape(expected)):
        ProfileStore(path, environ=env(tmp_path))


def test_a_runtime_update_repairs_a_broken_profile(tmp_path: Path) -> None:
    path = write(tmp_path / "profiles.yaml", QUICKSTART)
    store = ProfileStore(path, environ=env(tmp_path, OPENAI_API_KEY="k"))
    with pytest.raises(LLMConfigError, match=r"field 'api_key'.*ANTHROPIC_API_KEY"):
        store.update("claude", model="claude-haiku-4-5")  # not the broken field
    with pytest.raises(LLMConfigError, match=r"runtime: profile 'claude', field 'timeout'"):
        store.update("claude", api_key=SECRET, timeout=-1)  # a bad fix is the caller's error
    repaired = store.update("claude", api_key=SECRET)
    assert repaired.api_key == SECRET and repaired.provider is Provider.ANTHROPIC
    # The rest of the profile is as written in the file.
    assert (repaired.model, repaired.timeout, repaired.fallbacks) == (
        "claude-sonnet-4-6",
        120,
        ("default",),
    )
    assert repaired.retry == RetrySettings(max_attempts=5) and repaired.source == "runtime"
    assert store.get("claude") is repaired
    assert store.update("claude", api_key=SECRET) is repaired  # now a healthy profile
    store.reload()  # runtime changes are discarded: broken again
    with pytest.raises(LLMConfigError, match=r"ANTHROPIC_API_KEY"):
        store.get("claude")


def test_an_update_reads_the_variables_again(tmp_path: Path) -> None:
    environ = env(tmp_path)
    store = ProfileStore(
        {"profiles": {"c": {"provider": "anthropic", "api_key": "${LATER}"}}}, environ=environ
    )
    with pytest.raises(LLMConfigError, match=r"LATER is not set"):
        store.update("c")
    environ["LATER"] = SECRET
    assert store.update("c").api_key == SECRET


def test_repairing_a_nested_field_and_switching_provider(tmp_path: Path) -> None:
    store = mapping_store(
        {
            "r": {"provider": "openai", "retry": {"max_attempts": 0, "jitter": False}},
            "p": {"provider": "openai", "model": "gpt-x", "api_key": "${NOPE}", "timeout": 9},
            "m": "not a mapping",
        },
        tmp_path,
    )
    fixed = store.update("r", retry={"max_attempts": 2})
    assert fixed.retry == RetrySettings(max_attempts=2, jitter=False)
    # Switching provider drops the provider-bound fields as written, the broken key with them.
    switched = store.update("p", provider="ollama")
    assert (switched.provider, switched.model, switched.api_key, switched.timeout) == (
        Provider.OLLAMA,
        None,
        None,
        9,
    )
    with pytest.raises(LLMConfigError, match=r"profile 'm'.*mapping"):
        store.update("m", model="x")
    assert store.update("m", provider="google").provider is Provider.GOOGLE


def test_each_kind_of_profile_problem_leaves_the_others_usable(tmp_path: Path) -> None:
    store = mapping_store(
        {
            "unset": {"provider": "openai", "api_key": "${NOPE}"},
            "type": {"provider": "openai", "timeout": "slow"},
            "unknown": {"provider": "openai", "colour": "red"},
            "value": {"provider": "openia"},
            "missing": {"model": "m"},
            "shape": 42,
            "good": {"provider": "ollama", "fallbacks": ["unset"]},
        },
        tmp_path,
    )
    expected = {
        "unset": "field 'api_key'",
        "type": "field 'timeout'",
        "unknown": "field 'colour'",
        "value": "field 'provider'",
        "missing": "field 'provider'",
        "shape": "expected a mapping",
    }
    for name, text in expected.items():
        with pytest.raises(LLMConfigError) as info:
            store.get(name)
        assert str(info.value).startswith(f"<mapping>: profile {name!r}") and text in str(
            info.value
        )
    assert store.get("good").provider is Provider.OLLAMA
    assert store.names() == [*expected, "good"]


def test_quickstart_with_one_key_through_a_context(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quickstart's file with only OPENAI_API_KEY set: the OpenAI default works."""
    fakes = fake.profiles()["profiles"]
    doc = {
        "profiles": {
            "default": {**fakes["openai"], "api_key": "${OPENAI_API_KEY}", "fallbacks": ["claude"]},
            "claude": {**fakes["anthropic"], "api_key": "${ANTHROPIC_API_KEY}"},
        }
    }
    path = write(tmp_path / "profiles.yaml", yaml.safe_dump(doc))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with LLMContext(path) as ctx:
        fake.script(Reply("from openai"))
        assert ctx.llm().complete_sync("hi").text == "from openai"
        with pytest.raises(LLMConfigError, match=r"profile 'claude', field 'api_key'.*ANTHROPIC"):
            ctx.llm("claude")
        assert fake.pending == 0 and len(fake.requests) == 1
        # A broken fallback is skipped like one without a key; the primary's error is raised.
        fake.script(*[Fault(500)] * 3)
        with pytest.raises(LLMServerError) as info:
            ctx.llm().complete_sync("hi")
        (skipped,) = info.value.fallback_errors  # type: ignore[attr-defined]
        assert isinstance(skipped, LLMConfigError) and "ANTHROPIC_API_KEY" in str(skipped)
        # The documented fix at runtime: pass the key.
        fake.script(Reply("from claude"))
        claude = ctx.llm("claude", api_key="sk-ant-runtime-key-0123456789")
        assert claude.complete_sync("hi").text == "from claude"
        sent = fake.last_request.headers.values()
        assert any(value.endswith("sk-ant-runtime-key-0123456789") for value in sent)
        assert ctx.llm("claude") is claude


# ---------------------------------------------------------------------------- environment only


@pytest.mark.parametrize(
    ("environ", "provider"),
    [
        ({"OPENAI_API_KEY": "k"}, Provider.OPENAI),
        ({"ANTHROPIC_API_KEY": "k"}, Provider.ANTHROPIC),
        ({"GEMINI_API_KEY": "k"}, Provider.GOOGLE),
        ({"GOOGLE_API_KEY": "k"}, Provider.GOOGLE),
        (
            {"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.example"},
            Provider.AZURE,
        ),
        ({"OPENROUTER_API_KEY": "k"}, Provider.OPENROUTER),
        ({"OLLAMA_HOST": "localhost:11434"}, Provider.OLLAMA),
        ({"LMSTUDIO_BASE_URL": "http://localhost:1234/v1"}, Provider.LMSTUDIO),
    ],
)
def test_env_only_profile_per_provider(
    tmp_path: Path, environ: dict[str, str], provider: Provider
) -> None:
    store = ProfileStore(environ=env(tmp_path, **environ), cwd=tmp_path)
    assert store.path is None
    assert store.names() == ["default", provider.value]
    profile = store.get(provider.value)
    assert profile.provider is provider
    assert profile.source == "env"
    assert profile.api_key is None  # read from the environment at use time
    assert store.get() == dataclasses.replace(profile, name="default")


def test_env_only_needs_both_azure_vars(tmp_path: Path) -> None:
    store = ProfileStore(environ=env(tmp_path, AZURE_OPENAI_API_KEY="k"), cwd=tmp_path)
    assert store.names() == []
    store = ProfileStore(
        environ=env(
            tmp_path,
            AZURE_OPENAI_API_KEY="k",
            AZURE_OPENAI_ENDPOINT="https://r.example/",
            AZURE_OPENAI_DEPLOYMENT="dep",
            OPENAI_API_VERSION="2024-10-21",
        ),
        cwd=tmp_path,
    )
    azure = store.get("azure")
    assert (azure.azure_deployment, azure.api_version) == ("dep", "2024-10-21")


def test_env_only_default_is_first_in_order(tmp_path: Path) -> None:
    everything = {
        "LMSTUDIO_BASE_URL": "x",
        "OLLAMA_HOST": "x",
        "OPENROUTER_API_KEY": "k",
        "AZURE_OPENAI_API_KEY": "k",
        "AZURE_OPENAI_ENDPOINT": "https://r",
        "GEMINI_API_KEY": "k",
        "ANTHROPIC_API_KEY": "k",
        "OPENAI_API_KEY": "k",
    }
    store = ProfileStore(environ=env(tmp_path, **everything), cwd=tmp_path)
    assert store.names() == [
        "default",
        "openai",
        "anthropic",
        "google",
        "azure",
        "openrouter",
        "ollama",
        "lmstudio",
    ]
    assert store.get().provider is Provider.OPENAI
    del everything["OPENAI_API_KEY"]
    store = ProfileStore(environ=env(tmp_path, **everything), cwd=tmp_path)
    assert store.get().provider is Provider.ANTHROPIC
    assert store.default_profile == "default"


def test_env_only_key_rotation_is_seen_at_use_time(tmp_path: Path) -> None:
    environ = env(tmp_path, OPENAI_API_KEY="first")
    store = ProfileStore(environ=environ, cwd=tmp_path)
    profile = store.get()
    assert resolve_api_key(profile, environ) == "first"
    environ["OPENAI_API_KEY"] = "second"
    assert resolve_api_key(profile, environ) == "second"


def test_no_profiles_at_all_says_how_to_fix(tmp_path: Path) -> None:
    store = ProfileStore(environ=env(tmp_path), cwd=tmp_path)
    assert store.names() == []
    with pytest.raises(LLMConfigError) as info:
        store.get()
    assert "profiles.yaml" in str(info.value) and "OPENAI_API_KEY" in str(info.value)


def test_unknown_name_lists_known(tmp_path: Path) -> None:
    store = mapping_store({"a": {"provider": "openai"}, "b": {"provider": "openai"}}, tmp_path)
    with pytest.raises(LLMConfigError, match=r"'zzz'.*known profiles: a, b"):
        store.get("zzz")
    assert "a" in store and "zzz" not in store


# ---------------------------------------------------------------------------- runtime changes


def test_update_existing_profile(tmp_path: Path) -> None:
    store = mapping_store(
        {"a": {"provider": "openai", "model": "m1", "timeout": 5, "retry": {"max_wait_s": 9}}},
        tmp_path,
    )
    before = store.get("a")
    after = store.update("a", model="m2", retry={"max_attempts": 6}, headers={"X": "y"})
    assert after is store.get("a")
    assert after.model == "m2"
    assert after.timeout == 5.0  # untouched
    assert after.retry == RetrySettings(max_attempts=6, max_wait_s=9.0)  # merged
    assert after.headers == {"X": "y"}
    assert after.source == "runtime"
    assert before.model == "m1"  # the old snapshot is unchanged
    assert store.update("a", model=None).model == "m2"  # None leaves a field alone


def test_update_creates_with_provider_only(tmp_path: Path) -> None:
    store = mapping_store({"a": {"provider": "openai"}}, tmp_path)
    with pytest.raises(LLMConfigError, match=r"'new'.*provider="):
        store.update("new", model="x")
    created = store.update("new", provider="anthropic", model="claude-x", timeout=9)
    assert created == Profile(
        name="new", provider=Provider.ANTHROPIC, model="claude-x", timeout=9.0, source="runtime"
    )
    assert store.names() == ["a", "new"]


def test_update_into_empty_store_becomes_default(tmp_path: Path) -> None:
    store = ProfileStore(environ=env(tmp_path), cwd=tmp_path)
    store.update("mine", provider=Provider.OLLAMA, model="llama3.2")
    assert store.default_profile == "mine"
    assert store.get().model == "llama3.2"


def test_update_validates_like_files(tmp_path: Path) -> None:
    store = mapping_store({"a": {"provider": "openai"}}, tmp_path)
    with pytest.raises(LLMConfigError, match=r"runtime: profile 'a', field 'timeout'.*> 0"):
        store.update("a", timeout=-1)
    with pytest.raises(LLMConfigError, match=r"field 'colour'"):
        store.update("a", colour="blue")
    with pytest.raises(LLMConfigError, match=r"field 'provider'.*use one of"):
        store.update("a", provider="nope")
    with pytest.raises(LLMConfigError, match=r"fallbacks\[0\].*'ghost'"):
        store.update("a", fallbacks=["ghost"])
    with pytest.raises(LLMConfigError, match=r"itself"):
        store.update("a", fallbacks=["a"])
    assert store.get("a") == Profile(name="a", provider=Provider.OPENAI, source="mapping")


def test_provider_switch_resets_provider_bound_fields(tmp_path: Path) -> None:
    store = mapping_store(
        {
            "a": {
                "provider": "azure",
                "model": "m",
                "base_url": "https://r.example",
                "api_key": SECRET,
                "azure_deployment": "dep",
                "api_version": "2024-10-21",
                "timeout": 7,
                "rate_limit": {"rpm": 10},
                "extras": {"k": "v"},
            }
        },
        tmp_path,
    )
    switched = store.update("a", provider="ollama")
    assert switched.provider is Provider.OLLAMA
    assert (switched.model, switched.base_url, switched.api_key) == (None, None, None)
    assert (switched.azure_deployment, switched.api_version) == (None, None)
    assert switched.extras == {}
    assert switched.timeout == 7.0  # not provider-bound: kept
    assert switched.rate_limit.rpm == 10
    given = store.update("a", provider="openai", base_url="http://gw.example/v1", model="g")
    assert (given.base_url, given.model) == ("http://gw.example/v1", "g")
    same = store.update("a", provider="openai", timeout=3)
    assert same.base_url == "http://gw.example/v1"  # same provider: nothing reset


def test_update_default_alias_targets_default_profile(tmp_path: Path) -> None:
    store = ProfileStore(
        {"default_profile": "main", "profiles": {"main": {"provider": "openai"}}},
        environ=env(tmp_path),
    )
    store.update("default", model="tuned")
    assert store.names() == ["main"]
    assert store.get("main").model == "tuned"


def test_set_key(tmp_path: Path) -> None:
    store = ProfileStore(environ=env(tmp_path), cwd=tmp_path)
    profile = store.set_key("anthropic", "claude-sonnet-4-6", SECRET)
    assert profile.name == "default"
    assert (profile.provider, profile.model, profile.api_key) == (
        Provider.ANTHROPIC,
        "claude-sonnet-4-6",
        SECRET,
    )
    assert store.get() is profile
    other = store.set_key(Provider.OPENAI, "gpt-4.1", "other-key", profile="a")
    assert store.get("a") is other and other.provider is Provider.OPENAI
    assert resolve_api_key(store.get("a"), {}) == "other-key"
    assert SECRET not in repr(profile) and SECRET not in repr(store)


def test_reload_reads_the_file_again(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "profiles: {a: {provider: openai, model: one}}")
    store = ProfileStore(path, environ=env(tmp_path))
    store.update("a", model="runtime")
    write(path, "profiles: {a: {provider: openai, model: two}}")
    store.reload()
    assert store.get("a").model == "two"


def test_profile_mappings_are_read_only(tmp_path: Path) -> None:
    store = mapping_store({"a": {"provider": "openai", "headers": {"X": "1"}}}, tmp_path)
    headers: Any = store.get("a").headers
    with pytest.raises(TypeError):
        headers["X"] = "2"


def test_concurrent_updates_and_reads_are_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variants = [
        {"provider": "openai", "model": "gpt-x", "base_url": "http://openai.local/v1"},
        {"provider": "anthropic", "model": "claude-x", "base_url": "http://anthropic.local"},
        {"provider": "ollama", "model": "llama-x", "base_url": "http://ollama.local/v1"},
    ]
    expected = {(Provider(v["provider"]), v["model"], v["base_url"]) for v in variants}
    store = mapping_store({"shared": variants[0]}, tmp_path)
    errors: list[str] = []
    stop = threading.Event()

    def writer(offset: int) -> None:
        for i in range(60):
            store.update("shared", **variants[(i + offset) % len(variants)])
            store.update(f"w{offset}-{i % 5}", provider="openai", model=str(i))

    def reader() -> None:
        while not stop.is_set():
            p = store.get("shared")
            if (p.provider, p.model, p.base_url) not in expected:
                errors.append(repr(p))
            store.names()
            time.sleep(0)  # yield, so writers get the GIL and the test stays fast

    # Slow validation down so an unlocked read-modify-write would lose updates every time.
    real_check = profiles_module._check_fields

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.0001)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(profiles_module, "_check_fields", slow_check)
    readers = [threading.Thread(target=reader) for _ in range(4)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    # Every writer's profiles survived: no update was lost to a race.
    assert {f"w{n}-{k}" for n in range(6) for k in range(5)} <= set(store.names())


# ---------------------------------------------------------------------------- secrets


def test_no_secret_in_repr(tmp_path: Path) -> None:
    store = mapping_store(
        {
            "a": {
                "provider": "openai",
                "api_key": "${KEY}",
                "headers": {"Authorization": "Bearer ${KEY}", "X-Api-Key": "${KEY}"},
            }
        },
        tmp_path,
        KEY=SECRET,
    )
    profile = store.get("a")
    assert profile.headers["Authorization"] == f"Bearer {SECRET}"
    for text in (repr(profile), str(profile), repr(store), repr(profile.headers)):
        assert SECRET not in text


@pytest.mark.parametrize(
    "fields",
    [
        {"provider": "${KEY}"},
        {"provider": "openai", "timeout": "${KEY}"},
        {"provider": "openai", "retry": {"jitter": "${KEY}"}},
        {"provider": "openai", "model": "${KEY", "api_key": "${KEY}"},
        {"provider": "openai", "api_key": "${KEY}", "fallbacks": ["nope"]},
        {"provider": "openai", "api_key": "${KEY}", "headers": {"A": 1}},
        {"provider": "openai", "api_key": "${KEY}", "colour": "${KEY}"},
    ],
)
def test_no_secret_in_error_messages(tmp_path: Path, fields: dict[str, Any]) -> None:
    if fields.get("fallbacks") == ["nope"]:
        message = load_error({"a": fields}, tmp_path, KEY=SECRET)  # a missing target: fatal
    else:
        message = config_error({"a": fields}, tmp_path, KEY=SECRET)
    assert "profile 'a'" in message
    assert SECRET not in message


def test_no_secret_in_a_broken_profile(tmp_path: Path) -> None:
    literal = {"provider": "openai", "api_key": SECRET, "headers": {"X-Key": SECRET}, "x": 1}
    store = mapping_store(
        {"a": literal, "b": {"provider": "openai", "api_key": "${NOPE}"}}, tmp_path
    )
    for name in ("a", "b"):
        with pytest.raises(LLMConfigError) as info:
            store.get(name)
        assert SECRET not in str(info.value)
    assert SECRET not in repr(store) + repr(store._state)
    with pytest.raises(LLMConfigError) as info:
        store.update("a", model="m")  # still broken: the same error, still no value
    assert SECRET not in str(info.value) and "field 'x'" in str(info.value)


def test_unknown_provider_echoes_only_a_literal_value(tmp_path: Path) -> None:
    names = "use one of: openai, azure, anthropic, google, openrouter, lmstudio, ollama"
    literal = config_error({"a": {"provider": "gpt"}}, tmp_path)
    assert literal.endswith(f"field 'provider': unknown provider 'gpt'; {names}")
    from_env = config_error({"a": {"provider": "${KEY}"}}, tmp_path, KEY="gpt")
    assert from_env.endswith(f"field 'provider': unknown provider (string); {names}")
    assert "unknown provider (null)" in config_error({"a": {"provider": None}}, tmp_path)


def test_missing_key_message_names_env_var_only(tmp_path: Path) -> None:
    profile = Profile(name="c", provider=Provider.ANTHROPIC)
    with pytest.raises(LLMConfigError) as info:
        resolve_api_key(profile, {"OPENAI_API_KEY": SECRET})
    assert str(info.value) == (
        "profile 'c' (provider anthropic) has no API key: "
        "set ANTHROPIC_API_KEY or add api_key to the profile"
    )
    with pytest.raises(LLMConfigError, match=r"GEMINI_API_KEY.*GOOGLE_API_KEY"):
        resolve_api_key(Profile(name="g", provider=Provider.GOOGLE), {})


# ---------------------------------------------------------------------------- resolution


def test_resolve_api_key_order() -> None:
    openai = Profile(name="o", provider=Provider.OPENAI, api_key="from-profile")
    assert resolve_api_key(openai, {"OPENAI_API_KEY": "from-env"}) == "from-profile"
    bare = Profile(name="o", provider=Provider.OPENAI)
    assert resolve_api_key(bare, {"OPENAI_API_KEY": " from-env\n"}) == "from-env"
    google = Profile(name="g", provider=Provider.GOOGLE)
    assert resolve_api_key(google, {"GOOGLE_API_KEY": "g2"}) == "g2"
    assert resolve_api_key(google, {"GEMINI_API_KEY": "g1", "GOOGLE_API_KEY": "g2"}) == "g1"
    local = Profile(name="l", provider=Provider.OLLAMA)
    assert resolve_api_key(local, {}) is None  # no key needed


def test_resolve_base_url() -> None:
    openai = Profile(name="o", provider=Provider.OPENAI)
    assert resolve_base_url(openai, {}) == "https://api.openai.com/v1"
    assert resolve_base_url(openai, {"OPENAI_BASE_URL": "http://gw/v1/"}) == "http://gw/v1"
    custom = Profile(name="o", provider=Provider.OPENAI, base_url="http://mine/v1//")
    assert resolve_base_url(custom, {"OPENAI_BASE_URL": "http://gw/v1"}) == "http://mine/v1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:11434", "http://localhost:11434/v1"),
        ("10.0.0.5:9999", "http://10.0.0.5:9999/v1"),
        ("gpu-box", "http://gpu-box:11434/v1"),
        ("http://gpu-box:11434", "http://gpu-box:11434/v1"),
        ("http://gpu-box:11434/", "http://gpu-box:11434/v1"),
        ("https://proxy.example/ollama/v1/", "https://proxy.example/ollama/v1"),
    ],
)
def test_resolve_base_url_ollama_host(value: str, expected: str) -> None:
    profile = Profile(name="l", provider=Provider.OLLAMA)
    assert resolve_base_url(profile, {"OLLAMA_HOST": value}) == expected
    assert resolve_base_url(Profile(name="l", provider=Provider.OLLAMA, base_url=value), {}) == (
        expected
    )


def test_resolve_base_url_local_defaults_and_lmstudio() -> None:
    assert resolve_base_url(Profile(name="l", provider=Provider.OLLAMA), {}) == (
        "http://localhost:11434/v1"
    )
    lm = Profile(name="s", provider=Provider.LMSTUDIO)
    assert resolve_base_url(lm, {}) == "http://localhost:1234/v1"
    assert resolve_base_url(lm, {"LMSTUDIO_BASE_URL": "http://box:1234"}) == "http://box:1234/v1"
    assert resolve_base_url(lm, {"LMSTUDIO_BASE_URL": "box"}) == "http://box:1234/v1"


def test_resolve_base_url_bad_port_is_a_config_error() -> None:
    with pytest.raises(LLMConfigError, match=r"port"):
        resolve_base_url(Profile(name="l", provider=Provider.OLLAMA, base_url="host:99999999"), {})


def test_resolve_base_url_azure_needs_endpoint() -> None:
    azure = Profile(name="az", provider=Provider.AZURE)
    with pytest.raises(LLMConfigError, match=r"AZURE_OPENAI_ENDPOINT"):
        resolve_base_url(azure, {})
    endpoint = {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/"}
    assert resolve_base_url(azure, endpoint) == "https://r.openai.azure.com"


def test_resolve_model_defaults_from_registry() -> None:
    openai = Profile(name="o", provider=Provider.OPENAI)
    assert resolve_model(openai) == "gpt-4.1-mini"
    assert resolve_model(openai, "embed") == "text-embedding-3-small"
    assert resolve_model(openai, "image") == "gpt-image-1"
    tuned = Profile(name="o", provider=Provider.OPENAI, model="m", embed_model="e", image_model="i")
    assert [resolve_model(tuned, k) for k in ("chat", "embed", "image")] == ["m", "e", "i"]
    with pytest.raises(LLMConfigError, match=r"anthropic has no default embed model.*embed_model"):
        resolve_model(Profile(name="c", provider=Provider.ANTHROPIC), "embed")


def test_resolve_model_azure_deployment() -> None:
    azure = Profile(name="az", provider=Provider.AZURE)
    with pytest.raises(LLMConfigError, match=r"AZURE_OPENAI_DEPLOYMENT"):
        resolve_model(azure, environ={})
    assert resolve_model(azure, environ={"AZURE_OPENAI_DEPLOYMENT": "env-dep"}) == "env-dep"
    deployed = Profile(name="az", provider=Provider.AZURE, azure_deployment="dep")
    assert resolve_model(deployed, environ={"AZURE_OPENAI_DEPLOYMENT": "env-dep"}) == "dep"
    named = Profile(name="az", provider=Provider.AZURE, model="m", azure_deployment="dep")
    assert resolve_model(named, environ={}) == "m"


@pytest.mark.parametrize("provider", [Provider.OLLAMA, Provider.LMSTUDIO])
def test_resolve_model_local_needs_a_model(provider: Provider) -> None:
    with pytest.raises(LLMConfigError) as info:
        resolve_model(Profile(name="l", provider=provider), environ={})
    message = str(info.value)
    assert f"provider {provider.value} has no default chat model" in message
    assert "set model:" in message and "llama3.2" in message


# ---------------------------------------------------------------------------- the shipped example


def test_example_file_loads(tmp_path: Path) -> None:
    path = REPO / "profiles.example.yaml"
    environ = env(
        tmp_path,
        OPENAI_API_KEY=SECRET,
        ANTHROPIC_API_KEY="ak",
        GOOGLE_API_KEY="gk",
        AZURE_OPENAI_API_KEY="zk",
        AZURE_OPENAI_ENDPOINT="https://r.openai.azure.com",
        OPENROUTER_API_KEY="ok",
    )
    store = ProfileStore(path, environ=environ)
    profiles = [store.get(name) for name in store.names()]
    assert {p.provider for p in profiles} == set(Provider)
    assert store.get().api_key == SECRET
    for profile in profiles:  # every profile is usable as shipped
        resolve_base_url(profile, environ)
        resolve_model(profile, environ=environ)
        resolve_api_key(profile, environ)
    assert resolve_base_url(store.get("local"), environ) == "http://localhost:11434/v1"


def test_example_file_documents_every_field() -> None:
    text = (REPO / "profiles.example.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*([a-z_]+):", text, re.MULTILINE))
    documented |= set(re.findall(r"[{,]\s*([a-z_]+):", text))
    wanted = {f.name for f in fields(Profile)} - {"name", "source"}
    for settings in (RetrySettings, RateLimitSettings, Pricing):
        wanted |= {f.name for f in fields(settings)}
    assert wanted <= documented, f"not in the example: {sorted(wanted - documented)}"


def test_scaling_fields_parse_and_the_backend_url_never_shows(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(
        "profiles:\n"
        "  a:\n"
        "    provider: openai\n"
        "    rate_limit: {rpm: 600, group: org, backend: 'redis://:s3cret@cache:6379/0',\n"
        "                 lease_ttl_s: 15, on_backend_error: local}\n"
        "    breaker: {failures: 3}\n"
        "    fallback_on: [rate_limit, context_length, rate_limit]\n"
        "  b: {provider: openai, breaker: null, rate_limit: {backend: 'http://x'}}\n"
        "  c: {provider: openai, fallback_on: [teapot]}\n",
        encoding="utf-8",
    )
    store = ProfileStore(path, environ={"OPENAI_API_KEY": "k"})
    a = store.get("a")
    assert a.rate_limit.backend == "redis://:s3cret@cache:6379/0"
    assert (a.rate_limit.lease_ttl_s, a.rate_limit.on_backend_error) == (15, "local")
    assert a.breaker is not None and (a.breaker.failures, a.breaker.window_s) == (3, 30.0)
    assert a.fallback_on == ("rate_limit", "context_length")
    assert "s3cret" not in repr(a) and "s3cret" not in str(a.rate_limit.shown_backend)
    with pytest.raises(LLMConfigError, match=r"rate_limit\.backend.*redis://"):
        store.get("b")
    with pytest.raises(LLMConfigError, match="unknown reason"):
        store.get("c")
