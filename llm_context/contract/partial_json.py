"""The best parse of JSON text that is still arriving: what a stream of JSON output says so far.

`PartialJson.feed(delta)` takes each piece and returns the value of the text so far, closed
where it stops: open objects and arrays are closed, a string value that is still being
written is kept as far as it goes, and a key without its value, a number that may go on
(`12` could become `123`) or a half-written `true` is left out until it is complete. Text
before the first `{` or `[` (a code fence, a sentence) is skipped. So each
value holds at least what the one before held, and the last one equals `json.loads` of the
whole text. The scan is incremental (each character is read once); only the short closing
of the text so far is parsed per piece, by the C `json` decoder.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["PartialJson"]

_CLOSER = {"{": "}", "[": "]"}
_DELIMITERS = frozenset(",}] \t\r\n")


class PartialJson:
    """Incremental scanner of one JSON document; see the module docstring."""

    def __init__(self) -> None:
        self.text = ""
        self._stack: list[str] = []  # open containers: "{" or "["
        self._expect: list[str] = []  # per container: "key", "colon", "value" or "comma"
        self._in_string = False
        self._string_is_value = False
        self._escape = False
        self._scalar = False  # inside a number or literal
        self._cut = 0  # the text up to here closes into valid JSON ...
        self._closers = ""  # ... with these characters
        self._string_start = 0
        self._begin = 0  # where the document starts (after any prose before it)
        self._done = False

    def feed(self, delta: str) -> Any:
        """Add a piece of text; the value of everything so far (None before any value)."""
        start = len(self.text)
        self.text += delta
        for i in range(start, len(self.text)):
            self._step(self.text[i], i)
        return self.value()

    def value(self) -> Any:
        """The value of the text so far, closed where it stops (None before any value)."""
        if self._in_string and self._string_is_value:
            body = self.text[self._string_start :]
            body = _whole_escapes(body)
            candidate = self.text[self._begin : self._string_start] + body + '"' + self._closing()
        elif self._cut:
            candidate = self.text[self._begin : self._cut] + self._closers
        else:
            return None
        try:
            return json.loads(candidate)
        except ValueError:  # not JSON at all (a model that wrote prose): nothing to show
            return None

    def _closing(self) -> str:
        return "".join(_CLOSER[c] for c in reversed(self._stack))

    def _safe(self, end: int) -> None:
        """The text up to `end` is a complete prefix: remember how to close it."""
        self._cut = end
        self._closers = self._closing()

    def _value_done(self, end: int) -> None:
        if self._expect:
            self._expect[-1] = "comma"
        else:
            self._done = True
        self._safe(end)

    def _step(self, ch: str, i: int) -> None:
        if self._in_string:
            if self._escape:
                self._escape = False
            elif ch == "\\":
                self._escape = True
            elif ch == '"':
                self._in_string = False
                if self._string_is_value:
                    self._value_done(i + 1)
                elif self._expect:
                    self._expect[-1] = "colon"
            return
        if self._scalar:
            if ch not in _DELIMITERS:
                return
            self._scalar = False
            self._value_done(i)
        if ch in " \t\r\n" or self._done:
            return
        if not self._stack and ch not in "{[":
            return  # before the object or array: prose or a ``` fence a model put first
        expect = self._expect[-1] if self._expect else "value"
        if ch in "{[":
            if not self._stack and not self._cut:
                self._begin = i
            self._stack.append(ch)
            self._expect.append("key" if ch == "{" else "value")
            self._safe(i + 1)
        elif ch in "}]":
            if self._stack:
                self._stack.pop()
                self._expect.pop()
                self._value_done(i + 1)
        elif ch == '"':
            self._in_string = True
            self._string_is_value = expect == "value"
            self._string_start = i + 1
        elif ch == ":":
            if self._expect:
                self._expect[-1] = "value"
        elif ch == ",":
            if self._expect:
                self._expect[-1] = "key" if self._stack[-1] == "{" else "value"
        else:
            self._scalar = True  # a number, true, false or null: complete at a delimiter


def _whole_escapes(body: str) -> str:
    """`body` without a trailing escape that is not complete yet (`\\`, `\\u12`, or the
    first half of a surrogate pair)."""
    cut = body.rfind("\\")
    if cut == -1:
        return body
    # An even run of backslashes is escaped backslashes, not an escape that goes on.
    before = body[:cut]
    if (1 + len(before) - len(before.rstrip("\\"))) % 2 == 0:
        return body
    tail = body[cut + 1 :]
    if tail[:1] == "u":
        if len(tail) < 5:
            return _whole_escapes(before)  # the escape before may be half a surrogate pair
        # A high surrogate at the very end waits for the low one that completes the pair.
        high = len(tail) == 5 and tail[1:3].lower() in ("d8", "d9", "da", "db")
        return before if high else body
    return body if tail else _whole_escapes(before)
