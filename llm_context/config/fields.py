"""The profile field vocabulary: per-field checks and building a Profile (`${VAR}` is filled
in by `interpolate`, failures are `problems.Problem`s).

Everything here turns raw values (from YAML, a mapping or a runtime update) into validated
`Profile` keyword arguments. A failure is a `Problem` carrying the field path; callers add the
origin and profile name with `config_error`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

from ..errors import LLMConfigError
from ..providers.registry import Provider, parse_provider
from ..shown import sensitive_name, shown
from ..suggest import did_you_mean
from .interpolate import FromEnv, interpolate
from .problems import Problem, config_error
from .settings import (
    BreakerSettings,
    Pricing,
    Profile,
    RateLimitSettings,
    RetrySettings,
    TelemetrySettings,
)

__all__ = [
    "NESTED_FIELDS",
    "FrozenMap",
    "Problem",
    "build_profile",
    "check_fields",
    "config_error",
    "default_of",
    "interpolate",
    "missing_provider",
    "new_profile",
    "text_field",
    "type_name",
    "unknown_field",
]

T = TypeVar("T")
Check = Callable[[object], object]


# ---------------------------------------------------------------------------- read-only maps


class FrozenMap(Mapping[str, T]):
    """A read-only mapping whose repr masks values under secret-looking keys (`Authorization`)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, T] | None = None) -> None:
        self._data: dict[str, T] = dict(data or {})

    def __getitem__(self, key: str) -> T:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr({k: "***" if sensitive_name(k) else v for k, v in self._data.items()})


# ---------------------------------------------------------------------------- value checks


def type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def text_field(*, optional: bool = True) -> Check:
    """A string, stripped; empty means unset when optional."""

    def check(value: object) -> object:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise Problem(f"expected a string, got {type_name(value)}; quote the value")
        text = str(value).strip()
        if not text and not optional:
            raise Problem("must not be empty")
        return text or None

    return check


