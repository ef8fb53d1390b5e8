"""`${VAR}` and `${VAR:-default}` in profile values, filled from the environment (`$${` is a
literal `${`). A value that came from the environment is a `FromEnv` string, so a numeric
field may parse it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .problems import Problem

__all__ = ["FromEnv", "interpolate"]


class FromEnv(str):
    """A string that came out of `${VAR}` interpolation: numeric fields may parse it."""

    __slots__ = ()


_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-([^{}]*))?")


def _interpolate_text(text: str, environ: Mapping[str, str]) -> str:
    """`text` with `${VAR}` / `${VAR:-default}` replaced; `$${` is a literal `${`."""
    out: list[str] = []
    pos, substituted = 0, False
    while (start := text.find("$", pos)) >= 0:
        out.append(text[pos:start])
        if text.startswith("$${", start):
            out.append("${")
            pos = start + 3
            continue
        if not text.startswith("${", start):
            out.append("$")
            pos = start + 1
            continue
        end = text.find("}", start + 2)
        match = _REF.fullmatch(text, start + 2, end) if end >= 0 else None
        if match is None:
            # The reference itself is never echoed: a default may hold a literal secret.
            raise Problem(
                f"malformed ${{...}} reference at character {start + 1}; "
                "write ${NAME} or ${NAME:-default} (and $${ for a literal ${)"
            )
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (default is not None and value == ""):
            if default is None:
                raise Problem(
                    f"environment variable {name} is not set; "
                    f"set it, or write ${{{name}:-default}} to give a default"
                )
            value = default
        out.append(value)
        pos, substituted = end + 1, True
    out.append(text[pos:])
    result = "".join(out)
    return FromEnv(result) if substituted else result


def interpolate(value: object, environ: Mapping[str, str]) -> object:
    """Interpolate every string inside `value` (mappings and lists included)."""
    if isinstance(value, str):
        return _interpolate_text(value, environ)
    if isinstance(value, Mapping):
        out: dict[object, object] = {}
        for key, item in value.items():
            try:
                out[key] = interpolate(item, environ)
            except Problem as exc:
                raise exc.under(str(key)) from None
        return out
    if isinstance(value, (list, tuple)):
        items: list[object] = []
        for index, item in enumerate(value):
            try:
                items.append(interpolate(item, environ))
            except Problem as exc:
                raise exc.under(f"[{index}]") from None
        return items
    return value
