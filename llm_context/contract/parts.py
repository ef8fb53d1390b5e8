"""Building message parts from files and bytes: `file_part`, `image_part`, `audio_part`.

Each reads the file (or takes the bytes), checks them by their signature (never by the file
name) and returns the OpenAI-style part dict that `chat_sync` takes on every provider, so a
`secrets.txt` is never sent as a PDF, nor a PDF as `image/png`.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Literal

from ..errors import LLMInputError
from .files import PDF, document_bytes_type, sniff_audio_format
from .images import image_bytes_type, is_url

__all__ = ["audio_part", "file_part", "image_part"]

Source = str | os.PathLike[str] | bytes | bytearray | memoryview
# Names people write for the two audio formats.
_AUDIO_TYPES = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}


def _read(source: Source, where: str) -> tuple[bytes, str | None]:
    """The bytes, and the file's name when they came from a path."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if not isinstance(source, (str, os.PathLike)):
        raise LLMInputError(f"{where}: pass a path or bytes, got {type(source).__name__}")
    file = Path(source)
    try:
        return file.read_bytes(), file.name
    except FileNotFoundError:
        raise LLMInputError(f"{where}: no such file {str(file)!r}; check the path") from None
    except IsADirectoryError:
        raise LLMInputError(f"{where}: {str(file)!r} is a folder, not a file") from None
    except OSError as exc:
        raise LLMInputError(
            f"{where}: cannot read {str(file)!r} ({exc.strerror or type(exc).__name__})"
        ) from None


def file_part(
    path_or_bytes: Source,
    *,
    media_type: str | None = None,
    filename: str | None = None,
    citations: bool = False,
) -> dict[str, Any]:
    """A document part (PDF or UTF-8 text) from a path, bytes or an https URL; `citations`
    asks the model to cite passages of it (Anthropic).

    >>> file_part("report.pdf")  # {"type": "file", "file": {"file_data": "data:...", ...}}
    """
    where = "file_part"
    cite = {"citations": True} if citations else {}
    if is_url(path_or_bytes):
        file: dict[str, Any] = {"file_url": path_or_bytes}
        if filename is not None:
            file["filename"] = filename
        return {"type": "file", "file": file, **cite}
    data, name = _read(path_or_bytes, where)
    media = document_bytes_type(data, where=where, declared=media_type)
    name = filename or name or ("document.pdf" if media == PDF else "document.txt")
    payload = base64.b64encode(data).decode("ascii")
    return {
        "type": "file",
        "file": {"file_data": f"data:{media};base64,{payload}", "filename": name},
        **cite,
    }


def image_part(
    path_or_bytes: Source,
    *,
    media_type: str | None = None,
    detail: Literal["low", "high", "auto"] | None = None,
) -> dict[str, Any]:
    """An image part (PNG, JPEG, GIF, WebP) from a path, bytes or an https URL."""
    if is_url(path_or_bytes):
        url = str(path_or_bytes)
    else:
        data, _ = _read(path_or_bytes, "image_part")
        media = image_bytes_type(data, where="image_part", declared=media_type)
        url = f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
    image: dict[str, Any] = {"url": url}
    if detail is not None:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def audio_part(
    path_or_bytes: Source,
    *,
    media_type: str | None = None,
    format: Literal["wav", "mp3"] | None = None,  # the wire's own field name
) -> dict[str, Any]:
    """An audio part (WAV or MP3) from a path or bytes; the bytes decide the format."""
    where = "audio_part"
    data, _ = _read(path_or_bytes, where)
    actual = sniff_audio_format(data)
    if actual is None:
        raise LLMInputError(f"{where}: not WAV or MP3 audio (by the bytes); pass a .wav or .mp3")
    declared = format or (_AUDIO_TYPES.get(media_type.lower(), media_type) if media_type else None)
    if declared is not None and declared != actual:
        raise LLMInputError(f"{where}: declared as {declared!r} but the bytes are {actual}")
    payload = base64.b64encode(data).decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": payload, "format": actual}}
