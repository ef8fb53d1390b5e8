"""Named profiles: loaded from YAML, a mapping or the environment; validated; updated at runtime.

`ProfileStore` owns the profiles of one context. Mutations swap an immutable snapshot under a
lock, so readers never lock and never see a half-updated profile. Keys, base URLs and models are
resolved when an adapter is built (`resolve_api_key`, `resolve_base_url`, `resolve_model`, in
`resolve`), so a rotated environment variable takes effect without reloading. The per-field
checks and `${VAR}` interpolation live in `profile_fields`.

A problem inside one profile (an unset `${VAR}`, a wrong type, an unknown field) does not stop
the others loading: that profile is kept as a `_Broken` entry that raises its error when used
and can be repaired by a runtime update. Problems with the document itself stay fatal.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import LLMConfigError
from ..providers.registry import ENV_PROFILE_ORDER, Provider, ProviderSpec, spec_for
from ..shown import shown
from .document import check_bounds, read_yaml
from .fields import (
    NESTED_FIELDS,
    FrozenMap,
    Problem,
    build_profile,
    config_error,
    default_of,
    interpolate,
    missing_provider,
    new_profile,
    text_field,
    type_name,
    unknown_field,
)

# Bound here, not called through profile_fields, so tests can slow validation inside update().
from .fields import check_fields as _check_fields
from .resolve import ModelKind, first_set, resolve_api_key, resolve_base_url, resolve_model
from .settings import Profile

__all__ = [
    "DEFAULT_NAME",
    "FILE_NAME",
    "PROFILES_ENV",
    "FrozenMap",
    "ModelKind",
    "Profile",
    "ProfileStore",
    "resolve_api_key",
    "resolve_base_url",
    "resolve_model",
]

PROFILES_ENV = "LLM_CONTEXT_PROFILES"
FILE_NAME = "profiles.yaml"
DEFAULT_NAME = "default"

# Fields that belong to one provider: cleared when a runtime update switches provider.
_PROVIDER_BOUND = (
    "model",
    "base_url",
    "api_key",
    "azure_deployment",
    "api_version",
    "embed_model",
    "image_model",
    "headers",  # may hold a proxy's auth for the old provider's host
    "extras",
    "pricing",
)


# ---------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Broken:
    """A profile that failed validation: listed, raises `error` when used, repairable by update."""

    error: str  # the LLMConfigError message: names file, profile and field, never a value
    origin: str
    # The fields as written, before interpolation (None: not a mapping); may hold literal secrets.
    raw: Mapping[str, object] | None = field(repr=False)


_Entry = Profile | _Broken


@dataclass(frozen=True)
class _State:
    """One immutable snapshot of a store: swapped whole, read without a lock."""

    profiles: Mapping[str, _Entry]
    default_profile: str
    path: Path | None


def _load_profile(
    name: str, raw: object, origin: str, source: str, environ: Mapping[str, str]
) -> _Entry:
    """The profile, or a `_Broken` entry carrying its error so the other profiles still load."""
    try:
        return build_profile(name, raw, origin, source, environ)
    except LLMConfigError as exc:
        fields = copy.deepcopy(dict(raw)) if isinstance(raw, Mapping) else None
        return _Broken(str(exc), origin, fields)


def _parse_document(
    doc: object, origin: str, source: str, environ: Mapping[str, str]
) -> tuple[dict[str, _Entry], str]:
    """Profiles and the default profile name from a loaded document."""
    if doc is None:
        doc = {}
    check_bounds(doc, origin)
    if not isinstance(doc, Mapping):
        raise LLMConfigError(
            f"{origin}: expected a mapping with default_profile: and profiles:, "
            f"got {type_name(doc)}"
        )
    top = {"default_profile": None, "profiles": None}
    for key in doc:
        if key not in top:
            raise config_error(origin, None, unknown_field(key, top))
    raw_profiles = doc.get("profiles") or {}
    if not isinstance(raw_profiles, Mapping):
        raise config_error(
            origin,
            None,
            Problem(
                f"expected a mapping of name: profile, got {type_name(raw_profiles)}", "profiles"
            ),
        )
    profiles: dict[str, _Entry] = {}
    for name, raw in raw_profiles.items():
        if not isinstance(name, str) or not name.strip():
            raise config_error(
                origin, None, Problem("profile names must be non-empty strings", "profiles")
            )
        profiles[name] = _load_profile(name, raw, origin, source, environ)
    _check_fallbacks(profiles, origin, environ)
    default = _default_name(doc.get("default_profile"), profiles, origin, environ)
    return profiles, default


def _default_name(
    raw: object, profiles: Mapping[str, _Entry], origin: str, environ: Mapping[str, str]
) -> str:
    if raw is None:
        return DEFAULT_NAME if DEFAULT_NAME in profiles or not profiles else next(iter(profiles))
    try:
        name = text_field(optional=False)(interpolate(raw, environ))
    except Problem as exc:
        raise config_error(origin, None, exc.under("default_profile")) from None
    if profiles and name not in profiles:
        raise config_error(
            origin,
            None,
            Problem(
                f"names no profile {shown(name)}; use one of: {', '.join(profiles)}",
                "default_profile",
            ),
        )
    return str(name)


def _check_fallbacks(
    profiles: Mapping[str, _Entry], origin: str, environ: Mapping[str, str]
) -> None:
    """Every fallback names a profile (a broken one counts: it fails when used)."""
    for name, entry in profiles.items():
        if isinstance(entry, Profile):
            _check_profile_fallbacks(name, entry.fallbacks, profiles, origin)
        elif entry.raw is not None and "fallbacks" in entry.raw:
            # A broken profile's list is checked too, when it parses on its own.
            try:
                parsed = _check_fields({"fallbacks": entry.raw["fallbacks"]}, None, environ)
            except Problem:
                continue
            _check_profile_fallbacks(name, parsed["fallbacks"], profiles, origin)


def _check_profile_fallbacks(
    name: str, fallbacks: tuple[str, ...], profiles: Collection[str], origin: str
) -> None:
    for index, target in enumerate(fallbacks):
        if target == name:
            problem = Problem("a profile cannot fall back to itself; remove it from the list")
        elif target not in profiles:
            problem = Problem(f"no profile named {shown(target)}; known: {', '.join(profiles)}")
        else:
            continue
        raise config_error(origin, name, problem.under(f"fallbacks[{index}]"))


def _written_provider(raw: Mapping[str, object], environ: Mapping[str, str]) -> object:
    """The provider a broken profile's fields name, or None when it is missing or invalid."""
    try:
        return _check_fields({"provider": raw["provider"]}, None, environ)["provider"]
    except (KeyError, Problem):
        return None


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


