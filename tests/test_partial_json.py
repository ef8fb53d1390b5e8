"""PartialJson: every prefix of a JSON document parses to a value that only grows, and the
whole document to exactly `json.loads` of it (a Hypothesis property over random documents
and piece sizes)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_context.contract.partial_json import PartialJson

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def grows(before: Any, after: Any) -> bool:
    """`after` holds everything `before` held (strings may only get longer)."""
    if isinstance(before, dict):
        return isinstance(after, dict) and all(
            k in after and grows(v, after[k]) for k, v in before.items()
        )
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(before) <= len(after)
            and all(grows(x, y) for x, y in zip(before, after, strict=False))
        )
    if isinstance(before, str):
        return isinstance(after, str) and after.startswith(before)
    return bool(before == after)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=5), VALUES, max_size=5),
    st.booleans(),
    st.sampled_from([None, 1]),
    st.integers(1, 9),
)
def test_every_prefix_parses_and_only_grows(
    doc: dict[str, Any], ascii_only: bool, indent: int | None, step: int
) -> None:
    text = json.dumps(doc, ensure_ascii=ascii_only, indent=indent)
    parser = PartialJson()
    shown: Any = None
    for i in range(0, len(text), step):
        value = parser.feed(text[i : i + step])
        if shown is not None:
            assert value is not None and grows(shown, value), (shown, value, text[: i + step])
        shown = value if value is not None else shown
    assert parser.value() == json.loads(text)


def test_what_is_left_out_until_complete() -> None:
    parser = PartialJson()
    assert parser.feed('{"n": 12') == {}  # 12 may become 123
    assert parser.feed('3, "ok": tr') == {"n": 123}  # half a `true`
    assert parser.feed('ue, "na') == {"n": 123, "ok": True}  # a key without its value
    assert parser.feed('me": "Os') == {"n": 123, "ok": True, "name": "Os"}  # a string grows
    assert parser.feed("lo\\") == {"n": 123, "ok": True, "name": "Oslo"}  # half an escape
    assert parser.feed('u00e6"}') == {"n": 123, "ok": True, "name": "Oslo\u00e6"}


def test_text_before_the_object_is_skipped() -> None:
    parser = PartialJson()
    assert parser.feed("Sure! Here is") is None
    assert parser.feed(" the JSON:\n```json\n") is None
    assert parser.feed('{"a": [1, ') == {"a": [1]}
