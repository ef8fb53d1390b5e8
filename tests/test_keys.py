"""No key leaves by a side door: redirects, error texts that echo user values, profile reprs
and the CLI, third-party DEBUG logs. Every call goes through the real SDKs over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from llm_context import Feature, LLMAuthenticationError, LLMClient, LLMConfigError, LLMContext
from llm_context.providers.registry import spec_for
from llm_context.testing import FakeProviderServer, Fault, Reply
from llm_context.testing.routing import RecordedRequest

from .conftest import built_providers, make_context

PROVIDERS = built_providers()
HELLO = [{"role": "user", "content": "Hello"}]
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")

# A raw request the fake server routes (so it plays the scripted fault) for each provider.
RAW: dict[str, dict[str, Any]] = {
    "openai": {"path": "/models"},
    "azure": {"path": "/v1/models"},
    "anthropic": {"method": "POST", "path": "/v1/messages", "json": {}},
    "google": {"path": "/models"},
    "openrouter": {"path": "/models"},
    "lmstudio": {"path": "/models"},
    "ollama": {"path": "/models"},
}

Operation = Callable[[LLMClient], object]


def _chat(llm: LLMClient) -> object:
    return llm.chat_sync(HELLO).text


def _stream(llm: LLMClient) -> object:
    return "".join(llm.stream_sync(HELLO))


def _embed(llm: LLMClient) -> object:
    return llm.embed_sync(["a text"]).vectors


def _image(llm: LLMClient) -> object:
    return llm.generate_image_sync("a cat").images


def _raw(llm: LLMClient) -> object:
    return llm.raw_sync(**RAW[llm.provider])


OPERATIONS: dict[str, tuple[Operation, Feature | None]] = {
    "chat": (_chat, None),
    "stream": (_stream, Feature.STREAM),
    "embed": (_embed, Feature.EMBED),
    "image": (_image, Feature.IMAGE_GENERATION),
    "raw": (_raw, Feature.RAW),
}

CASES = [
    pytest.param(provider, op, id=f"{provider}-{op}")
    for provider in PROVIDERS
    for op, (_, feature) in OPERATIONS.items()
    if feature is None or feature in spec_for(provider).features
]


def credentials(request: RecordedRequest) -> dict[str, str]:
    """Whatever in a request could be a key: auth headers and a `key` query parameter."""
    found = {name: request.headers[name] for name in CREDENTIAL_HEADERS if name in request.headers}
    if "key" in request.query:
        found["?key"] = request.query["key"]
    return found


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[FakeProviderServer]:
    """A second server on another port: another origin the first one redirects to."""
    with FakeProviderServer() as server:
        yield server


# -- 1. redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "op"), CASES)
def test_a_redirect_to_another_origin_is_refused_and_carries_no_key(
    ctx: LLMContext,
    fake: FakeProviderServer,
    elsewhere: FakeProviderServer,
    provider: str,
    op: str,
) -> None:
    elsewhere.clear()
    fake.script(Fault(307, headers={"location": f"{elsewhere.url}/v1/moved?x=1"}))
    with pytest.raises(LLMConfigError) as info:
        OPERATIONS[op][0](ctx.llm(provider))
    assert [credentials(r) for r in elsewhere.requests] == []  # refused: nothing went there
    assert len(fake.requests) == 1  # and not retried
    text = str(info.value)
    assert f"the server at {fake.url} redirected the request to {elsewhere.url}" in text
    assert "set the profile's base_url" in text and "x=1" not in text


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("op", ["chat", "stream", "raw"])
def test_a_redirect_within_the_origin_is_followed(
    ctx: LLMContext, fake: FakeProviderServer, provider: str, op: str
) -> None:
    run = OPERATIONS[op][0]
    llm = ctx.llm(provider)
    # Raw calls reach routes that answer on their own; chat routes answer the script.
    answers = [] if op == "raw" else [Reply("first"), Reply("moved")]
    fake.script(*answers[:1])
    first_result = run(llm)
    first = fake.last_request
    here = first.path + (f"?{urlencode(first.query)}" if first.query else "")
    fake.clear()
    fake.script(Fault(307, headers={"location": fake.url + here}), *answers[1:])
    result = run(llm)
    if answers:
        assert result == "moved"
    else:  # the route's own answer, again
        assert isinstance(result, dict) and isinstance(first_result, dict)
        assert result.keys() == first_result.keys()
    moved = fake.requests
    assert [r.path for r in moved] == [first.path, first.path]
    assert credentials(moved[1]) == credentials(first) != {}


def test_a_redirect_chain_is_held_to_its_first_origin(
    ctx: LLMContext, fake: FakeProviderServer, elsewhere: FakeProviderServer
) -> None:
    elsewhere.clear()
    hop = f"{fake.url}/v1/responses"
    fake.script(
        Fault(308, headers={"location": hop}),
        Fault(307, headers={"location": f"{elsewhere.url}/v1/responses"}),
    )
    with pytest.raises(LLMConfigError, match="redirected the request to"):
        ctx.llm("anthropic" if "anthropic" in PROVIDERS else "openai").chat_sync(HELLO)
    assert elsewhere.requests == []


def test_raw_return_response_hands_back_the_refused_redirect(
    ctx: LLMContext, fake: FakeProviderServer, elsewhere: FakeProviderServer
) -> None:
    elsewhere.clear()
    fake.script(Fault(302, headers={"location": f"{elsewhere.url}/blob.png"}))
    moved = ctx.llm("openai").raw_sync(path="/models", return_response=True)
    assert moved.status_code == 302 and moved.headers["location"].endswith("/blob.png")
    assert elsewhere.requests == []


# -- 4. third-party loggers at DEBUG -----------------------------------------------------------

# Not key-shaped: only the filter's knowledge of the profile's key can catch it.
PLAIN_KEY = "Zq7plain-PROFILE-value-4242"
# Key-shaped, and known to nobody: the patterns must catch it.
STRANGER = "sk-ant-api03-STRANGERsecret0123456789"
DEBUG_LOGGERS = (
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "openai",
    "anthropic",
    "google_genai",
    "urllib3",
    "llm_context",
)


class Capture(logging.Handler):
    """Every record that reaches the root logger, formatted as a handler would print it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.names.add(record.name)


