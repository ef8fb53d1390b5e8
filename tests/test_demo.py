"""The offline demo runs end to end for every built provider."""

from __future__ import annotations

import io

from llm_context import demo

from .conftest import built_providers


def test_demo_runs_for_every_built_provider() -> None:
    out = io.StringIO()
    assert demo.main(out) == 0
    text = out.getvalue()
    for provider in built_providers():
        assert f"== {provider} ==" in text
    assert text.count("-> 'It is 18C and sunny in Oslo.'") == len(built_providers())
    assert "{'city': 'Oslo', 'country': 'Norway'}" in text
    assert "You said: What is this report about? [attached: report.pdf]" in text
    # The promise: a second call read from the prompt cache on at least one provider
    # (OpenAI by prompt_cache_key, Anthropic by markers).
    assert text.count("input tokens read from the prompt cache") >= 2
