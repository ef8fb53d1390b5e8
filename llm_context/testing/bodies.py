"""Decode request bodies for recording: JSON, or multipart/form-data as a plain dict."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["decode_body", "parse_multipart"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r'(\w+)="([^"]*)"')


def decode_body(content_type: str, body: bytes) -> Any:
    """The body as data: JSON decoded, a multipart form as a dict, anything else None."""
    if not body:
        return None
    if content_type.lower().startswith("multipart/form-data"):
        match = _BOUNDARY.search(content_type)
        return parse_multipart(body, match.group(1)) if match else None
    if body[:1] in (b"{", b"[") or "json" in content_type:
        try:
            return json.loads(body)
        except ValueError:
            return None
    return None


def parse_multipart(body: bytes, boundary: str) -> dict[str, Any]:
    """Form fields as {name: text}; files as {name: {filename, content_type, size}}.

    A name sent more than once (e.g. `image[]` with several files) maps to a list.
    """
    fields: dict[str, Any] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, _, data = part.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = _part_headers(head)
        params = dict(_DISPOSITION_PARAM.findall(headers.get("content-disposition", "")))
        name = params.get("name", "")
        value: Any
        if "filename" in params:
            value = {
                "filename": params["filename"],
                "content_type": headers.get("content-type", "application/octet-stream"),
                "size": len(data),
            }
        else:
            value = data.decode("utf-8", errors="replace")
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields


def _part_headers(head: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out