@pytest.fixture
def debug_logs() -> Iterator[Capture]:
    capture = Capture()
    root = logging.getLogger()
    before = {name: logging.getLogger(name).level for name in DEBUG_LOGGERS}
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def test_debug_logs_of_the_http_stack_and_sdks_never_show_a_key(
    fake: FakeProviderServer, debug_logs: Capture
) -> None:
    from llm_context.testing import EmbeddingReply

    echo = {"x-echo": PLAIN_KEY, "x-stranger": STRANGER}
    context = make_context(fake, api_key=PLAIN_KEY)
    try:
        for provider in PROVIDERS:
            llm = context.llm(provider)
            features = spec_for(provider).features
            fake.script(Reply("hi", headers=echo), Reply("hi there", headers=echo))
            assert llm.chat_sync(HELLO).text == "hi"
            assert "".join(llm.stream_sync(HELLO)) == "hi there"
            if Feature.EMBED in features:
                fake.script(EmbeddingReply(headers=echo))
                assert llm.embed_sync(["a text"]).vectors
            llm.raw_sync(**RAW[provider])  # requests / urllib3 log too
            fake.script(Fault(401, message=f"bad key {PLAIN_KEY}", headers=echo))
            with pytest.raises(LLMAuthenticationError):  # the SDKs log the failure
                llm.chat_sync(HELLO, retry={"max_attempts": 1})
    finally:
        context.close()
    text = "\n".join(debug_logs.lines)
    assert "x-echo" in text  # the echoing header was logged (so this test can fail) ...
    assert PLAIN_KEY not in text and STRANGER not in text  # ... but never its value
    expected = {"httpcore2.http11", "openai._base_client", "anthropic._base_client"}
    assert expected | {"urllib3.connectionpool"} <= debug_logs.names, debug_logs.names


def test_a_logged_exception_is_scrubbed_too(fake: FakeProviderServer, debug_logs: Capture) -> None:
    context = make_context(fake, api_key=PLAIN_KEY)
    try:
        context.llm("openai").adapter()  # the client's key is now known to the filter
        try:
            raise RuntimeError(f"failed with {PLAIN_KEY}")
        except RuntimeError:
            logging.getLogger("openai._base_client").debug("Encountered Exception", exc_info=True)
    finally:
        context.close()
    text = "\n".join(debug_logs.lines)
    assert "RuntimeError: failed with ***" in text and PLAIN_KEY not in text


