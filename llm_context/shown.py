"""How a value the user passed appears in an error message: as itself, unless it may be a key.

Arguments get swapped (`llm_set_key(key, model, provider)`) and profile fields get pasted
into the wrong line, so any user string an error echoes may be a secret. `shown(value)` is
its `repr`, or, for anything key-shaped or long and token-like, a description that says
why it is hidden and shows none of it.
"""

from __future__ import annotations

import re

from .errors import redact

__all__ = ["SENSITIVE_HINTS", "may_be_secret", "sensitive_name", "shown", "shown_url"]

# Words that mark a header or extras name as a credential: its value is never shown.
SENSITIVE_HINTS = ("auth", "key", "token", "secret", "password", "cookie")

# A run of letters and digits, both, with no separator: random tokens have them, names and
# model ids (`gemini-2.5-flash-preview-05-20`, UUIDs) do not.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9]{16,}")
_LONG = 40  # longer than this without a space: a token, whatever its alphabet
_LONGEST_SHOWN = 80
# `scheme://userinfo@`: a user name alone may be a token (`https://TOKEN@host`).
_USERINFO = re.compile(r"(://)[^/\s@?#]+@")
_QUERY_PARAM = re.compile(r"([?&])([^=&#\s]+)=([^&#\s]*)")
_SIGNATURES = ("sig", "signature", "code")  # Azure SAS and OAuth codes


def may_be_secret(text: str) -> bool:
    """True when `text` looks like a key or a token (so an error message must not show it)."""
    if redact(text) != text:
        return True
    if len(text) > _LONG and not any(c.isspace() for c in text):
        return True
    return any(
        any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
        for run in _TOKEN_RUN.findall(text)
    )


def shown(value: object) -> str:
    """`repr(value)` for an error message, or `<a 51-character value, hidden: it may be a key>`."""
    text = value if isinstance(value, str) else repr(value)
    if may_be_secret(text):
        what = f"{len(text)}-character" if isinstance(value, str) else type(value).__name__
        return f"<a {what} value, hidden: it may be a key>"
    text = repr(value)
    return text if len(text) <= _LONGEST_SHOWN else text[: _LONGEST_SHOWN - 3] + "..."


def sensitive_name(name: object) -> bool:
    """True for a header or extras name whose value is a credential (`x-api-key`, ...)."""
    lowered = str(name).lower()
    return any(hint in lowered for hint in SENSITIVE_HINTS)


def shown_url(url: str) -> str:
    """`url` for display: user info, credential-named query values and key-shaped tokens
    replaced by `***`."""

    def param(match: re.Match[str]) -> str:
        sep, name, value = match.groups()
        hidden = sensitive_name(name) or name.lower() in _SIGNATURES
        return f"{sep}{name}={'***' if hidden and value else value}"

    return redact(_QUERY_PARAM.sub(param, _USERINFO.sub(r"\1***@", url)))
