"""`file_part`, `image_part`, `audio_part`: read, check the bytes, build the part."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from llm_context import LLMContext, LLMInputError, audio_part, file_part, image_part
from llm_context.testing import FakeProviderServer
from llm_context.testing.defaults import TINY_PNG

PDF = b"%PDF-1.4\n%%EOF\n"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28
MP3_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 16
MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 16


def test_file_part_from_a_path_keeps_its_name(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(PDF)
    part = file_part(path)
    assert part == {
        "type": "file",
        "file": {
            "file_data": "data:application/pdf;base64," + base64.b64encode(PDF).decode(),
            "filename": "report.pdf",
        },
    }


def test_file_part_text_and_bytes_and_url() -> None:
    text = file_part("héllo".encode(), filename="notes.txt")
    assert text["file"]["file_data"].startswith("data:text/plain;base64,")
    assert text["file"]["filename"] == "notes.txt"
    assert file_part(PDF)["file"]["filename"] == "document.pdf"
    url = "https://example.com/report.pdf"
    assert file_part(url) == {"type": "file", "file": {"file_url": url}}


def test_file_part_refuses_bytes_that_contradict_the_type(tmp_path: Path) -> None:
    with pytest.raises(LLMInputError, match="declared as 'application/pdf'"):
        file_part(b"just text", media_type="application/pdf")
    with pytest.raises(LLMInputError, match="not a PDF"):
        file_part(b"\xff\xfe\x00binary")
    secret = tmp_path / "secrets.pdf"  # the name says PDF; the bytes decide
    secret.write_text("API_KEY=x")
    assert file_part(secret)["file"]["file_data"].startswith("data:text/plain;")
    with pytest.raises(LLMInputError, match="no such file"):
        file_part(tmp_path / "missing.pdf")


def test_image_part() -> None:
    part = image_part(TINY_PNG, detail="low")
    assert part["image_url"]["url"].startswith("data:image/png;base64,")
    assert part["image_url"]["detail"] == "low"
    with pytest.raises(LLMInputError, match="declared as 'image/jpeg'"):
        image_part(TINY_PNG, media_type="image/jpeg")
    with pytest.raises(LLMInputError, match="not an image"):
        image_part(PDF)


def test_audio_part_sniffs_wav_and_mp3() -> None:
    assert audio_part(WAV)["input_audio"]["format"] == "wav"
    assert audio_part(MP3_ID3)["input_audio"]["format"] == "mp3"
    assert audio_part(MP3_FRAME, media_type="audio/mpeg")["input_audio"]["format"] == "mp3"
    with pytest.raises(LLMInputError, match="declared as 'mp3'"):
        audio_part(WAV, format="mp3")
    with pytest.raises(LLMInputError, match="not WAV or MP3"):
        audio_part(PDF)


def test_helper_parts_go_through_chat(ctx: LLMContext, fake: FakeProviderServer) -> None:
    content = ["What is in these?", file_part(PDF, filename="a.pdf"), audio_part(WAV)]
    text = ctx.llm("openai").chat_sync([{"role": "user", "content": content}]).text
    assert "[attached: a.pdf, audio (wav)]" in text
