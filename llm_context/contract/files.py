"""Document and audio parts: what they are, and the checks on them.

As with images (`images.py`), the bytes decide: a PDF starts with `%PDF-`, plain text decodes
as UTF-8, WAV is `RIFF....WAVE`, MP3 an `ID3` tag or an MPEG frame sync. A part whose bytes
contradict its declared type, a data URL that is not base64, an unknown key or a file over
the provider's size limit is an `LLMInputError` naming `messages[i].content[j]`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import LLMInputError
from .caching import CacheControl
from .data_urls import decode_base64, split_data_url
from .text_check import check_text

__all__ = [
    "AUDIO_FORMATS",
    "DOCUMENT_TYPES",
    "AudioPart",
    "DocumentPart",
    "FileLimit",
    "check_known_keys",
    "document_bytes_type",
    "parse_audio_part",
    "parse_file_part",
    "sniff_audio_format",
]

PDF = "application/pdf"
TEXT = "text/plain"
DOCUMENT_TYPES = (PDF, TEXT)
AudioFormat = Literal["wav", "mp3"]
AUDIO_FORMATS: tuple[AudioFormat, ...] = ("wav", "mp3")
AUDIO_MEDIA_TYPES: dict[str, str] = {"wav": "audio/wav", "mp3": "audio/mp3"}
_FILE_KEYS = frozenset({"file_data", "file_url", "filename"})
_AUDIO_KEYS = frozenset({"data", "format"})
_EXTENSIONS = {PDF: "pdf", TEXT: "txt"}


@dataclass(frozen=True)
class FileLimit:
    """The largest file (decoded bytes) a provider takes inline, and whose limit it is."""

    provider: str
    max_bytes: int


@dataclass(frozen=True)
class DocumentPart:
    """A PDF or plain-text document: inline (`media_type` and base64 `data_b64`) or by URL."""

    media_type: str | None = None  # None for a URL: its bytes are not known here
    data_b64: str = ""
    url: str | None = None
    filename: str | None = None
    cache: CacheControl | None = None
    citations: bool = False  # ask the model to cite passages of it (Anthropic)

    @property
    def is_url(self) -> bool:
        return self.url is not None

    @property
    def data_url(self) -> str:
        """The inline document as a `data:` URL (the Chat Completions / Responses shape)."""
        return f"data:{self.media_type};base64,{self.data_b64}"

    @property
    def name(self) -> str:
        """The caller's file name, or one whose extension matches the bytes."""
        return self.filename or f"document.{_EXTENSIONS.get(self.media_type or PDF, 'pdf')}"

    def data_bytes(self) -> bytes:
        return base64.b64decode(self.data_b64)


@dataclass(frozen=True)
class AudioPart:
    """A WAV or MP3 clip, base64."""

    data_b64: str
    format: AudioFormat
    cache: CacheControl | None = None

    @property
    def media_type(self) -> str:
        return AUDIO_MEDIA_TYPES[self.format]

    def data_bytes(self) -> bytes:
        return base64.b64decode(self.data_b64)


def document_bytes_type(data: bytes, *, where: str, declared: str | None = None) -> str:
    """The media type of document bytes (PDF or UTF-8 text); `LLMInputError` naming `where`
    when they are neither, or when `declared` says otherwise."""
    if data.startswith(b"%PDF-"):
        actual = PDF
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise LLMInputError(
                f"{where}: not a PDF (no %PDF- signature) nor UTF-8 text; pass a PDF or a "
                "UTF-8 text file"
            ) from None
        if "\x00" in text:  # binary that happens to decode: a text file holds no NULs
            raise LLMInputError(f"{where}: not a PDF nor text (the bytes hold NULs)")
        actual = TEXT
    if declared is not None and declared.lower() != actual:
        raise LLMInputError(
            f"{where}: declared as {declared!r} but the bytes are {actual}; declare "
            f"{actual!r} (or pass the file itself)"
        )
    return actual


