"""Documents and audio, the same user-level tests for every provider (as test_features.py):
each provider that takes them sends its wire's shape; the others raise
`LLMUnsupportedFeatureError`; bad parts raise `LLMInputError` naming the part, nothing sent.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from llm_context import Feature, LLMContext, LLMInputError, LLMUnsupportedFeatureError
from llm_context.providers.registry import spec_for
from llm_context.testing import FakeProviderServer, Reply

from .conftest import built_providers
from .test_features import has, values_of

pytestmark = pytest.mark.parametrize("provider", built_providers())

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PDF_B64 = base64.b64encode(PDF).decode()
WAV_B64 = base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28).decode()
PDF_PART: dict[str, Any] = {
    "type": "file",
    "file": {"file_data": f"data:application/pdf;base64,{PDF_B64}", "filename": "report.pdf"},
}
AUDIO_PART = {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}}
# Each wire's document part: the part type (or Gemini's media type) that must carry the PDF.
DOCUMENT_SHAPES = {
    "openai": "input_file",
    "azure": "file",
    "anthropic": "document",
    "google": "application/pdf",
    "openrouter": "file",
}


def test_document_and_audio_input(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    """A PDF and a WAV clip reach each wire in its own shape; where the registry says a
    provider lacks them, they raise before anything is sent."""
    llm = ctx.llm(provider)
    for feature, part in ((Feature.DOCUMENTS, PDF_PART), (Feature.AUDIO, AUDIO_PART)):
        messages = [{"role": "user", "content": [{"type": "text", "text": "Summarise"}, part]}]
        if not has(provider, feature):
            with pytest.raises(LLMUnsupportedFeatureError) as info:
                llm.chat_sync(messages)
            assert info.value.feature == feature.value
            continue
        fake.script(Reply("Read it"))
        assert llm.chat_sync(messages).text == "Read it"
        body = fake.last_request.json
        payload = PDF_B64 if feature is Feature.DOCUMENTS else WAV_B64
        # Gemini's SDK sends URL-safe base64: compare in the standard alphabet.
        assert payload in fake.last_request.body.decode().replace("-", "+").replace("_", "/")
        if feature is Feature.DOCUMENTS:
            shapes = values_of(body, {"type", "mimeType", "mime_type"})
            assert DOCUMENT_SHAPES[provider] in shapes
        else:
            assert values_of(body, {"format"}) == ["wav"] or "audio/wav" in values_of(
                body, {"mimeType", "mime_type"}
            )
    if not has(provider, Feature.DOCUMENTS):
        assert fake.requests == []


def test_bad_document_and_audio_input_sends_nothing(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = ctx.llm(provider)
    pdf_as_text = {"type": "file", "file": {"file_data": f"data:text/plain;base64,{PDF_B64}"}}
    not_b64 = {"type": "file", "file": {"file_data": "data:application/pdf;base64,%%%"}}
    not_data_url = {"type": "file", "file": {"file_data": "data:application/pdf,%PDF-1.4"}}
    mp3_is_wav = {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "mp3"}}
    extra_key = {"type": "file", "file": {**PDF_PART["file"], "password": "x"}}
    for part in [pdf_as_text, not_b64, not_data_url, mp3_is_wav, extra_key, {"type": "video"}]:
        messages = [{"role": "user", "content": [{"type": "text", "text": "Hi"}, part]}]
        with pytest.raises(LLMInputError, match=r"messages\[0\]\.content\[1\]"):
            llm.chat_sync(messages)
    limit = spec_for(provider).max_file_bytes
    if limit is not None:
        big = base64.b64encode(b"%PDF-1.4\n" + b"0" * limit).decode()
        part = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{big}"}}
        with pytest.raises(LLMInputError, match=r"messages\[0\]\.content\[0\].*limit"):
            llm.chat_sync([{"role": "user", "content": [part]}])
    assert fake.requests == []


def test_fake_server_echoes_what_was_attached(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    if not has(provider, Feature.DOCUMENTS):
        pytest.skip(f"{provider} takes no documents")
    text = ctx.llm(provider).chat_sync([{"role": "user", "content": ["Summarise", PDF_PART]}]).text
    assert "You said: Summarise [attached: " in text
    assert "report.pdf" in text or "application/pdf" in text


def test_documents_stream_and_async(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    if not has(provider, Feature.DOCUMENTS):
        pytest.skip(f"{provider} takes no documents")
    llm = ctx.llm(provider)
    messages = [{"role": "user", "content": ["Summarise", PDF_PART]}]
    fake.script(Reply(deltas=("A ", "report.")), Reply("Async read"))
    assert llm.chat_stream_sync(messages).text == "A report."
    assert asyncio.run(llm.chat(messages)).text == "Async read"
    assert all(
        PDF_B64[:40] in r.body.decode().replace("-", "+").replace("_", "/") for r in fake.requests
    )
