"""Bad input is an `LLMInputError` naming the place and the fix, with nothing sent; what the
caller's own schema accepts is accepted. Through the real SDKs against the fake server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pydantic
import pytest
import yaml

from llm_context import Feature, LLMContext, LLMError, LLMInputError, LLMOutputError
from llm_context.cli import main
from llm_context.contract.images import sniff_image_type
from llm_context.providers.registry import spec_for
from llm_context.testing import FakeProviderServer, ImageReply, Reply
from llm_context.testing.defaults import TINY_PNG

from .conftest import FAST_RETRY, built_providers, make_context

PROVIDERS = built_providers()
HELLO = [{"role": "user", "content": "Hello"}]
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88"
BAD = "\ud800"  # a lone surrogate: no UTF-8 encoding


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{b64(data)}"


def can(provider: str, feature: Feature) -> bool:
    return feature in spec_for(provider).features


def image_message(url: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]},
    ]


# -- 1. images are real images -------------------------------------------------------------


def test_sniff_image_type_reads_the_signature() -> None:
    assert sniff_image_type(TINY_PNG) == "image/png"
    assert sniff_image_type(JPEG) == "image/jpeg"
    assert sniff_image_type(GIF) == "image/gif"
    assert sniff_image_type(WEBP) == "image/webp"
    assert sniff_image_type(b"RIFF\x1a\x00\x00\x00WAVEfmt ") is None  # RIFF, but audio
    assert sniff_image_type(b"API_KEY=sk-...") is None
    assert sniff_image_type(b"") is None


EDITORS = [p for p in PROVIDERS if can(p, Feature.IMAGE_EDIT)]


@pytest.mark.parametrize("provider", EDITORS)
def test_input_images_refuse_what_is_not_an_image(
    ctx: LLMContext, fake: FakeProviderServer, provider: str, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.txt"
    secrets.write_text("OPENAI_API_KEY=sk-not-a-picture\n")
    disguised = tmp_path / "holiday.png"  # the name says PNG; the bytes say otherwise
    disguised.write_bytes(b"%PDF-1.7 ...")
    llm = ctx.llm(provider)
    cases: list[tuple[Any, str]] = [
        (secrets, r"input_images\[0\]: not an image \(they look like text\); pass a PNG"),
        (str(disguised), r"input_images\[0\]: not an image \(they look like a PDF\)"),
        (b"just bytes", r"input_images\[0\]: not an image"),
        (data_url(b"hello"), r"input_images\[0\]: not an image"),
        (data_url(TINY_PNG, "image/jpeg"), r"declared as 'image/jpeg' but the bytes are image/png"),
        ("https://example.com/cat.png", r"input_images\[0\]: image URLs are not accepted.*bytes"),
        (str(tmp_path / "missing.png"), r"input_images\[0\]: no such file"),
        (tmp_path, r"input_images\[0\]: .* is a folder"),
    ]
    for image, message in cases:
        with pytest.raises(LLMInputError, match=message) as info:
            llm.generate_image_sync("add a hat", input_images=[image])
        assert "sk-not-a-picture" not in str(info.value)
    assert fake.requests == []


def _sent_image_types(fake: FakeProviderServer) -> list[str]:
    """The media types of the edit's images, as the provider received them."""
    request = fake.last_request
    body = request.json
    assert isinstance(body, dict)
    if request.path.endswith("/images/edits"):  # multipart: one file or a list
        files = body.get("image[]", body.get("image"))
        return [f["content_type"] for f in (files if isinstance(files, list) else [files])]
    return [mime_type(p) for p in body["contents"][0]["parts"][1:]]


def mime_type(part: dict[str, Any]) -> str:
    blob = part["inlineData"]
    return str(blob.get("mimeType") or blob["mime_type"])  # the SDK's spelling varies


