"""Resolving a profile at use time: its API key, base URL and model.

Done when an adapter is built, not when the profile is loaded, so a rotated environment variable
takes effect without reloading.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from ..errors import LLMConfigError
from ..providers.registry import ProviderSpec
from ..shown import shown, shown_url
from .settings import Profile

__all__ = [
    "ModelKind",
    "first_set",
    "resolve_api_key",
    "resolve_base_url",
    "resolve_model",
]

ModelKind = Literal["chat", "embed", "image"]


def first_set(names: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def resolve_api_key(profile: Profile, environ: Mapping[str, str] | None = None) -> str | None:
    """The key to use: the profile's, else the first set env var of the provider."""
    if profile.api_key:
        return profile.api_key
    spec = profile.spec
    key = first_set(spec.key_env, environ if environ is not None else os.environ)
    if key is None and spec.requires_key:
        env = spec.key_env[0] + "".join(f" (or {e})" for e in spec.key_env[1:])
        raise LLMConfigError(
            f"profile {shown(profile.name)} (provider {spec.provider.value}) has no API key: "
            f"set {env} or add api_key to the profile"
        )
    return key


def resolve_base_url(profile: Profile, environ: Mapping[str, str] | None = None) -> str:
    """The base URL: the profile's, else the provider's env var, else its default."""
    spec = profile.spec
    env = environ if environ is not None else os.environ
    url = profile.base_url or first_set(spec.base_url_env, env) or spec.default_base_url
    if not url:
        names = " or ".join(spec.base_url_env) or "the endpoint"
        raise LLMConfigError(
            f"profile {shown(profile.name)} (provider {spec.provider.value}) has no endpoint: "
            f"set {names} or add base_url to the profile"
        )
    url = url.strip()
    if spec.local:
        try:
            url = _local_server_url(url, spec.default_base_url or "http://localhost/v1")
        except ValueError:  # urlsplit on a bad port; the URL may embed credentials, so not shown
            raise LLMConfigError(
                f"profile {shown(profile.name)} (provider {spec.provider.value}): the base URL "
                "has an invalid port; use host:port or http://host:port"
            ) from None
    else:
        _check_scheme(profile, url)
    return url.rstrip("/")


def _check_scheme(profile: Profile, url: str) -> None:
    """A remote provider's URL names its scheme: `localhost:1234/v1` would reach the SDK as a
    URL with scheme `localhost` and fail there, far from the cause."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        return
    where = f"profile {shown(profile.name)} (provider {profile.spec.provider.value})"
    if scheme:
        problem = f"base_url {shown_url(url)!r} must start with https:// or http://"
    else:
        host = url.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].lower()
        local = host in ("localhost", "127.0.0.1", "[::1]") or host.endswith(".localhost")
        example = shown_url(("http://" if local else "https://") + url)
        problem = f"base_url {shown_url(url)!r} has no scheme; write it as {example}"
    raise LLMConfigError(f"{where}: {problem}")


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
    """The model for `kind`: the profile's, else its deployment (Azure), else the default."""
    if kind not in _MODEL_FIELD:
        raise ValueError(f"kind must be one of {', '.join(_MODEL_FIELD)}, not {kind!r}")
    spec = profile.spec
    field = _MODEL_FIELD[kind]
    model: str | None = getattr(profile, field)
    if not model and kind == "chat" and spec.deployment_env:
        env = environ if environ is not None else os.environ
        model = profile.azure_deployment or first_set(spec.deployment_env, env)
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
    name, provider = shown(profile.name), spec.provider.value
    head = f"profile {name}: provider {provider} has no default {kind} model"
    if spec.deployment_env and kind == "chat":
        env = " or ".join(spec.deployment_env)
        return f"{head}; set azure_deployment: (or model:) in the profile, or set {env}"
    if spec.deployment_env:
        return f"{head}; set {field}: in the profile to your deployment name"
    if spec.local:
        example = _LOCAL_EXAMPLE[kind]
        return f"{head}; set {field}: to a model you have pulled, e.g. {example}"
    return f"{head}; set {field}: in the profile"