def sniff_audio_format(data: bytes) -> AudioFormat | None:
    """WAV or MP3 by the bytes' signature, else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    # An ID3v2 tag, or an MPEG audio frame sync (11 set bits).
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _check_size(data: bytes, where: str, limit: FileLimit | None) -> None:
    if limit is not None and len(data) > limit.max_bytes:
        mb = limit.max_bytes / (1024 * 1024)
        raise LLMInputError(
            f"{where}: the file is {len(data) / (1024 * 1024):.1f} MB, over {limit.provider}'s "
            f"limit of {mb:g} MB; split it or send a URL",
            provider=limit.provider,
        )


def check_known_keys(given: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    """`LLMInputError` naming `where` when `given` has a key outside `known`."""
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        raise LLMInputError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"use {', '.join(sorted(known))}"
        )


def parse_file_part(raw: Mapping[str, Any], where: str, limit: FileLimit | None) -> DocumentPart:
    """`{"type": "file", "file": {"file_data": "data:...;base64,..." | "file_url": "https://...",
    "filename": ...}}` -> a checked `DocumentPart`."""
    check_known_keys(raw, frozenset({"type", "file", "cache_control", "citations"}), where)
    citations = _citations(raw.get("citations"), where)
    file = raw.get("file")
    if not isinstance(file, Mapping):
        raise LLMInputError(
            f"{where}: a file part is {{'type': 'file', 'file': {{'file_data': "
            "'data:application/pdf;base64,...', 'filename': 'report.pdf'}}"
        )
    check_known_keys(file, _FILE_KEYS, f"{where}.file")
    filename = file.get("filename")
    if filename is not None:
        if not isinstance(filename, str) or not filename:
            raise LLMInputError(f"{where}.file.filename must be a non-empty string")
        check_text(filename, f"{where}.file.filename")
    data_url, url = file.get("file_data"), file.get("file_url")
    if (data_url is None) == (url is None):
        raise LLMInputError(f"{where}.file: give exactly one of 'file_data' and 'file_url'")
    if url is not None:
        if not isinstance(url, str) or not url[:8].lower().startswith(("https://", "http://")):
            raise LLMInputError(f"{where}.file.file_url must be an https:// or http:// URL")
        check_text(url, f"{where}.file.file_url")
        return DocumentPart(url=url, filename=filename, citations=citations)
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise LLMInputError(
            f"{where}.file.file_data must be a data URL like 'data:application/pdf;base64,<data>'"
        )
    parts = split_data_url(data_url)
    if parts is None:
        raise LLMInputError(f"{where}.file.file_data: the data URL is not base64 ('...;base64,')")
    media, payload = parts
    if media not in DOCUMENT_TYPES:
        raise LLMInputError(
            f"{where}.file.file_data: media type {media!r} is not a document type; use "
            f"{' or '.join(DOCUMENT_TYPES)}"
        )
    data = decode_base64(payload, where, "the data URL's payload")
    document_bytes_type(data, where=where, declared=media)
    _check_size(data, where, limit)
    return DocumentPart(media, payload, None, filename, citations=citations)


def _citations(raw: Any, where: str) -> bool:
    """A document part's `citations`: True/False, or Anthropic's {"enabled": bool}."""
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, Mapping) and set(raw) == {"enabled"} and isinstance(raw["enabled"], bool):
        return bool(raw["enabled"])
    raise LLMInputError(f"{where}.citations must be true, false or {{'enabled': true}}")


def parse_audio_part(raw: Mapping[str, Any], where: str, limit: FileLimit | None) -> AudioPart:
    """`{"type": "input_audio", "input_audio": {"data": "<base64>", "format": "wav"}}` ->
    a checked `AudioPart`."""
    check_known_keys(raw, frozenset({"type", "input_audio", "cache_control"}), where)
    audio = raw.get("input_audio")
    if not isinstance(audio, Mapping):
        raise LLMInputError(
            f"{where}: an audio part is {{'type': 'input_audio', 'input_audio': "
            "{'data': '<base64>', 'format': 'wav' or 'mp3'}}"
        )
    check_known_keys(audio, _AUDIO_KEYS, f"{where}.input_audio")
    fmt = audio.get("format")
    if fmt not in AUDIO_FORMATS:
        raise LLMInputError(f"{where}.input_audio.format must be 'wav' or 'mp3', got {fmt!r}")
    data = decode_base64(audio.get("data"), where, "input_audio.data")
    actual = sniff_audio_format(data)
    if actual != fmt:
        found = f"the bytes are {actual}" if actual else "the bytes are neither WAV nor MP3"
        raise LLMInputError(f"{where}: declared as {fmt!r} but {found}")
    _check_size(data, where, limit)
    return AudioPart(audio["data"], fmt)
