"""`llm-context profiles list|show|check`: what is configured, from where, and what is missing.

Keys are only ever shown masked (`settings.mask_key`); nothing here touches the network.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ..config.profiles import (
    PROFILES_ENV,
    ProfileStore,
    resolve_api_key,
    resolve_base_url,
    resolve_model,
)
from ..config.settings import Profile, mask_key
from ..errors import LLMConfigError
from ..shown import sensitive_name, shown_url
from .common import say, warn

__all__ = ["add_parser"]

DESCRIPTION = """\
Inspect profiles without sending anything. Keys are shown masked.

  list          every profile: provider, model, key status and where it came from
                (! marks a profile with a problem; the problem follows the table)
  show NAME     one profile's resolved settings
  check [FILE]  validate the profiles file and report, per profile, invalid fields and
                missing keys, URLs and models; exit status 1 if any profile fails

Profiles come from --profiles FILE, $LLM_CONTEXT_PROFILES, ./profiles.yaml,
~/.config/llm_context/profiles.yaml, or else from provider environment variables.
"""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `profiles list|show|check` on the command parser."""
    parser = commands.add_parser(
        "profiles",
        help="list, show and check profiles (keys masked)",
        description=DESCRIPTION,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every profile, one per line", parents=[common])
    listing.set_defaults(run=run_list)
    show = actions.add_parser("show", help="one profile's resolved settings", parents=[common])
    show.add_argument("name", nargs="?", help="the profile (default: the default profile)")
    show.set_defaults(run=run_show)
    check = actions.add_parser(
        "check", help="validate profiles; exit status 1 on a problem", parents=[common]
    )
    check.add_argument("file", nargs="?", help="a profiles YAML file (default: the usual search)")
    check.set_defaults(run=run_check)


def _store(args: argparse.Namespace) -> ProfileStore:
    return ProfileStore(getattr(args, "file", None) or getattr(args, "profiles", None))


def _origin(store: ProfileStore) -> str:
    if store.path is not None:
        return f"profiles from {store.path}"
    return "no profiles file found; profiles from the environment"


def key_status(profile: Profile) -> str:
    """The key as `set (…abcd)` plus where it comes from, or why it is missing."""
    try:
        key = resolve_api_key(profile)
    except LLMConfigError:
        return "MISSING"
    if key is None:
        return "not needed"
    if profile.api_key:
        return mask_key(key)
    env = next((name for name in profile.spec.key_env if os.environ.get(name) == key), None)
    return f"{mask_key(key)} from ${env}" if env else mask_key(key)


def _resolved(func: Callable[[], str]) -> str:
    try:
        return func()
    except LLMConfigError:
        return "-"


def _load(store: ProfileStore, name: str) -> Profile | LLMConfigError:
    """The profile, or the error it raises when used (a field in it failed validation)."""
    try:
        return store.get(name)
    except LLMConfigError as exc:
        return exc


def run_list(args: argparse.Namespace) -> int:
    store = _store(args)
    say(_origin(store))
    names = store.names()
    if not names:
        say(f"no profiles: create profiles.yaml, set {PROFILES_ENV}, or set a provider key")
        return 0
    rows = [("", "NAME", "PROVIDER", "MODEL", "KEY", "SOURCE")]
    problems: list[str] = []
    for name in names:
        default = "*" if name == store.default_profile else ""
        profile = _load(store, name)
        if isinstance(profile, LLMConfigError):
            problems.append(f"!  {name}: {profile}")
            rows.append((default + "!", name, "-", "-", "-", "-"))
            continue
        rows.append(
            (
                default,
                name,
                profile.provider.value,
                _resolved(lambda p=profile: resolve_model(p)),  # type: ignore[misc]
                key_status(profile),
                profile.source,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if problems:
        say("")
        for line in problems:
            say(line)
    return 0


def _masked_map(values: Any) -> str:
    if not values:
        return "-"
    shown = (f"{k}={'***' if sensitive_name(k) else v}" for k, v in dict(values).items())
    return ", ".join(shown)


def _settings(value: Any) -> str:
    if value is None:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in asdict(value).items() if v is not None) or "-"


def _base_url(profile: Profile) -> str:
    """The URL calls go to, credentials in it (user:pass@, ?key=) masked like every key here;
    a URL that cannot be used is shown as given (masked), marked."""
    try:
        return shown_url(resolve_base_url(profile))
    except LLMConfigError:
        given = profile.base_url
        return f"{shown_url(given)}  (unusable: run profiles check)" if given else "-"


def run_show(args: argparse.Namespace) -> int:
    store = _store(args)
    profile = store.get(args.name)
    default = " (default)" if profile.name == store.default_profile else ""
    fields = [
        ("profile", profile.name + default),
        ("provider", profile.provider.value),
        ("model", _resolved(lambda: resolve_model(profile))),
        ("embed_model", _resolved(lambda: resolve_model(profile, "embed"))),
        ("image_model", _resolved(lambda: resolve_model(profile, "image"))),
        ("base_url", _base_url(profile)),
        ("api_key", key_status(profile)),
        ("timeout", "-" if profile.timeout is None else f"{profile.timeout:g}s"),
        ("azure_deployment", profile.azure_deployment or "-"),
        ("api_version", profile.api_version or "-"),
        ("headers", ", ".join(profile.headers) or "-"),  # names only: values may be credentials
        ("retry", _settings(profile.retry)),
        ("rate_limit", _settings(profile.rate_limit)),
        ("fallbacks", ", ".join(profile.fallbacks) or "-"),
        ("pricing", _settings(profile.pricing)),
        ("repair_attempts", str(profile.repair_attempts)),
        ("extras", _masked_map(profile.extras)),
        ("source", profile.source),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        say(f"{name.ljust(width)}  {value}")
    return 0


def _problems(profile: Profile) -> list[str]:
    problems: list[str] = []
    checks: list[Callable[[Profile], object]] = [resolve_api_key, resolve_base_url, resolve_model]
    for check in checks:
        try:
            check(profile)
        except LLMConfigError as exc:
            problems.append(str(exc))
    return problems


def run_check(args: argparse.Namespace) -> int:
    store = _store(args)  # a malformed document raises LLMConfigError: one line, exit 1
    say(_origin(store))
    names = store.names()
    if not names:
        warn(f"no profiles: create profiles.yaml, set {PROFILES_ENV}, or set a provider key")
        return 1
    failed = 0
    for name in names:
        profile = _load(store, name)
        if isinstance(profile, LLMConfigError):
            failed += 1
            say(f"FAIL  {name}: {profile}")
            continue
        problems = _problems(profile)
        if problems:
            failed += 1
            for problem in problems:
                say(f"FAIL  {name}: {problem}")
        else:
            model = resolve_model(profile)
            say(f"ok    {name} ({profile.provider.value}, {model}, key {key_status(profile)})")
    if failed:
        say(f"{failed} of {len(names)} profiles have problems")
        return 1
    say(f"all {len(names)} profiles look usable (nothing was sent)")
    return 0
