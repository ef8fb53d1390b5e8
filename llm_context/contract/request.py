"""The normalised requests an adapter receives: validated, provider-neutral, frozen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .messages import Message
from .tools import ToolChoice, ToolSpec

if TYPE_CHECKING:
    from .builtin_tools import BuiltinTool

OutputFormat = Literal["text", "json", "json_object", "json_schema", "raw"]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
ReasoningSummary = Literal["auto", "concise", "detailed"]


@dataclass(frozen=True)
class OutputSpec:
    """JSON output: `json_object` (any JSON object) or `json_schema` (with `schema`).

    `schema` is what is sent (the strict transform when `strict`); `user_schema` is the
    caller's schema as given, which replies are validated against (None: `schema`).
    """

    kind: Literal["json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None
    name: str = "output"
    strict: bool = True
    user_schema: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def reply_schema(self) -> Mapping[str, Any] | None:
        """The schema a reply must satisfy: the caller's own."""
        return self.user_schema if self.user_schema is not None else self.schema


@dataclass(frozen=True)
class ChatRequest:
    """One chat call, after validation. `extra` is passed to the provider body verbatim."""

    model: str
    messages: tuple[Message, ...]
    max_output_tokens: int | None = None
    reasoning_effort: ReasoningEffort | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    output: OutputSpec | None = None
    timeout: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    cache_key: str | None = None  # OpenAI's `prompt_cache_key`: routes alike prompts together
    builtin_tools: tuple[BuiltinTool, ...] = ()
    # Ask for the model's thinking back (OpenAI summaries, Gemini thoughts), effort or not.
    reasoning_summary: ReasoningSummary | None = None


@dataclass(frozen=True)
class EmbedRequest:
    """Texts to embed, in order."""

    model: str
    texts: tuple[str, ...]
    dimensions: int | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class InputImage:
    """An image given to an edit: bytes with a media type."""

    data: bytes
    media_type: str = "image/png"
    filename: str = "image.png"


@dataclass(frozen=True)
class ImageRequest:
    """Generate (or, with `input_images`, edit) images."""

    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    input_images: tuple[InputImage, ...] = ()
    timeout: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
