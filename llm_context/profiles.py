"""Named profiles: loaded from YAML, a mapping or the environment; validated; updated at runtime.

`ProfileStore` owns the profiles of one context. Mutations swap an immutable snapshot under a
lock, so readers never lock and never see a half-updated profile. Keys, base URLs and models are
resolved when an adapter is built (`resolve_api_key`, `resolve_base_url`, `resolve_model`), so
a rotated environment variable takes effect without reloading.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml

from .errors import LLMConfigError
from .providers.registry import Provider, ProviderSpec, spec_for
from .settings import Pricing, Profile, RateLimitSettings, RetrySettings

__all__ = [
    "Profile",
    "ProfileStore",
    "resolve_api_key",
    "resolve_base_url",
    "resolve_model",
]

PROFILES_ENV = "LLM_CONTEXT_PROFILES"
FILE_NAME = "profiles.yaml"
DEFAULT_NAME = "default"

# Order in which providers are looked for when profiles come from the environment alone.
_ENV_ORDER = (
    Provider.OPENAI,
    Provider.ANTHROPIC,
    Provider.GOOGLE,
    Provider.AZURE,
    Provider.OPENROUTER,
    Provider.OLLAMA,
    Provider.LMSTUDIO,
)
# Azure names its models by deployment; these env vars fill the deployment and API version.
_DEPLOYMENT_ENV: Mapping[Provider, str] = {Provider.AZURE: "AZURE_OPENAI_DEPLOYMENT"}
_API_VERSION_ENV: Mapping[Provider, str] = {Provider.AZURE: "OPENAI_API_VERSION"}
# Fields that belong to one provider: cleared when a runtime update switches provider.
_PROVIDER_BOUND = (
    "model",
    "base_url",
    "api_key",
    "azure_deployment",
    "api_version",
    "embed_model",
    "image_model",
    "extras",
    "pricing",
)
_SENSITIVE_HINTS = ("auth", "key", "token", "secret", "password", "cookie")

ModelKind = Literal["chat", "embed", "image"]
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
        shown = {
            k: "***" if any(h in k.lower() for h in _SENSITIVE_HINTS) else v
            for k, v in self._data.items()
        }
        return repr(shown)


# ---------------------------------------------------------------------------- problems


class _Problem(Exception):
    """A validation failure inside one field; the caller adds file and profile."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def under(self, prefix: str) -> _Problem:
        sep = "" if not self.path or self.path.startswith("[") else "."
        return _Problem(self.message, f"{prefix}{sep}{self.path}" if self.path else prefix)


def _config_error(origin: str, profile: str | None, problem: _Problem) -> LLMConfigError:
    where = f"{origin}: profile {profile!r}" if profile is not None else origin
    field = f", field {problem.path!r}" if problem.path else ""
    return LLMConfigError(f"{where}{field}: {problem.message}")


# ---------------------------------------------------------------------------- interpolation


class _FromEnv(str):
    """A string that came out of `${VAR}` interpolation: numeric fields may parse it."""

    __slots__ = ()


_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-([^{}]*))?")


def _interpolate_text(text: str, environ: Mapping[str, str]) -> str:
    """`text` with `${VAR}` / `${VAR:-default}` replaced; `$${` is a literal `${`."""
    out: list[str] = []
    pos, substituted = 0, False
    while (start := text.find("$", pos)) >= 0:
        out.append(text[pos:start])
        if text.startswith("$${", start):
            out.append("${")
            pos = start + 3
            continue
        if not text.startswith("${", start):
            out.append("$")
            pos = start + 1
            continue
        end = text.find("}", start + 2)
        match = _REF.fullmatch(text, start + 2, end) if end >= 0 else None
        if match is None:
            # The reference itself is never echoed: a default may hold a literal secret.
            raise _Problem(
                f"malformed ${{...}} reference at character {start + 1}; "
                "write ${NAME} or ${NAME:-default} (and $${ for a literal ${)"
            )
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (default is not None and value == ""):
            if default is None:
                raise _Problem(
                    f"environment variable {name} is not set; "
                    f"set it, or write ${{{name}:-default}} to give a default"
                )
            value = default
        out.append(value)
        pos, substituted = end + 1, True
    out.append(text[pos:])
    result = "".join(out)
    return _FromEnv(result) if substituted else result