def _present_in_env(spec: ProviderSpec, environ: Mapping[str, str]) -> bool:
    """Keyed providers need their key; local ones (and ones without a default URL) their URL."""
    has_url = first_set(spec.base_url_env, environ) is not None
    ready = first_set(spec.key_env, environ) is not None if spec.requires_key else has_url
    return ready and (has_url or spec.default_base_url is not None)


def _env_profiles(environ: Mapping[str, str]) -> dict[str, _Entry]:
    """One profile per provider found in the environment, plus `default` = the first of them."""
    profiles: dict[str, _Entry] = {}
    for provider in ENV_PROFILE_ORDER:
        spec = spec_for(provider)
        if not _present_in_env(spec, environ):
            continue
        # Keys and URLs stay out of the profile: they are read from the environment at use time.
        values = {
            "provider": provider,
            "azure_deployment": first_set(spec.deployment_env, environ),
            "api_version": first_set(spec.api_version_env, environ),
        }
        profiles[provider.value] = new_profile(provider.value, "env", values)
    if not profiles:
        return profiles
    first = next(iter(profiles.values()))
    assert isinstance(first, Profile)  # built from the registry: never broken
    return {DEFAULT_NAME: replace(first, name=DEFAULT_NAME), **profiles}


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

    def _environ_now(self) -> Mapping[str, str]:
        return self._environ if self._environ is not None else os.environ

    def _load(self) -> _State:
        environ = self._environ_now()
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
        doc = read_yaml(path)
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
        """Every profile's name, a broken one's included (`get` raises its error)."""
        return list(self._state.profiles)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._canonical(self._state, name) in self._state.profiles

    def get(self, name: str | None = None) -> Profile:
        """The named profile (`None` or an undefined "default" mean the default profile).

        A profile that failed validation raises its error here, naming file, profile and field.
        """
        state = self._state
        key = self._canonical(state, name)
        entry = state.profiles.get(key)
        if entry is None:
            raise LLMConfigError(self._unknown_message(state, key))
        if isinstance(entry, _Broken):
            raise LLMConfigError(entry.error)
        return entry

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
                f"no profile {shown(name)}: no profiles are configured. Create profiles.yaml "
                f"(or set {PROFILES_ENV} to its path), set a provider key such as "
                "OPENAI_API_KEY, or pass provider= to create one at runtime"
            )
        return f"no profile {shown(name)}; known profiles: {', '.join(state.profiles)}"

    # -- runtime changes

    def update(self, name: str, **changes: Any) -> Profile:
        """Create or update a profile at runtime; `None` values leave a field unchanged.

        Creating needs `provider`. Switching provider clears the provider-bound fields (model,
        base_url, api_key, azure_deployment, api_version, embed/image model, headers, extras,
        pricing) that are not given in the same call. An update that changes nothing returns
        the profile as it was (so its client and connections are kept).

        Updating a profile that failed validation re-checks its fields as written (`${VARS}`
        read again) with the given values in place of the same fields: when that passes, the
        profile is repaired; when it does not, the remaining problem is raised.
        """
        if not isinstance(name, str) or not name.strip():
            raise LLMConfigError("runtime: profile names must be non-empty strings")
        given = {k: v for k, v in changes.items() if v is not None}
        with self._lock:
            state = self._state
            key = self._canonical(state, name)
            current = state.profiles.get(key)
            if isinstance(current, _Broken):
                return self._repair(state, key, current, given)
            try:
                values = _check_fields(given, current)
            except Problem as exc:
                raise config_error("runtime", key, exc) from None
            if current is None:
                if "provider" not in values:
                    providers = ", ".join(p.value for p in Provider)
                    raise LLMConfigError(
                        f"runtime: no profile {shown(key)} to update; to create it, "
                        f"pass provider= (one of: {providers})"
                    )
                profile = new_profile(key, "runtime", values)
            else:
                if all(getattr(current, field) == value for field, value in values.items()):
                    return current
                if values.get("provider", current.provider) != current.provider:
                    cleared = {f: default_of(f) for f in _PROVIDER_BOUND if f not in values}
                    values = {**cleared, **values}
                profile = replace(current, source="runtime", **values)
            self._commit(state, key, profile)
        return profile

    def _commit(self, state: _State, key: str, profile: Profile) -> None:
        """Swap in a snapshot with `profile` as `key` (the caller holds the lock)."""
        profiles = {**state.profiles, key: profile}
        _check_profile_fallbacks(key, profile.fallbacks, profiles, "runtime")
        default = state.default_profile if state.profiles else key
        self._state = _State(profiles, default, state.path)

    def _repair(self, state: _State, key: str, broken: _Broken, given: dict[str, Any]) -> Profile:
        """A broken profile rebuilt from its fields as written, `given` replacing those fields."""
        if broken.raw is None and "provider" not in given:
            raise LLMConfigError(broken.error)  # nothing usable was written: say so again
        environ, raw = self._environ_now(), broken.raw or {}
        plain = {k: v for k, v in given.items() if k not in NESTED_FIELDS}
        try:
            values = _check_fields(plain, None)
        except Problem as exc:
            raise config_error("runtime", key, exc) from None
        kept = {k: v for k, v in raw.items() if k not in given}
        for block in NESTED_FIELDS & given.keys():
            # A nested block merges onto the file's, minus the keys given (they may be the fix).
            written = raw.get(block)
            if isinstance(written, Mapping) and isinstance(given[block], Mapping):
                kept[block] = {k: v for k, v in written.items() if k not in given[block]}
        if "provider" in values and _written_provider(raw, environ) != values["provider"]:
            kept = {k: v for k, v in kept.items() if k not in _PROVIDER_BOUND}
        try:
            base = _check_fields(kept, None, environ)
        except Problem as exc:
            raise config_error(broken.origin, key, exc) from None
        try:
            nested = _check_fields({k: given[k] for k in given if k in NESTED_FIELDS}, base)
        except Problem as exc:
            raise config_error("runtime", key, exc) from None
        values = {**base, **values, **nested}
        if "provider" not in values:
            raise config_error(broken.origin, key, missing_provider())
        profile = new_profile(key, "runtime", values)
        self._commit(state, key, profile)
        return profile

    def set_key(
        self, provider: Provider | str, model: str | None, api_key: str, profile: str = DEFAULT_NAME
    ) -> Profile:
        """Point `profile` at `provider` / `model` with `api_key` (creating it if needed)."""
        return self.update(profile, provider=provider, model=model, api_key=api_key)