@pytest.mark.parametrize("provider", EDITORS)
def test_input_image_type_comes_from_the_bytes(
    ctx: LLMContext, fake: FakeProviderServer, provider: str, tmp_path: Path
) -> None:
    misnamed = tmp_path / "photo.jpg"  # a PNG with a JPEG name
    misnamed.write_bytes(TINY_PNG)
    fake.script(ImageReply())
    ctx.llm(provider).generate_image_sync("add a hat", input_images=[misnamed])
    assert _sent_image_types(fake) == ["image/png"]
    if provider != "google":
        assert fake.last_request.json["image[]"]["filename"] == "photo.png"
    fake.script(ImageReply())
    ctx.llm(provider).generate_image_sync("add a hat", input_images=[JPEG])
    assert _sent_image_types(fake) == ["image/jpeg"]


VISION = [p for p in PROVIDERS if can(p, Feature.VISION)]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_message_data_urls_must_hold_the_declared_image(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = ctx.llm(provider)
    cases = {
        data_url(b"password=hunter2", "image/png"): r"not an image \(they look like text\)",
        data_url(TINY_PNG, "image/gif"): r"declared as 'image/gif' but the bytes are image/png",
        data_url(JPEG, "image/webp"): r"declared as 'image/webp' but the bytes are image/jpeg",
    }
    for url, message in cases.items():
        with pytest.raises(LLMInputError, match=r"messages\[1\]\.content\[0\]: " + message):
            llm.chat_sync(image_message(url))
        with pytest.raises(LLMInputError, match=r"messages\[1\]\.content\[0\]"):
            llm.stream_sync(image_message(url))
    assert fake.requests == []


@pytest.mark.parametrize("provider", VISION)
def test_message_images_are_sent_with_the_type_of_their_bytes(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    # 'image/jpg' is what people write: it is the JPEG it names, sent as image/jpeg.
    ctx.llm(provider).chat_sync(image_message(data_url(JPEG, "image/jpg")))
    body = fake.last_request.body.decode()
    assert "image/jpeg" in body and "image/jpg" not in body
    for data, media in ((GIF, "image/gif"), (WEBP, "image/webp")):
        ctx.llm(provider).chat_sync(image_message(data_url(data, media)))
        assert media in fake.last_request.body.decode()


@pytest.fixture
def fetching(fake: FakeProviderServer) -> Iterator[LLMContext]:
    """The google profile may download images from the fake server (127.0.0.1)."""
    context = make_context(fake, extras={"allow_private_image_urls": True})
    yield context
    context.close()


def test_google_refuses_a_url_whose_bytes_are_not_an_image(
    fetching: LLMContext, fake: FakeProviderServer
) -> None:
    # Served as image/png, but the bytes are text: the bytes decide.
    fake.script(ImageReply(b64_images=[b64(b"<html>login</html>")]))
    url = f"{fake.url}/fake-assets/cat.png"
    with pytest.raises(LLMInputError, match=r"did not return an image .*pass the URL of a real"):
        fetching.llm("google").chat_sync(image_message(url))
    assert [r.endpoint for r in fake.requests] == ["asset"]  # the download, no model call


def test_google_sends_a_fetched_image_with_the_type_of_its_bytes(
    fetching: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(ImageReply(b64_images=[b64(JPEG)]))  # served as image/png
    fetching.llm("google").chat_sync(image_message(f"{fake.url}/fake-assets/photo.png"))
    parts = fake.last_request.json["contents"][0]["parts"]
    assert mime_type(parts[0]) == "image/jpeg"


@pytest.fixture
def cli_profiles(fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(fake.profiles(openai={"retry": FAST_RETRY})))
    monkeypatch.chdir(tmp_path)
    return path


def test_cli_image_input_must_be_an_image(
    fake: FakeProviderServer, cli_profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cli_profiles.parent / "notes.txt").write_text("not a picture")
    status = main(["image", "add a boat", "--input", "notes.txt", "-o", "out.png"])
    err = capsys.readouterr().err
    assert status == 2
    assert "--input notes.txt: not an image (they look like text)" in err
    assert fake.requests == []
    (cli_profiles.parent / "in.jpeg").write_bytes(TINY_PNG)
    assert main(["image", "add a boat", "--input", "in.jpeg", "-o", "out.png"]) == 0
    assert fake.last_request.json["image[]"]["content_type"] == "image/png"


# -- 2. text that cannot be encoded --------------------------------------------------------

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


def _conversation(**where: Any) -> list[dict[str, Any]]:
    """A tool round trip with `where`'s texts swapped in."""
    return [
        {"role": "system", "content": where.get("system", "Be brief.")},
        {"role": "user", "content": [{"type": "text", "text": where.get("part", "Weather?")}]},
        {"role": "assistant", "content": None, "tool_calls": [where.get("call", CALL)]},
        {"role": "tool", "tool_call_id": "c1", "content": where.get("result", "sunny")},
        {"role": "user", "content": where.get("user", "Thanks")},
    ]


BAD_CALL = {**CALL, "function": {"name": "get_weather", "arguments": '{"city": "\\ud800"}'}}
BAD_TOOL = {**TOOL, "function": {**TOOL["function"], "description": f"Weather {BAD}"}}
BAD_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": f"the city {BAD}"}},
}
UNENCODABLE: dict[str, tuple[dict[str, Any], str]] = {
    "system": ({"messages": _conversation(system=f"Be {BAD}")}, r"messages\[0\]\.content"),
    "text part": ({"messages": _conversation(part=BAD)}, r"messages\[1\]\.content\[0\]"),
    "tool arguments": (
        {"messages": _conversation(call=BAD_CALL)},
        r"messages\[2\]\.tool_calls\[0\]\.function\.arguments\.city",
    ),
    "tool result": ({"messages": _conversation(result=BAD)}, r"messages\[3\]\.content"),
    "user": ({"messages": _conversation(user=f"x{BAD}")}, r"messages\[4\]\.content: .*'\\ud800'"),
    "tool spec": ({"tools": [BAD_TOOL]}, r"tools\[0\]\.description"),
    "json_schema": (
        {"output_format": "json_schema", "json_schema": BAD_SCHEMA},
        r"json_schema\.properties\.city\.description",
    ),
    "stop": ({"stop": ["END", BAD]}, r"stop\[1\]"),
    "model": ({"model": f"m{BAD}"}, r"model"),
    "extra_body": ({"extra_body": {"metadata": {"tag": BAD}}}, r"extra_body\.metadata\.tag"),
}


@pytest.mark.parametrize("case", list(UNENCODABLE))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_unencodable_text_is_refused_before_sending(
    ctx: LLMContext, fake: FakeProviderServer, provider: str, case: str
) -> None:
    given, where = UNENCODABLE[case]
    options = dict(given)
    messages = options.pop("messages", _conversation())
    options.setdefault("tools", [TOOL])
    llm = ctx.llm(provider)
    message = where + r".*lone surrogate that cannot be encoded as UTF-8"
    with pytest.raises(LLMInputError, match=message):
        llm.chat_sync(messages, **options)
    with pytest.raises(LLMInputError, match=where):
        llm.stream_sync(messages, **options)
    assert fake.requests == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unencodable_prompts_and_embeddings_are_refused(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = ctx.llm(provider)
    with pytest.raises(LLMInputError, match=r"messages\[0\]\.content"):
        llm.complete_sync("Hi", system=BAD)
    if can(provider, Feature.EMBED):
        with pytest.raises(LLMInputError, match=r"texts\[1\]"):
            llm.embed_sync(["fine", f"not {BAD}"])
    if can(provider, Feature.IMAGE_GENERATION):
        with pytest.raises(LLMInputError, match="prompt"):
            llm.generate_image_sync(f"a {BAD}")
    assert fake.requests == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_non_ascii_text_still_goes_through(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply("ok"))
    ctx.llm(provider).chat_sync([{"role": "user", "content": "Ærlig talt, 東京 🚀"}])
    assert "東京" in json.dumps(fake.last_request.json, ensure_ascii=False)


# -- 3. a reply the caller's schema accepts is accepted ------------------------------------


class Contact(pydantic.BaseModel):
    name: str
    email: Optional[str] = None  # noqa: UP045 - the spelling the issue is about
    phone: str | None = None
    tone: str = "neutral"  # optional, but not nullable


CONTACT = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "nick": {"type": "string"}},
    "required": ["name"],
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_optional_fields_may_be_left_out_of_a_strict_reply(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = ctx.llm(provider)
    fake.script(Reply.json({"name": "Ada"}), Reply.json({"name": "Ada", "nick": "ada"}))
    typed = llm.chat_sync(HELLO, output_format="json_schema", json_schema=Contact)
    assert typed.parsed == Contact(name="Ada")
    plain = llm.chat_sync(HELLO, output_format="json_schema", json_schema=CONTACT)
    assert plain.parsed == {"name": "Ada", "nick": "ada"}
    # Strict mode's own way of leaving out: null for an optional property.
    fake.script(
        Reply.json({"name": "Ada", "email": None, "phone": None, "tone": None}),
        Reply.json({"name": "Ada", "nick": None}),
    )
    typed = llm.chat_sync(HELLO, output_format="json_schema", json_schema=Contact)
    assert typed.parsed == Contact(name="Ada", tone="neutral")
    plain = llm.chat_sync(HELLO, output_format="json_schema", json_schema=CONTACT)
    assert plain.parsed == {"name": "Ada"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_checks_against_the_callers_schema(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply.json({"name": "Grace"}), Reply.json({"nick": "no name"}))
    llm = ctx.llm(provider)
    result = llm.chat_stream_sync(HELLO, output_format="json_schema", json_schema=Contact)
    assert result.parsed == Contact(name="Grace")
    with pytest.raises(LLMOutputError, match="'name' is a required property"):
        llm.chat_stream_sync(HELLO, output_format="json_schema", json_schema=CONTACT)


def test_the_strict_transform_is_still_what_is_sent(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply.json({"name": "Ada"}))
    ctx.llm("openai").chat_sync(HELLO, output_format="json_schema", json_schema=CONTACT)
    sent = fake.last_request.json["text"]["format"]
    assert sent["strict"] is True
    assert sent["schema"]["required"] == ["name", "nick"]
    assert sent["schema"]["properties"]["nick"]["type"] == ["string", "null"]


# -- 4. a provider named without a model takes its default model ---------------------------

WIRE_MODEL = {
    "openai": ("gpt-4.1-mini", lambda r: r.json["model"]),
    "anthropic": ("claude-sonnet-4-6", lambda r: r.json["model"]),
    "google": ("gemini-2.5-flash", lambda r: r.path.split("/")[3].split(":")[0]),
    "openrouter": ("openai/gpt-4.1-mini", lambda r: r.json["model"]),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_override_takes_the_providers_default_model(
    fake: FakeProviderServer, provider: str
) -> None:
    context = LLMContext({"profiles": {}})
    overrides: dict[str, Any] = {"base_url": fake.base_url(provider), "api_key": "test-key"}
    if provider == "azure":
        overrides["azure_deployment"] = "my-deployment"  # Azure's "model" is the deployment
    llm = context.llm(provider=provider, **overrides)
    spec = spec_for(provider)
    assert llm.profile.model == spec.default_model
    if provider in WIRE_MODEL:
        model, on_wire = WIRE_MODEL[provider]
        assert spec.default_model == model and repr(llm).endswith(f"model={model!r})")
        llm.chat_sync(HELLO)
        assert on_wire(fake.last_request) == model
    elif provider == "azure":
        llm.chat_sync(HELLO)
        assert fake.last_request.path == "/openai/deployments/my-deployment/chat/completions"
    else:  # local servers: the model is whatever you have pulled, so there is no default
        with pytest.raises(LLMError, match="no default chat model; set model:"):
            llm.chat_sync(HELLO)
        assert fake.requests == []
    context.close()


def test_switching_provider_takes_the_new_providers_default_model(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    llm = ctx.llm("openai", provider="anthropic", base_url=fake.base_url("anthropic"))
    assert llm.profile.model == "claude-sonnet-4-6"
    assert ctx.llm("openai", provider="openai", model="gpt-x").profile.model == "gpt-x"


def test_overrides_update_the_profile_for_the_whole_context(fake: FakeProviderServer) -> None:
    # What docs/profiles.md says about overrides.
    context = LLMContext(fake.profiles())  # default_profile: openai
    held = context.llm("anthropic")
    context.llm("anthropic", model="claude-haiku-4-5")
    assert context.llm("anthropic").profile.model == "claude-haiku-4-5"
    assert held.profile.model == "claude-sonnet-4-6"  # a client already held keeps its own
    context.llm(model="gpt-4.1")  # no name: the default profile
    assert context.llm("openai").profile.model == "gpt-4.1"
    context.llm_set_key("openai", "gpt-4o", "test-key-2")  # no name: the default profile
    assert context.llm().profile.model == "gpt-4o"
    assert context.llm("openai").profile.api_key == "test-key-2"
    context.close()


# -- 5. unknown chat options get a hint -----------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_chat_options_say_what_to_use(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = ctx.llm(provider)
    cases = {
        "max_tokens": r"'max_tokens' \(use max_output_tokens=\)",
        "system_prompt": r"'system_prompt' \(put \{'role': 'system'",
        "response_format": r"'response_format' \(use output_format='json_object'.*json_schema=",
        "temprature": r"'temprature' \(did you mean 'temperature'\?\)",
        "reasoning_efort": r"'reasoning_efort' \(did you mean 'reasoning_effort'\?\)",
        "zzzz": r"'zzzz'\. Known: .*extra_body",
    }
    for name, message in cases.items():
        with pytest.raises(LLMInputError, match="unknown chat option.*" + message):
            llm.chat_sync(HELLO, **{name: 1})
        with pytest.raises(LLMInputError, match=message):
            llm.stream_sync(HELLO, **{name: 1})
    assert fake.requests == []


# -- 6. raw(path=...) is relative to the versioned API root --------------------------------

MODELS_PATH = {
    "openai": "/v1/models",
    "azure": "/openai/models",  # classic: the version is the api-version query
    "anthropic": "/v1/models",
    "google": "/v1beta/models",
    "openrouter": "/openrouter/v1/models",
    "lmstudio": "/lmstudio/v1/models",
    "ollama": "/ollama/v1/models",
}
ROUTED = {"openai", "google", "openrouter", "lmstudio", "ollama"}  # the fake lists models


@pytest.mark.parametrize("provider", PROVIDERS)
def test_raw_models_hits_the_versioned_models_route(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = ctx.llm(provider)
    for path in ("/models", "models"):
        if provider in ROUTED:
            assert llm.raw_sync(path=path)
        else:  # the fake may not list models here: the recorded path is what counts
            try:
                llm.raw_sync(path=path, retry={"max_attempts": 1})
            except LLMError as exc:
                assert exc.status_code == 404  # type: ignore[attr-defined]
        assert fake.requests[-1].path == MODELS_PATH[provider]
    if provider == "azure":
        assert fake.requests[-1].query == {"api-version": "2024-10-21"}


def test_raw_on_azure_v1_lists_models(fake: FakeProviderServer) -> None:
    context = LLMContext(fake.profiles(azure={"api_version": "v1"}))
    assert context.llm("azure").raw_sync(path="/models")["object"] == "list"
    assert fake.last_request.path == "/openai/v1/models"
    context.close()


def test_raw_path_with_the_version_is_not_doubled(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    body = {"model": "claude-sonnet-4-6", "messages": HELLO}
    for path in ("/v1/messages/count_tokens", "/messages/count_tokens"):
        assert ctx.llm("anthropic").raw_sync(method="POST", path=path, json=body)
        assert fake.last_request.path == "/v1/messages/count_tokens"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_raw_path_mistakes_are_clear(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = ctx.llm(provider)
    with pytest.raises(LLMInputError, match=r"relative to the provider's API root.*url="):
        llm.raw_sync(path="https://api.example.com/v1/models")
    with pytest.raises(LLMInputError, match="url="):
        llm.raw_sync(path="//evil.example.com/models")
    with pytest.raises(LLMInputError, match="non-empty string such as '/models'"):
        llm.raw_sync(path="")
    assert fake.requests == []