def test_the_filter_sits_on_child_loggers_too(ctx: LLMContext) -> None:
    from llm_context.log_redaction import RedactingFilter

    ctx.llm("openai").adapter()  # building an adapter installs it
    ctx.llm("openai").raw_sync(path="/models")  # importing requests makes urllib3's loggers
    names = (
        "httpcore2.http11",
        "openai._base_client",
        "httpx2",
        "openai",
        "urllib3.connectionpool",
    )
    for name in names:
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)


# -- 2. error texts never echo a value that may be a key ---------------------------------------

# Key-shaped (OpenRouter) and merely long and random: both must stay out of messages.
SWAPPABLE = ("sk-or-v1-0123456789abcdef0123456789abcdef", "Zq7plainSECRET0123456789abcdefXYZ")


@pytest.mark.parametrize("key", SWAPPABLE)
def test_swapped_llm_set_key_arguments_are_named_without_the_key(key: str) -> None:
    ctx = LLMContext({"profiles": {}})
    with pytest.raises(LLMConfigError, match="look swapped") as info:
        ctx.llm_set_key(key, "some-model", "openrouter")
    assert key not in str(info.value) and key[:12] not in str(info.value)


@pytest.mark.parametrize("key", SWAPPABLE)
def test_an_unknown_provider_that_may_be_a_key_is_not_echoed(key: str) -> None:
    ctx = LLMContext({"profiles": {}})
    calls: list[Callable[[], object]] = [
        lambda: ctx.llm_set_key(key, "some-model", "not-a-provider-either"),
        lambda: ctx.llm("p", provider=key),
        lambda: LLMContext({"profiles": {"p": {"provider": key}}}).llm("p"),
    ]
    for call in calls:
        with pytest.raises(LLMConfigError, match="unknown provider") as info:
            call()
        text = str(info.value)
        assert key not in text and f"<a {len(key)}-character value, hidden" in text
    with pytest.raises(LLMConfigError, match="unknown provider 'opnai'"):  # a typo still shows
        ctx.llm("p", provider="opnai")


def test_a_key_pasted_as_a_profile_or_field_name_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = SWAPPABLE[1]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for doc in (
        {"profiles": {key: {"provider": "openai", "timeout": "soon"}}},
        {"profiles": {"p": {"provider": "openai", key: 1}}},
    ):
        with pytest.raises(LLMConfigError) as info:
            LLMContext(doc).llm(key if key in doc["profiles"] else "p")
        assert key not in str(info.value) and "hidden: it may be a key" in str(info.value)
    ctx = LLMContext({"profiles": {key: {"provider": "openai"}}})
    with pytest.raises(LLMConfigError, match="has no API key") as info:
        ctx.llm(key).chat_sync(HELLO)
    assert key not in str(info.value)


def test_a_key_passed_as_a_profile_name_is_not_echoed(fake: FakeProviderServer) -> None:
    # `context.llm(KEY)`: the key where the profile name goes, on a document with profiles,
    # with none, as a fallback target and as the default profile's name.
    key = SWAPPABLE[1]
    docs: list[dict[str, Any]] = [
        fake.profiles(),
        {"profiles": {}},
        {"profiles": {"p": {"provider": "openai", "fallbacks": [key]}}},
        {"profiles": {"p": {"provider": "openai"}}, "default_profile": key},
    ]
    for doc in docs:
        with pytest.raises(LLMConfigError) as info:
            LLMContext(doc).llm(key)
        assert key not in str(info.value) and "hidden: it may be a key" in str(info.value)
    assert fake.requests == []


# -- 3. profile repr and the CLI mask credentials in a base_url ---------------------------------

CREDENTIAL_URLS = {
    "https://alice:s3cr3t-pass@llm.example.com/v1": ["s3cr3t-pass"],
    "https://llm.example.com/v1?key=AQkey123&x=1": ["AQkey123"],
    "https://llm.example.com/v1?api-key=hyphen-secret-1": ["hyphen-secret-1"],
    "https://llm.example.com/v1?api_key=under_secret_2&access_token=tok-secret-3": [
        "under_secret_2",
        "tok-secret-3",
    ],
    "https://ghp_pattokenvalue0123@llm.example.com/v1": ["ghp_pattokenvalue0123"],
}