def _interpolate(value: object, environ: Mapping[str, str]) -> object:
    """Interpolate every string inside `value` (mappings and lists included)."""
    if isinstance(value, str):
        return _interpolate_text(value, environ)
    if isinstance(value, Mapping):
        out: dict[object, object] = {}
        for key, item in value.items():
            try:
                out[key] = _interpolate(item, environ)
            except _Problem as exc:
                raise exc.under(str(key)) from None
        return out
    if isinstance(value, (list, tuple)):
        items: list[object] = []
        for index, item in enumerate(value):
            try:
                items.append(_interpolate(item, environ))
            except _Problem as exc:
                raise exc.under(f"[{index}]") from None
        return items
    return value


# ---------------------------------------------------------------------------- value checks


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _text(*, optional: bool = True) -> Check:
    """A string, stripped; empty means unset when optional."""

    def check(value: object) -> object:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise _Problem(f"expected a string, got {_type_name(value)}; quote the value")
        text = str(value).strip()
        if not text and not optional:
            raise _Problem("must not be empty")
        return text or None

    return check


def _number(minimum: float, *, exclusive: bool = False, optional: bool = False) -> Check:
    bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"

    def check(value: object) -> object:
        if value is None and optional:
            return None
        if isinstance(value, _FromEnv):
            try:
                value = float(value)
            except ValueError:
                raise _Problem("the environment value is not a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            null = " or null" if optional else ""
            raise _Problem(f"expected a number {bound}{null}, got {_type_name(value)}")
        if not math.isfinite(value) or value < minimum or (exclusive and value == minimum):
            raise _Problem(f"must be a finite number {bound}")
        return float(value)

    return check


def _integer(minimum: int, *, optional: bool = False) -> Check:
    def check(value: object) -> object:
        if value is None and optional:
            return None
        if isinstance(value, _FromEnv):
            try:
                value = int(value)
            except ValueError:
                raise _Problem("the environment value is not a whole number") from None
        if isinstance(value, bool) or not isinstance(value, int):
            null = " or null" if optional else ""
            raise _Problem(f"expected a whole number >= {minimum}{null}, got {_type_name(value)}")
        if value < minimum:
            raise _Problem(f"must be a whole number >= {minimum}")
        return value

    return check


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _boolean(value: object) -> object:
    if isinstance(value, _FromEnv) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if not isinstance(value, bool):
        raise _Problem(f"expected true or false, got {_type_name(value)}")
    return value


def _provider(value: object) -> object:
    if isinstance(value, Provider):
        return value
    if isinstance(value, str):
        try:
            return Provider(value.strip().lower())
        except ValueError:
            pass
    names = ", ".join(p.value for p in Provider)
    shown = repr(value) if isinstance(value, str) and not isinstance(value, _FromEnv) else ""
    got = f"unknown provider {shown}" if shown else f"unknown provider ({_type_name(value)})"
    raise _Problem(f"{got}; use one of: {names}")


def _string_map(value: object) -> object:
    """headers: a mapping of string to string."""
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping):
        raise _Problem(f"expected a mapping of name: value, got {_type_name(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise _Problem("header names must be non-empty strings")
        if not isinstance(item, str):
            raise _Problem(f"expected a string, got {_type_name(item)}; quote the value", key)
        out[key.strip()] = str(item)
    return FrozenMap(out)


def _extras(value: object) -> object:
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _Problem(f"expected a mapping with string keys, got {_type_name(value)}")
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
        raise _Problem(f"expected a list of profile names, got {_type_name(value)}")
    names: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _Problem("expected a profile name (a non-empty string)", f"[{index}]")
        if item.strip() not in names:
            names.append(item.strip())
    return tuple(names)


def _unknown(key: object, valid: Mapping[str, object]) -> _Problem:
    close = difflib.get_close_matches(str(key), list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return _Problem(f"unknown field{hint}; valid fields: {', '.join(valid)}", str(key))


def _settings(cls: type[T], checks: Mapping[str, Check]) -> Callable[[object, T | None], T]:
    """A check for a nested settings block: a mapping merged onto `base`, or an instance."""

    def check(value: object, current: T | None) -> T:
        base = current if current is not None else cls()
        if isinstance(value, cls):
            return value
        if value is None:
            return base
        if not isinstance(value, Mapping):
            raise _Problem(f"expected a mapping with {', '.join(checks)}, got {_type_name(value)}")
        changes: dict[str, object] = {}
        for key, item in value.items():
            if key not in checks:
                raise _unknown(key, checks)
            try:
                changes[key] = checks[key](item)
            except _Problem as exc:
                raise exc.under(key) from None
        return replace(base, **changes)  # type: ignore[type-var]

    return check


_retry = _settings(
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
        "group": _text(),
    },
)
_pricing = _settings(
    Pricing,
    {
        "input_per_million": _number(0),
        "output_per_million": _number(0),
        "cached_input_per_million": _number(0, optional=True),
    },
)

# Plain fields: a check per field. Nested settings merge onto the current value instead.
_FIELD_CHECKS: Mapping[str, Check] = {
    "provider": _provider,
    "model": _text(),
    "base_url": _text(),
    "api_key": _text(),
    "timeout": _number(0, exclusive=True, optional=True),
    "azure_deployment": _text(),
    "api_version": _text(),
    "embed_model": _text(),
    "image_model": _text(),
    "headers": _string_map,
    "fallbacks": _name_list,
    "repair_attempts": _integer(0),
    "extras": _extras,
}
_NESTED: Mapping[str, Callable[[object, Any], Any]] = {
    "retry": _retry,
    "rate_limit": _rate_limit,
    "pricing": _pricing,
}
_ALL_FIELDS: Mapping[str, object] = {
    f.name: None for f in fields(Profile) if f.name not in ("name", "source")
}


def _check_fields(
    raw: Mapping[Any, object], base: Profile | None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Validated Profile keyword arguments for the fields in `raw` (interpolated if `environ`)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _ALL_FIELDS:
            raise _unknown(key, _ALL_FIELDS)
        try:
            if environ is not None:
                value = _interpolate(value, environ)
            if key in _NESTED:
                out[key] = _NESTED[key](value, getattr(base, key, None))
            else:
                out[key] = _FIELD_CHECKS[key](value)
        except _Problem as exc:
            raise exc.under(key) from None
    return out


def _default_of(field_name: str) -> Any:
    """A fresh default for a Profile field, mappings read-only."""
    spec = next(f for f in fields(Profile) if f.name == field_name)
    value = spec.default_factory() if callable(spec.default_factory) else spec.default
    return FrozenMap(value) if isinstance(value, Mapping) else value


def _new_profile(name: str, source: str, values: Mapping[str, Any]) -> Profile:
    frozen = {"headers": FrozenMap(), "extras": FrozenMap(), **values}
    return Profile(name=name, source=source, **frozen)


# ---------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _State:
    """One immutable snapshot of a store: swapped whole, read without a lock."""

    profiles: Mapping[str, Profile]
    default_profile: str
    path: Path | None


def _build_profile(
    name: str, raw: object, origin: str, source: str, environ: Mapping[str, str]
) -> Profile:
    try:
        if not isinstance(raw, Mapping):
            raise _Problem(f"expected a mapping of fields with provider:, got {_type_name(raw)}")
        values = _check_fields(raw, None, environ)
        if "provider" not in values:
            providers = ", ".join(p.value for p in Provider)
            raise _Problem(f"is required; set provider: to one of {providers}", "provider")
    except _Problem as exc:
        raise _config_error(origin, name, exc) from None
    return _new_profile(name, source, values)


def _parse_document(
    doc: object, origin: str, source: str, environ: Mapping[str, str]
) -> tuple[dict[str, Profile], str]:
    """Profiles and the default profile name from a loaded document."""
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise LLMConfigError(
            f"{origin}: expected a mapping with default_profile: and profiles:, "
            f"got {_type_name(doc)}"
        )
    top = {"default_profile": None, "profiles": None}
    for key in doc:
        if key not in top:
            raise _config_error(origin, None, _unknown(key, top))
    raw_profiles = doc.get("profiles") or {}
    if not isinstance(raw_profiles, Mapping):
        raise _config_error(
            origin,
            None,
            _Problem(
                f"expected a mapping of name: profile, got {_type_name(raw_profiles)}", "profiles"
            ),
        )
    profiles: dict[str, Profile] = {}
    for name, raw in raw_profiles.items():
        if not isinstance(name, str) or not name.strip():
            raise _config_error(
                origin, None, _Problem("profile names must be non-empty strings", "profiles")
            )
        profiles[name] = _build_profile(name, raw, origin, source, environ)
    _check_fallbacks(profiles, origin)
    default = _default_name(doc.get("default_profile"), profiles, origin, environ)
    return profiles, default


def _default_name(
    raw: object, profiles: Mapping[str, Profile], origin: str, environ: Mapping[str, str]
) -> str:
    if raw is None:
        return DEFAULT_NAME if DEFAULT_NAME in profiles or not profiles else next(iter(profiles))
    try:
        name = _text(optional=False)(_interpolate(raw, environ))
    except _Problem as exc:
        raise _config_error(origin, None, exc.under("default_profile")) from None
    if profiles and name not in profiles:
        raise _config_error(
            origin,
            None,
            _Problem(
                f"names no profile {name!r}; use one of: {', '.join(profiles)}", "default_profile"
            ),
        )
    return str(name)


def _check_fallbacks(profiles: Mapping[str, Profile], origin: str) -> None:
    for profile in profiles.values():
        _check_profile_fallbacks(profile, profiles, origin)


def _check_profile_fallbacks(
    profile: Profile, profiles: Mapping[str, Profile], origin: str
) -> None:
    for index, target in enumerate(profile.fallbacks):
        if target == profile.name:
            problem = _Problem("a profile cannot fall back to itself; remove it from the list")
        elif target not in profiles:
            problem = _Problem(f"no profile named {target!r}; known: {', '.join(profiles)}")
        else:
            continue
        raise _config_error(origin, profile.name, problem.under(f"fallbacks[{index}]"))


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LLMConfigError(f"{path}: cannot read profiles file ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the position and the parser's own words: the offending line may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise LLMConfigError(f"{where}: YAML syntax error: {problem}") from None


def _find_file(environ: Mapping[str, str], cwd: Path) -> Path | None:
    """The profiles file: $LLM_CONTEXT_PROFILES (must exist), ./profiles.yaml, the config dir."""
    explicit = environ.get(PROFILES_ENV, "").strip()
    if explicit:
        path = cwd / Path(explicit).expanduser()
        if not path.is_file():
            raise LLMConfigError(
                f"{PROFILES_ENV} names {path}, which does not exist; fix or unset {PROFILES_ENV}"
            )
        return path
    local = cwd / FILE_NAME
    if local.is_file():
        return local
    config_home = environ.get("XDG_CONFIG_HOME", "").strip()
    if config_home:
        base = Path(config_home)
    else:
        home = environ.get("HOME")
        base = (Path(home) if home else Path.home()) / ".config"
    user = base / "llm_context" / FILE_NAME
    return user if user.is_file() else None


def _first_set(names: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def _present_in_env(spec: ProviderSpec, environ: Mapping[str, str]) -> bool:
    """Keyed providers need their key; local ones (and ones without a default URL) their URL."""
    has_url = _first_set(spec.base_url_env, environ) is not None
    ready = _first_set(spec.key_env, environ) is not None if spec.requires_key else has_url
    return ready and (has_url or spec.default_base_url is not None)


def _env_profiles(environ: Mapping[str, str]) -> dict[str, Profile]:
    """One profile per provider found in the environment, plus `default` = the first of them."""
    profiles: dict[str, Profile] = {}
    for provider in _ENV_ORDER:
        if not _present_in_env(spec_for(provider), environ):
            continue
        # Keys and URLs stay out of the profile: they are read from the environment at use time.
        values = {
            "provider": provider,
            "azure_deployment": _env_for(_DEPLOYMENT_ENV, provider, environ),
            "api_version": _env_for(_API_VERSION_ENV, provider, environ),
        }
        profiles[provider.value] = _new_profile(provider.value, "env", values)
    if not profiles:
        return profiles
    first = next(iter(profiles.values()))
    return {DEFAULT_NAME: replace(first, name=DEFAULT_NAME), **profiles}


def _env_for(
    table: Mapping[Provider, str], provider: Provider, env: Mapping[str, str]
) -> str | None:
    return _first_set((table[provider],), env) if provider in table else None


# ---------------------------------------------------------------------------- the store

Source = str | os.PathLike[str] | Mapping[str, Any] | None


class ProfileStore:
    """The profiles of one context: loaded once, updated at runtime, safe to share across threads.

    `source` is a YAML path or a mapping `{"default_profile": ..., "profiles": {...}}`; `None`
    searches `$LLM_CONTEXT_PROFILES`, `./profiles.yaml`, then the user config dir, and with no
    file builds profiles from the environment. `environ` defaults to `os.environ` at call time.
    """

    def __init__(
        self,
        source: Source = None,
        *,
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self._source = source
        self._environ = environ
        self._cwd = cwd
        self._lock = threading.Lock()
        self._state = self._load()

    # -- loading

    def _load(self) -> _State:
        environ = self._environ if self._environ is not None else os.environ
        cwd = self._cwd if self._cwd is not None else Path.cwd()
        source = self._source
        if isinstance(source, Mapping):
            profiles, default = _parse_document(source, "<mapping>", "mapping", environ)
            return _State(profiles, default, None)
        if source is not None:
            path = cwd / Path(os.fspath(source)).expanduser()
            if not path.is_file():
                raise LLMConfigError(f"profiles file {path} does not exist; check the path")
        else:
            found = _find_file(environ, cwd)
            if found is None:
                profiles = _env_profiles(environ)
                return _State(profiles, DEFAULT_NAME, None)
            path = found
        doc = _read_yaml(path)
        profiles, default = _parse_document(doc, str(path), f"file:{path}", environ)
        return _State(profiles, default, path)

    def reload(self) -> None:
        """Load the source again; runtime updates are discarded."""
        state = self._load()
        with self._lock:
            self._state = state

    # -- reading (lock-free: the state is an immutable snapshot)

    @property
    def path(self) -> Path | None:
        """The YAML file the profiles came from, or None (mapping or environment)."""
        return self._state.path

    @property
    def default_profile(self) -> str:
        return self._state.default_profile

    def names(self) -> list[str]:
        return list(self._state.profiles)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._canonical(self._state, name) in self._state.profiles

    def get(self, name: str | None = None) -> Profile:
        """The named profile (`None` or an undefined "default" mean the default profile)."""
        state = self._state
        key = self._canonical(state, name)
        profile = state.profiles.get(key)
        if profile is None:
            raise LLMConfigError(self._unknown_message(state, key))
        return profile

    def __repr__(self) -> str:
        state = self._state
        return (
            f"ProfileStore(path={state.path!s}, default_profile={state.default_profile!r}, "
            f"profiles={list(state.profiles)})"
        )

    @staticmethod
    def _canonical(state: _State, name: str | None) -> str:
        if name is None or (name == DEFAULT_NAME and name not in state.profiles):
            return state.default_profile
        return name

    @staticmethod
    def _unknown_message(state: _State, name: str) -> str:
        if not state.profiles:
            return (
                f"no profile {name!r}: no profiles are configured. Create profiles.yaml "
                f"(or set {PROFILES_ENV} to its path), set a provider key such as "
                "OPENAI_API_KEY, or pass provider= to create one at runtime"
            )
        return f"no profile {name!r}; known profiles: {', '.join(state.profiles)}"

    # -- runtime changes

    def update(self, name: str, **changes: Any) -> Profile:
        """Create or update a profile at runtime; `None` values leave a field unchanged.

        Creating needs `provider`. Switching provider clears the provider-bound fields (model,
        base_url, api_key, azure_deployment, api_version, embed/image model, extras, pricing)
        that are not given in the same call.
        """
        if not isinstance(name, str) or not name.strip():
            raise LLMConfigError("runtime: profile names must be non-empty strings")
        given = {k: v for k, v in changes.items() if v is not None}
        with self._lock:
            state = self._state
            key = self._canonical(state, name)
            current = state.profiles.get(key)
            try:
                values = _check_fields(given, current)
            except _Problem as exc:
                raise _config_error("runtime", key, exc) from None
            if current is None:
                if "provider" not in values:
                    providers = ", ".join(p.value for p in Provider)
                    raise LLMConfigError(
                        f"runtime: no profile {key!r} to update; to create it, "
                        f"pass provider= (one of: {providers})"
                    )
                profile = _new_profile(key, "runtime", values)
            else:
                if values.get("provider", current.provider) != current.provider:
                    cleared = {f: _default_of(f) for f in _PROVIDER_BOUND if f not in values}
                    values = {**cleared, **values}
                profile = replace(current, source="runtime", **values)
            profiles = {**state.profiles, key: profile}
            _check_profile_fallbacks(profile, profiles, "runtime")
            default = state.default_profile if state.profiles else key
            self._state = _State(profiles, default, state.path)
        return profile

    def set_key(
        self, provider: Provider | str, model: str | None, api_key: str, profile: str = DEFAULT_NAME
    ) -> Profile:
        """Point `profile` at `provider` / `model` with `api_key` (creating it if needed)."""
        return self.update(profile, provider=provider, model=model, api_key=api_key)


# ---------------------------------------------------------------------------- resolution


def resolve_api_key(profile: Profile, environ: Mapping[str, str] | None = None) -> str | None:
    """The key to use: the profile's, else the first set env var of the provider."""
    if profile.api_key:
        return profile.api_key
    spec = profile.spec
    key = _first_set(spec.key_env, environ if environ is not None else os.environ)
    if key is None and spec.requires_key:
        env = spec.key_env[0] + "".join(f" (or {e})" for e in spec.key_env[1:])
        raise LLMConfigError(
            f"profile {profile.name!r} (provider {spec.provider.value}) has no API key: "
            f"set {env} or add api_key to the profile"
        )
    return key


def resolve_base_url(profile: Profile, environ: Mapping[str, str] | None = None) -> str:
    """The base URL: the profile's, else the provider's env var, else its default."""
    spec = profile.spec
    env = environ if environ is not None else os.environ
    url = profile.base_url or _first_set(spec.base_url_env, env) or spec.default_base_url
    if not url:
        names = " or ".join(spec.base_url_env) or "the endpoint"
        raise LLMConfigError(
            f"profile {profile.name!r} (provider {spec.provider.value}) has no endpoint: "
            f"set {names} or add base_url to the profile"
        )
    url = url.strip()
    if spec.local:
        try:
            url = _local_server_url(url, spec.default_base_url or "http://localhost/v1")
        except ValueError:  # urlsplit on a bad port; the URL may embed credentials, so not shown
            raise LLMConfigError(
                f"profile {profile.name!r} (provider {spec.provider.value}): the base URL has an "
                "invalid port; use host:port or http://host:port"
            ) from None
    return url.rstrip("/")


def _local_server_url(url: str, default: str) -> str:
    """A local OpenAI-compatible server: `host:port` -> `http://host:port/v1`."""
    if "://" not in url:
        bare = urlsplit(f"http://{url}")
        # Like the servers' own clients: a bare host gets the default port.
        port = "" if bare.port is not None else f":{urlsplit(default).port or 80}"
        url = f"http://{bare.netloc}{port}{bare.path}"
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


_MODEL_FIELD: Mapping[str, str] = {"chat": "model", "embed": "embed_model", "image": "image_model"}
_LOCAL_EXAMPLE: Mapping[str, str] = {
    "chat": "llama3.2",
    "embed": "nomic-embed-text",
    "image": "an image model",
}


def resolve_model(
    profile: Profile, kind: ModelKind = "chat", environ: Mapping[str, str] | None = None
) -> str:
    """The model for `kind`: the profile's, else (Azure) its deployment, else the default."""
    if kind not in _MODEL_FIELD:
        raise ValueError(f"kind must be one of {', '.join(_MODEL_FIELD)}, not {kind!r}")
    spec = profile.spec
    field = _MODEL_FIELD[kind]
    model: str | None = getattr(profile, field)
    if not model and kind == "chat" and spec.provider in _DEPLOYMENT_ENV:
        env = environ if environ is not None else os.environ
        model = profile.azure_deployment or _first_set((_DEPLOYMENT_ENV[spec.provider],), env)
    if not model:
        model = {
            "chat": spec.default_model,
            "embed": spec.default_embed_model,
            "image": spec.default_image_model,
        }[kind]
    if not model:
        raise LLMConfigError(_no_model_message(profile, spec, kind, field))
    return model


def _no_model_message(profile: Profile, spec: ProviderSpec, kind: str, field: str) -> str:
    head = f"profile {profile.name!r}: provider {spec.provider.value} has no default {kind} model"
    if spec.provider in _DEPLOYMENT_ENV and kind == "chat":
        env = _DEPLOYMENT_ENV[spec.provider]
        return f"{head}; set azure_deployment: (or model:) in the profile, or set {env}"
    if spec.provider in _DEPLOYMENT_ENV:
        return f"{head}; set {field}: in the profile to your deployment name"
    if spec.local:
        example = _LOCAL_EXAMPLE[kind]
        return f"{head}; set {field}: to a model you have pulled, e.g. {example}"
    return f"{head}; set {field}: in the profile"
