"""Stable tool call ids for Gemini, carrying the call's thought signature.

Older Gemini models send function calls without ids, so ids are minted from the response id
(or the call itself) and the call's position: the same reply always yields the same ids, in a
stream or not. When the API does send an id, it is kept (and sent back with call and result).

Gemini 3 requires the thought signature of a function call to come back with it in the next
request. A `ToolCall` has nowhere else to keep it, so the signature rides in the id as
`<id>__sig__<url-safe base64>`: it survives the caller's message list untouched, and needs no
state in the adapter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

__all__ = ["SKIP_SIGNATURE", "is_minted", "mint_call_id", "split_call_id"]

MINTED_PREFIX = "call_gemini_"
SIGNATURE_SEP = "__sig__"
# Gemini's documented stand-in for a call whose signature is unknown (history from elsewhere).
SKIP_SIGNATURE = b"skip_thought_signature_validator"


def mint_call_id(
    seed: str, index: int, api_id: str | None = None, signature: bytes | None = None
) -> str:
    """The id of call number `index` (0-based, across the whole reply); `seed` is the
    response id, or the call itself when the reply has none."""
    if api_id:
        base = api_id
    else:
        digest = hashlib.sha256(seed.encode()).hexdigest()[:16]
        base = f"{MINTED_PREFIX}{digest}_{index}"
    if signature:
        return base + SIGNATURE_SEP + base64.urlsafe_b64encode(signature).decode().rstrip("=")
    return base


def split_call_id(call_id: str) -> tuple[str, bytes | None]:
    """(the id without its signature, the signature or None)."""
    base, sep, encoded = call_id.rpartition(SIGNATURE_SEP)
    if not sep or not base:
        return call_id, None
    try:
        return base, base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return call_id, None


def is_minted(base_id: str) -> bool:
    """True for ids made here (the API never saw them, so they are not sent back)."""
    return base_id.startswith(MINTED_PREFIX)