@pytest.mark.parametrize(("url", "secrets"), CREDENTIAL_URLS.items())
def test_profile_repr_masks_credentials_in_base_url(url: str, secrets: list[str]) -> None:
    ctx = LLMContext({"profiles": {"p": {"provider": "openai", "base_url": url, "api_key": "k"}}})
    for shown in (repr(ctx.profiles.get("p")), repr(ctx.llm("p").profile)):
        assert "llm.example.com/v1" in shown and "***" in shown
        assert not [s for s in secrets if s in shown], shown


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from llm_context.cli import main

    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out + err


@pytest.mark.parametrize(("url", "secrets"), CREDENTIAL_URLS.items())
def test_profiles_show_masks_credentials_in_base_url(
    url: str, secrets: list[str], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    path = tmp_path / "profiles.yaml"
    doc = {"profiles": {"p": {"provider": "openai", "base_url": url, "api_key": "k-12345"}}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    status, out = _cli(capsys, "profiles", "--profiles", str(path), "show", "p")
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("base_url"))
    assert "llm.example.com/v1" in line and "***" in line
    assert not [s for s in secrets if s in out], out


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("localhost:1234/v1", "http://localhost:1234/v1"),
        ("llm.example.com/v1", "https://llm.example.com/v1"),
    ],
)
def test_profiles_check_flags_a_base_url_without_a_scheme(
    url: str, fix: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    path = tmp_path / "profiles.yaml"
    doc = {"profiles": {"p": {"provider": "openai", "base_url": url, "api_key": "k-12345"}}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    status, out = _cli(capsys, "profiles", "check", str(path))
    assert status == 1
    assert f"FAIL  p: profile 'p' (provider openai): base_url '{url}' has no scheme; " in out
    assert f"write it as {fix}" in out
    with pytest.raises(LLMConfigError, match="has no scheme"):  # and a call says the same
        LLMContext(doc).llm("p").chat_sync(HELLO)
    status, out = _cli(capsys, "profiles", "--profiles", str(path), "show", "p")
    assert f"base_url          {url}  (unusable: run profiles check)" in out


def test_local_servers_still_take_a_bare_host_and_port(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    path = tmp_path / "profiles.yaml"
    doc = {"profiles": {"p": {"provider": "ollama", "base_url": "localhost:11434", "model": "m"}}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    status, out = _cli(capsys, "profiles", "check", str(path))
    assert status == 0, out


def test_the_filter_costs_nothing_while_those_loggers_are_quiet(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    from llm_context.log_redaction import LOGGERS

    levels = {name: logging.getLogger(name).level for name in DEBUG_LOGGERS}
    made: list[str] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        made.append(record.name)
        return record

    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.setLogRecordFactory(counting)
    try:
        for provider in PROVIDERS:
            fake.script(Reply("hi"))
            assert ctx.llm(provider).chat_sync(HELLO).text == "hi"
    finally:
        logging.setLogRecordFactory(factory)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    # No record was made for those loggers, so their filter never ran: logging checks the
    # level before it builds a record, and calls filters only for records it emits.
    assert [n for n in made if n.split(".")[0] in LOGGERS] == []


def test_clients_collected_while_secrets_are_registered_do_not_deadlock() -> None:
    # A dead SDK client's finalizer may run inside any allocation, including those made
    # while the registry's lock is held by the same thread; it must never wait on that lock.
    import gc
    import threading

    from llm_context.log_redaction import known_secrets, protect

    class Owner:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the garbage collector frees it, at any allocation

    def churn() -> None:
        for i in range(300):
            protect(Owner(), [f"churn-secret-{i:04d}-abcdefgh"])

    old = gc.get_threshold()
    gc.set_threshold(1)  # collect at nearly every allocation: finalizers run mid-update
    try:
        worker = threading.Thread(target=churn, daemon=True)
        worker.start()
        worker.join(timeout=60)
    finally:
        gc.set_threshold(*old)
    assert not worker.is_alive(), "protect() deadlocked on a finalizer"
    gc.collect()
    protect(Owner(), ["last-secret-0123456789"])  # the next registration drops the dead ones
    assert "churn-secret-0000-abcdefgh" not in known_secrets()
