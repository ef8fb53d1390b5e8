"""Provider-neutral default answers, for requests that arrive with nothing scripted."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import zlib
from collections.abc import Sequence

__all__ = [
    "DEFAULT_EMBEDDING_DIMS",
    "DEFAULT_JSON_OBJECT",
    "IMAGE_ASSET_PATH",
    "TINY_PNG",
    "TINY_PNG_B64",
    "default_text",
    "float32_b64",
    "hash_embedding",
    "rough_tokens",
]

DEFAULT_EMBEDDING_DIMS = 8
IMAGE_ASSET_PATH = "/fake/image.png"
"""Where URL-style image replies point by default: the server itself serves TINY_PNG there."""
DEFAULT_JSON_OBJECT = {"ok": True, "source": "fake"}


def default_text(provider: str, user_text: str) -> str:
    """The default chat answer: says who answered and echoes the last user text."""
    return f"Hello from the fake {provider} server. You said: {user_text}"


def rough_tokens(text: str) -> int:
    """A cheap, deterministic token count: whitespace-separated words, at least 1."""
    return max(1, len(text.split()))


def hash_embedding(text: str, dims: int = DEFAULT_EMBEDDING_DIMS) -> list[float]:
    """A deterministic unit vector for `text`, already rounded to float32.

    Rounding to float32 makes the float and the base64 (little-endian float32) encodings
    carry the very same numbers, so tests may compare either with the other.
    """
    raw = b""
    counter = 0
    while len(raw) < dims * 4:  # sha256 gives 8 values per round
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    ints = struct.unpack(f"<{dims}I", raw[: dims * 4])
    values = [i / 2147483647.5 - 1.0 for i in ints]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return list(struct.unpack(f"<{dims}f", struct.pack(f"<{dims}f", *(v / norm for v in values))))


def float32_b64(vector: Sequence[float]) -> str:
    """Base64 of little-endian float32 values (OpenAI's `encoding_format: "base64"`)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 1x1, 8-bit RGBA
    pixels = zlib.compress(b"\x00\x40\x80\xc0\xff")  # filter byte + one RGBA pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


TINY_PNG = _png_1x1()
"""A valid 1x1 PNG."""
TINY_PNG_B64 = base64.b64encode(TINY_PNG).decode()
