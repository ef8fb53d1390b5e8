"""Base64 data URLs (`data:<type>;base64,<payload>`), read one way for images, documents and
audio: the declared media type and the decoded bytes, or an `LLMInputError` naming the place."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..errors import LLMInputError

__all__ = ["decode_base64", "split_data_url"]


def split_data_url(url: str) -> tuple[str, str] | None:
    """`(media type, base64 payload)` of a base64 data URL, the type lowercased; None when
    `url` is not one."""
    header, sep, payload = url.partition(",")
    if not header.startswith("data:") or not sep or ";base64" not in header:
        return None
    return header[5:].split(";", 1)[0].lower(), payload


def decode_base64(payload: Any, where: str, what: str) -> bytes:
    """The bytes of a base64 string; `LLMInputError` naming `where` and `what` otherwise."""
    if not isinstance(payload, str):
        raise LLMInputError(f"{where}: {what} must be a base64 string")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise LLMInputError(f"{where}: {what} is not valid base64") from None