def _number(
    minimum: float, *, exclusive: bool = False, optional: bool = False, maximum: float = math.inf
) -> Check:
    bound = (f"> {minimum:g}" if exclusive else f">= {minimum:g}") + (
        f" and <= {maximum:g}" if maximum < math.inf else ""
    )

    def check(value: object) -> object:
        if value is None and optional:
            return None
        if isinstance(value, FromEnv):
            try:
                value = float(value)
            except ValueError:
                raise Problem("the environment value is not a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            null = " or null" if optional else ""
            raise Problem(f"expected a number {bound}{null}, got {type_name(value)}")
        low = value > minimum if exclusive else value >= minimum
        if not math.isfinite(value) or not low or value > maximum:
            raise Problem(f"must be a finite number {bound}")
        return float(value)

    return check


def _integer(minimum: int, *, optional: bool = False) -> Check:
    def check(value: object) -> object:
        if value is None and optional:
            return None
        if isinstance(value, FromEnv):
            try:
                value = int(value)
            except ValueError:
                raise Problem("the environment value is not a whole number") from None
        if isinstance(value, bool) or not isinstance(value, int):
            null = " or null" if optional else ""
            raise Problem(f"expected a whole number >= {minimum}{null}, got {type_name(value)}")
        if value < minimum:
            raise Problem(f"must be a whole number >= {minimum}")
        return value

    return check


def _choice(*values: str) -> Check:
    def check(value: object) -> object:
        if value is False and "off" in values:  # YAML 1.1 reads a bare `off` as false
            return "off"
        if not isinstance(value, str) or value.strip().lower() not in values:
            raise Problem(f"must be one of {', '.join(values)}, got {shown(value)}")
        return value.strip().lower()

    return check


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _boolean(value: object) -> object:
    if isinstance(value, FromEnv) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if not isinstance(value, bool):
        raise Problem(f"expected true or false, got {type_name(value)}")
    return value


def _provider(value: object) -> object:
    # Only a literal string is echoed: an interpolated `${VAR}` value may be a secret.
    shown = isinstance(value, str) and not isinstance(value, FromEnv)
    try:
        return parse_provider(value, show_value=shown)
    except LLMConfigError as exc:
        raise Problem(str(exc)) from None


def _string_map(value: object) -> object:
    """headers: a mapping of string to string."""
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping):
        raise Problem(f"expected a mapping of name: value, got {type_name(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise Problem("header names must be non-empty strings")
        if not isinstance(item, str):
            raise Problem(f"expected a string, got {type_name(item)}; quote the value", key)
        out[key.strip()] = str(item)
    return FrozenMap(out)


def _extras(value: object) -> object:
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise Problem(f"expected a mapping with string keys, got {type_name(value)}")
    # An empty string (often an unset `${VAR:-}`) means "not set", like the other fields.
    return FrozenMap({k: _blank_to_none(v) for k, v in value.items()})


def _blank_to_none(value: object) -> object:
    if isinstance(value, str):
        return str(value).strip() or None
    return value


def _name_list(value: object) -> object:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise Problem(f"expected a list of profile names, got {type_name(value)}")
    names: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise Problem("expected a profile name (a non-empty string)", f"[{index}]")
        if item.strip() not in names:
            names.append(item.strip())
    return tuple(names)


FALLBACK_REASONS = ("rate_limit", "overloaded", "server", "timeout", "context_length")


def _fallback_on(value: object) -> object:
    """A list of error kinds that move to the fallbacks at once."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise Problem(f"expected a list of {', '.join(FALLBACK_REASONS)}, got {type_name(value)}")
    reasons = []
    for item in value:
        if item not in FALLBACK_REASONS:
            raise Problem(f"unknown reason {shown(item)}; use {', '.join(FALLBACK_REASONS)}")
        reasons.append(item)
    return tuple(dict.fromkeys(reasons))


def _backend_url(value: object) -> object:
    """A `redis://` (or `rediss://`, `unix://`) URL; the value is never echoed (a password)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # unset (an empty ${VAR:-}): no shared backend
    if not isinstance(value, str):
        raise Problem(f"expected a redis:// URL, got {type_name(value)}")
    url = value.strip()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise Problem("expected a URL starting with redis://, rediss:// or unix://")
    return url


def unknown_field(key: object, valid: Mapping[str, object]) -> Problem:
    hint = did_you_mean(str(key), valid)
    hint = f" ({hint})" if hint else ""
    return Problem(f"unknown field{hint}; valid fields: {', '.join(valid)}", str(key))


def _settings(cls: type[T], checks: Mapping[str, Check]) -> Callable[[object, T | None], T]:
    """A check for a nested settings block: a mapping merged onto `base`, or an instance."""

    def check(value: object, current: T | None) -> T:
        base = current if current is not None else cls()
        if isinstance(value, cls):
            return value
        if value is None:
            return base
        if not isinstance(value, Mapping):
            raise Problem(f"expected a mapping with {', '.join(checks)}, got {type_name(value)}")
        changes: dict[str, object] = {}
        for key, item in value.items():
            if key not in checks:
                raise unknown_field(key, checks)
            try:
                changes[key] = checks[key](item)
            except Problem as exc:
                raise exc.under(key) from None
        return replace(base, **changes)  # type: ignore[type-var]

    return check


retry_block = _settings(
    RetrySettings,
    {
        "max_attempts": _integer(1),
        "max_wait_s": _number(0),
        "initial_backoff_s": _number(0),
        "max_backoff_s": _number(0),
        "jitter": _boolean,
    },
)
_rate_limit = _settings(
    RateLimitSettings,
    {
        "rpm": _integer(1, optional=True),
        "tpm": _integer(1, optional=True),
        "max_concurrency": _integer(1, optional=True),
        "group": text_field(),
        "backend": _backend_url,
        "lease_ttl_s": _number(0, exclusive=True),
        "on_backend_error": _choice("wait", "local", "fail"),
    },
)
_breaker_block = _settings(
    BreakerSettings,
    {
        "failures": _integer(1),
        "window_s": _number(0, exclusive=True),
        "cooldown_s": _number(0, exclusive=True),
    },
)


def _breaker(value: object, current: BreakerSettings | None) -> BreakerSettings | None:
    """`breaker: {...}` (merged onto the defaults), or null / false for none."""
    if value is None or value is False:
        return None
    if value is True:
        return current or BreakerSettings()
    return _breaker_block(value, current)


_pricing = _settings(
    Pricing,
    {
        "input_per_million": _number(0),
        "output_per_million": _number(0),
        "cached_input_per_million": _number(0, optional=True),
        "cache_write_per_million": _number(0, optional=True),
        "batch_discount": _number(0, maximum=1),
    },
)

_telemetry = _settings(TelemetrySettings, {"capture_content": _boolean})

# Plain fields: a check per field. Nested settings merge onto the current value instead.
_FIELD_CHECKS: Mapping[str, Check] = {
    "provider": _provider,
    "model": text_field(),
    "base_url": text_field(),
    "api_key": text_field(),
    "timeout": _number(0, exclusive=True, optional=True),
    "azure_deployment": text_field(),
    "api_version": text_field(),
    "embed_model": text_field(),
    "image_model": text_field(),
    "headers": _string_map,
    "fallbacks": _name_list,
    "repair_attempts": _integer(0),
    "cache": _choice("off", "auto"),
    "fallback_on": _fallback_on,
    "extras": _extras,
}
_NESTED: Mapping[str, Callable[[object, Any], Any]] = {
    "retry": retry_block,
    "rate_limit": _rate_limit,
    "breaker": _breaker,
    "pricing": _pricing,
    "telemetry": _telemetry,
}
NESTED_FIELDS = frozenset(_NESTED)
_ALL_FIELDS: Mapping[str, object] = {
    f.name: None for f in fields(Profile) if f.name not in ("name", "source")
}


def check_fields(
    raw: Mapping[Any, object],
    base: Profile | Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validated Profile keyword arguments for the fields in `raw` (interpolated if `environ`).

    Nested blocks (`retry`, ...) merge onto `base`'s: a Profile or checked keyword arguments.
    """
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _ALL_FIELDS:
            raise unknown_field(key, _ALL_FIELDS)
        try:
            if environ is not None:
                value = interpolate(value, environ)
            if key in _NESTED:
                current = base.get(key) if isinstance(base, Mapping) else getattr(base, key, None)
                out[key] = _NESTED[key](value, current)
            else:
                out[key] = _FIELD_CHECKS[key](value)
        except Problem as exc:
            raise exc.under(key) from None
    return out


def default_of(field_name: str) -> Any:
    """A fresh default for a Profile field, mappings read-only."""
    spec = next(f for f in fields(Profile) if f.name == field_name)
    value = spec.default_factory() if callable(spec.default_factory) else spec.default
    return FrozenMap(value) if isinstance(value, Mapping) else value


def new_profile(name: str, source: str, values: Mapping[str, Any]) -> Profile:
    frozen = {"headers": FrozenMap(), "extras": FrozenMap(), **values}
    return Profile(name=name, source=source, **frozen)


def missing_provider() -> Problem:
    providers = ", ".join(p.value for p in Provider)
    return Problem(f"is required; set provider: to one of {providers}", "provider")


def build_profile(
    name: str, raw: object, origin: str, source: str, environ: Mapping[str, str]
) -> Profile:
    try:
        if not isinstance(raw, Mapping):
            raise Problem(f"expected a mapping of fields with provider:, got {type_name(raw)}")
        values = check_fields(raw, None, environ)
        if "provider" not in values:
            raise missing_provider()
    except Problem as exc:
        raise config_error(origin, name, exc) from None
    return new_profile(name, source, values)
