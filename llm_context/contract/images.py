"""What counts as an image: the bytes decide (PNG, JPEG, GIF or WebP signatures), never a file
name or a declared type. Every place a path, bytes, data URL or download becomes an image
goes through here, so a `secrets.txt` is never uploaded as `image/png`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import LLMInputError
from .data_urls import decode_base64, split_data_url

__all__ = [
    "IMAGE_TYPES",
    "decode_image_data_url",
    "image_bytes_type",
    "image_filename",
    "is_url",
    "read_image_file",
    "sniff_image_type",
]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
# Names people write for the same type: accepted as the canonical one.
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_FIX = "pass a PNG, JPEG, GIF or WebP image"


def sniff_image_type(data: bytes | bytearray | memoryview) -> str | None:
    """The media type the bytes' signature shows (PNG, JPEG, GIF, WebP), else None."""
    head = bytes(data[:12])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _looks_like(data: bytes) -> str:
    """A hint at what the bytes are instead, without showing them (they may be secret)."""
    if not data:
        return "they are empty"
    if data[:5] == b"%PDF-":
        return "they look like a PDF"
    if data.lstrip()[:1] in (b"<", b"{", b"["):
        return "they look like markup or JSON"
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "they are not a known image format"
    return "they look like text"


def image_bytes_type(data: bytes, *, where: str, declared: str | None = None) -> str:
    """The media type of image bytes; `LLMInputError` naming `where` when they are not an
    image, or when `declared` (a data URL's or caller's type) says otherwise."""
    actual = sniff_image_type(data)
    if actual is None:
        raise LLMInputError(f"{where}: not an image ({_looks_like(data)}); {_FIX}")
    if declared is not None:
        wanted = _ALIASES.get(declared.lower(), declared.lower())
        if wanted != actual:
            raise LLMInputError(
                f"{where}: declared as {declared!r} but the bytes are {actual}; "
                f"declare {actual!r} (or pass the image itself)"
            )
    return actual


def decode_image_data_url(url: str, *, where: str) -> tuple[str, bytes]:
    """The media type (from the bytes) and the bytes of a `data:image/...;base64,...` URL;
    `LLMInputError` naming `where` for anything else."""
    parts = split_data_url(url)
    if parts is None or not parts[0].startswith("image/"):
        raise LLMInputError(f"{where}: a data URL must look like 'data:image/png;base64,<data>'")
    media, payload = parts
    data = decode_base64(payload, where, "the data URL's payload")
    return image_bytes_type(data, where=where, declared=media), data


def image_filename(stem: str, media_type: str) -> str:
    """A file name whose extension matches the bytes (APIs may go by the extension)."""
    return f"{stem}.{_EXTENSIONS.get(media_type, 'png')}"


def read_image_file(path: Path | str, *, where: str) -> tuple[str, bytes]:
    """The media type and bytes of an image file; `LLMInputError` naming `where`."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise LLMInputError(f"{where}: no such file {str(file)!r}; check the path") from None
    except IsADirectoryError:
        raise LLMInputError(f"{where}: {str(file)!r} is a folder, not an image file") from None
    except OSError as exc:
        raise LLMInputError(
            f"{where}: cannot read {str(file)!r} ({exc.strerror or type(exc).__name__})"
        ) from None
    return image_bytes_type(data, where=where), data


def is_url(value: Any) -> bool:
    """An http(s) URL given where a file, bytes or data URL was expected."""
    return isinstance(value, str) and value[:8].lower().startswith(("https://", "http://"))
