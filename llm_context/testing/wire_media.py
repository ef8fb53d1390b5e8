"""Document and audio parts on every wire the fake serves.

`part_error` mirrors the APIs' 400s for a malformed `input_file` / `file` / `document` /
`input_audio` part (so an adapter that sends a wrong shape fails its tests), and
`attachments` names what arrived, which the default answers echo (`[attached: report.pdf]`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any

__all__ = ["attachments", "part_error", "request_error", "with_attachments"]

_AUDIO_FORMATS = ("wav", "mp3")


def _data_url_error(value: Any, where: str) -> str | None:
    if not isinstance(value, str) or not value.startswith("data:"):
        return f"{where}: expected a base64 data URL"
    header, _, payload = value.partition(",")
    if ";base64" not in header:
        return f"{where}: expected a base64 data URL"
    return _base64_error(payload, where)


def _base64_error(value: Any, where: str) -> str | None:
    try:
        base64.b64decode(value if isinstance(value, str) else "?", validate=True)
    except (binascii.Error, ValueError):
        return f"{where}: invalid base64 data"
    return None


def _audio_error(part: dict[str, Any], where: str) -> str | None:
    audio = part.get("input_audio")
    if not isinstance(audio, dict) or audio.get("format") not in _AUDIO_FORMATS:
        return f"{where}.input_audio.format: must be 'wav' or 'mp3'"
    return _base64_error(audio.get("data"), f"{where}.input_audio.data")


def _input_file_error(part: dict[str, Any], where: str) -> str | None:
    """Responses `input_file`: one of file_data (with a filename), file_url or file_id."""
    given = [k for k in ("file_data", "file_url", "file_id") if part.get(k) is not None]
    if len(given) != 1:
        return f"{where}: give exactly one of file_data, file_url and file_id"
    if "file_data" in given:
        if not part.get("filename"):
            return f"Missing required parameter: '{where}.filename'."
        return _data_url_error(part["file_data"], f"{where}.file_data")
    return None


def _chat_file_error(part: dict[str, Any], where: str) -> str | None:
    """Chat Completions `file`: file_data (a data URL; OpenRouter also takes a URL) or file_id."""
    file = part.get("file")
    if not isinstance(file, dict) or not (file.get("file_data") or file.get("file_id")):
        return f"{where}.file: file_data or file_id is required"
    data = file.get("file_data")
    if isinstance(data, str) and data.startswith(("https://", "http://")):
        return None
    return None if data is None else _data_url_error(data, f"{where}.file.file_data")


def _document_error(block: dict[str, Any], where: str) -> str | None:
    """Anthropic `document`: a base64 PDF, a text source or a URL source."""
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and source is not None:
        if source.get("media_type") != "application/pdf":
            return f"{where}.source.media_type: Input should be 'application/pdf'"
        return _base64_error(source.get("data"), f"{where}.source.data")
    if kind == "text" and source is not None:
        if source.get("media_type") != "text/plain" or not isinstance(source.get("data"), str):
            return f"{where}.source: a text source is {{media_type: 'text/plain', data: str}}"
        return None
    if kind == "url" and source is not None:
        return None if isinstance(source.get("url"), str) else f"{where}.source.url: required"
    return f"{where}.source.type: must be base64, text, url, content or file"


def part_error(part: Any, where: str) -> str | None:
    """The API's complaint about one content part, or None (other part types pass)."""
    if not isinstance(part, dict):
        return None
    match part.get("type"):
        case "input_file":
            return _input_file_error(part, where)
        case "file":
            return _chat_file_error(part, where)
        case "document":
            return _document_error(part, where)
        case "input_audio":
            return _audio_error(part, where)
        case _:
            return None


def _contents(body: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    """Each message's content list, with its path (Responses `input`, or `messages`)."""
    for key in ("input", "messages"):
        items = body.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, list):
                yield f"{key}[{i}].content", content


def request_error(body: dict[str, Any]) -> str | None:
    """The first malformed document or audio part of a request body, else None."""
    for where, content in _contents(body):
        for j, part in enumerate(content):
            error = part_error(part, f"{where}[{j}]")
            if error is not None:
                return error
    return None


def _label(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if kind == "input_file":
        return str(node.get("filename") or str(node.get("file_url", "file")).rsplit("/", 1)[-1])
    if kind == "file" and isinstance(node.get("file"), dict):
        return str(node["file"].get("filename") or "file")
    if kind == "document":
        return str(node.get("title") or "document")
    if kind == "input_audio" and isinstance(node.get("input_audio"), dict):
        return f"audio ({node['input_audio'].get('format')})"
    blob = node.get("inlineData") or node.get("inline_data")
    if isinstance(blob, dict):
        media = str(blob.get("mimeType") or blob.get("mime_type") or "")
        return None if media.startswith("image/") else media
    return None


def attachments(node: Any) -> list[str]:
    """A label for every document and audio part anywhere in a request body."""
    if isinstance(node, dict):
        label = _label(node)
        found = [label] if label else []
        return found + [x for v in node.values() for x in attachments(v)]
    if isinstance(node, list):
        return [x for v in node for x in attachments(v)]
    return []


def with_attachments(text: str, body: Any) -> str:
    """The user's text, and what was attached to it (the default answers echo both)."""
    names = attachments(body)
    return f"{text} [attached: {', '.join(names)}]" if names else text
