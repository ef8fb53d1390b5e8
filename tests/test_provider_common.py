"""providers.common.stream_events / closing_stream: the SDK stream is closed on every way out.

The SDK stream here is a plain generator, which is what google-genai's
`generate_content_stream` returns (openai / anthropic `Stream` have the same `close()`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_context.errors import LLMServerError
from llm_context.providers.shared.sdk import closing_stream, stream_events
from llm_context.streams.events import StreamEvent, TextDelta


class SdkStream:
    """Items "abc", recording whether it was closed (and whether it ran to the end)."""

    def __init__(self) -> None:
        self.closed = self.finished = False
        self.items = self._items()

    def _items(self) -> Iterator[str]:
        try:
            yield from "abc"
            self.finished = True
        finally:
            self.closed = True

    def __iter__(self) -> Iterator[str]:
        return self.items

    def close(self) -> None:
        self.items.close()


def parse(item: str) -> Iterator[StreamEvent]:
    if item == "x":
        raise LLMServerError("bad event", provider="test")
    yield TextDelta(item)
    yield TextDelta(item.upper())


def test_every_item_is_parsed_and_the_stream_closed() -> None:
    sdk = SdkStream()
    events = list(stream_events(sdk, parse))
    assert [e.text for e in events if isinstance(e, TextDelta)] == list("aAbBcC")
    assert sdk.finished and sdk.closed


def test_a_parse_error_closes_the_stream() -> None:
    sdk = SdkStream()
    events = stream_events(sdk, lambda item: parse("x" if item == "b" else item))
    assert next(events) == TextDelta("a")
    next(events)
    with pytest.raises(LLMServerError, match="bad event"):
        next(events)
    assert sdk.closed and not sdk.finished


def test_a_caller_stopping_early_closes_the_stream() -> None:
    sdk = SdkStream()
    events = stream_events(sdk, parse)
    assert next(events) == TextDelta("a")
    assert not sdk.closed
    events.close()
    assert sdk.closed and not sdk.finished


def test_closing_stream_wraps_a_whole_stream_parser() -> None:
    sdk = SdkStream()
    events = closing_stream(sdk, (TextDelta(item) for item in sdk))
    assert next(events) == TextDelta("a")
    events.close()
    assert sdk.closed and not sdk.finished
