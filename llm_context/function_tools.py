"""Plain Python functions as tools: a JSON-schema spec from type hints and docstrings, and a
call that turns the model's JSON arguments back into the declared Python types.

    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        '''Current weather for a city.

        Args:
            city: The city name, e.g. "Oslo".
            unit: Temperature unit.
        '''

    tool = function_tool(get_weather)   # tool.spec is a ToolSpec; tool(**arguments) calls it
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from .contract.tools import ToolSpec
from .errors import LLMInputError

__all__ = ["FunctionTool", "function_tool", "parse_docstring"]

_NoneType = type(None)
_SCALARS: Mapping[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_SEQUENCES = (list, tuple, set, frozenset, Sequence)
_MAPPINGS = (dict, Mapping)

# Section headers of Google-style ("Args:") and NumPy-style ("Parameters" + dashes) docstrings.
_GOOGLE_ARGS = re.compile(r"^(Args|Arguments|Parameters|Params)\s*:\s*$")
_GOOGLE_OTHER = re.compile(
    r"^(Returns?|Yields?|Raises?|Examples?|Notes?|Attributes|See Also|Warnings?|Todo)\s*:\s*$"
)
_NUMPY_HEADER = re.compile(r"^[A-Z][A-Za-z ]+$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]+\s)?(\w+):\s*(.*)$")
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


# ------------------------------------------------------------------------------- docstrings


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The description and per-parameter texts of a Google, NumPy or Sphinx-style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    i = 0
    in_summary = True
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if _GOOGLE_ARGS.match(stripped):
            i = _google_section(lines, i + 1, params)
            in_summary = False
            continue
        if (
            stripped in ("Parameters", "Arguments", "Args")
            and i + 1 < len(lines)
            and set(lines[i + 1].strip()) == {"-"}
        ):
            i = _numpy_section(lines, i + 2, params)
            in_summary = False
            continue
        sphinx = _SPHINX_PARAM.match(stripped)
        if sphinx:
            params[sphinx.group(1)] = sphinx.group(2).strip()
            in_summary = False
        elif (
            _GOOGLE_OTHER.match(stripped)
            or (
                _NUMPY_HEADER.match(stripped)
                and i + 1 < len(lines)
                and set(lines[i + 1].strip()) == {"-"}
            )
            or stripped.startswith(":")
        ):
            in_summary = False
        elif in_summary:
            summary.append(line)
        i += 1
    return "\n".join(summary).strip(), params


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google_section(lines: list[str], i: int, params: dict[str, str]) -> int:
    """Read `name (type): text` entries (continuations indented deeper) until the section ends."""
    base: int | None = None
    current: str | None = None
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        indent = _indent(line)
        if base is None:
            if indent == 0:
                return i
            base = indent
        if indent < base:
            return i
        entry = _ARG_LINE.match(line.strip()) if indent == base else None
        if entry:
            current = entry.group(1)
            params[current] = entry.group(2).strip()
        elif current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
        i += 1
    return i


def _numpy_section(lines: list[str], i: int, params: dict[str, str]) -> int:
    """Read `name : type` lines followed by indented descriptions until the next header."""
    current: str | None = None
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        if _indent(line) == 0:
            if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
                return i  # the next section
            current = stripped.split(":", 1)[0].strip().lstrip("*")
            params[current] = ""
        elif current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
        i += 1
    return i


# ------------------------------------------------------------------------------- schemas


class _SchemaBuilder:
    """JSON schema for Python annotations; nested Pydantic `$defs` are hoisted to the root."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.defs: dict[str, Any] = {}

    def fail(self, annotation: Any) -> LLMInputError:
        return LLMInputError(
            f"{self.where}: cannot describe type {annotation!r} as JSON; use str, int, float, "
            "bool, list[...], dict[str, ...], Optional, Literal, an Enum, a dataclass or a "
            "Pydantic model"
        )

    def schema(self, annotation: Any) -> dict[str, Any]:
        if annotation is Any or annotation is inspect.Parameter.empty:
            return {}
        if annotation is _NoneType or annotation is None:
            return {"type": "null"}
        origin = get_origin(annotation)
        args = get_args(annotation)
        if origin is typing.Annotated:
            inner = self.schema(args[0])
            notes = [a for a in args[1:] if isinstance(a, str)]
            return {**inner, "description": " ".join(notes)} if notes else inner
        if origin is Union or origin is types.UnionType:
            return self._union(args)
        if origin is Literal:
            return self._enum(list(args))
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return self._enum([member.value for member in annotation])
        if isinstance(annotation, type) and annotation in _SCALARS:
            return {"type": _SCALARS[annotation]}
        if annotation in _SEQUENCES or origin in _SEQUENCES:
            return self._array(origin or annotation, args)
        if annotation in _MAPPINGS or origin in _MAPPINGS:
            value = self.schema(args[1]) if len(args) == 2 else {}
            return (
                {"type": "object", "additionalProperties": value} if value else {"type": "object"}
            )
        if _is_pydantic(annotation):
            return self._pydantic(annotation)
        if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
            return self._dataclass(annotation)
        raise self.fail(annotation)

    def _union(self, args: tuple[Any, ...]) -> dict[str, Any]:
        options = [self.schema(a) for a in args if a is not _NoneType]
        if _NoneType in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}

    def _enum(self, values: list[Any]) -> dict[str, Any]:
        kinds = {_SCALARS.get(type(v)) for v in values}
        if None in kinds or len(kinds) != 1:
            raise LLMInputError(f"{self.where}: enum values must all be str, or all be int")
        return {"type": kinds.pop(), "enum": values}

    def _array(self, container: Any, args: tuple[Any, ...]) -> dict[str, Any]:
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            # Fixed-length tuples: prefixItems is not understood everywhere (Gemini), so the
            # item types are merged and the length pinned.
            options: list[dict[str, Any]] = []
            for schema in (self.schema(a) for a in args):
                if schema not in options:
                    options.append(schema)
            items = options[0] if len(options) == 1 else {"anyOf": options}
            return {"type": "array", "items": items, "minItems": len(args), "maxItems": len(args)}
        items = self.schema(args[0]) if args else {}
        return {"type": "array", "items": items} if items else {"type": "array"}

    def _pydantic(self, model: Any) -> dict[str, Any]:
        schema = dict(model.model_json_schema())
        self.defs.update(schema.pop("$defs", {}))
        return schema

    def _dataclass(self, cls: type[Any]) -> dict[str, Any]:
        hints = typing.get_type_hints(cls, include_extras=True)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for f in dataclasses.fields(cls):
            properties[f.name] = self.schema(hints.get(f.name, Any))
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        doc = (cls.__doc__ or "").strip()
        # dataclasses invent a signature-like docstring; only a real one is a description.
        described = {"description": doc} if doc and not doc.startswith(cls.__name__ + "(") else {}
        return {"type": "object", **described, "properties": properties, "required": required}


def _is_pydantic(annotation: Any) -> bool:
    return isinstance(annotation, type) and callable(getattr(annotation, "model_json_schema", None))


# ------------------------------------------------------------------------------- arguments


def _coerce(annotation: Any, value: Any) -> Any:
    """A JSON value turned into the annotated type where JSON cannot carry it."""
    if value is None:
        return None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is typing.Annotated:
        return _coerce(args[0], value)
    if origin is Union or origin is types.UnionType:
        concrete = [a for a in args if a is not _NoneType]
        return _coerce(concrete[0], value) if len(concrete) == 1 else value
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if _is_pydantic(annotation):
        return annotation.model_validate(value)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation, include_extras=True)
        return annotation(**{k: _coerce(hints.get(k, Any), v) for k, v in value.items()})
    container = origin or annotation
    if isinstance(value, list) and container in _SEQUENCES:
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(_coerce(a, v) for a, v in zip(args, value, strict=False))
        items = [_coerce(args[0] if args else Any, v) for v in value]
        return container(items) if container in (tuple, set, frozenset) else items
    if isinstance(value, dict) and origin in _MAPPINGS and len(args) == 2:
        return {k: _coerce(args[1], v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------- the tool


@dataclass(frozen=True)
class FunctionTool:
    """A Python function the model may call: its `spec` is what the model sees."""

    func: Callable[..., Any]
    spec: ToolSpec
    hints: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        """The tool name the model calls."""
        return self.spec.name

    @property
    def is_async(self) -> bool:
        """True for `async def` functions (awaited on the event loop by `run_tools`)."""
        return inspect.iscoroutinefunction(self.func)

    def arguments(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The model's JSON arguments converted to the declared types (enums, models, ...)."""
        if "_raw" in raw and "_raw" not in self.hints:
            raise ValueError(f"the arguments were not valid JSON: {raw['_raw']!r}")
        return {k: _coerce(self.hints[k], v) if k in self.hints else v for k, v in raw.items()}

    def __call__(self, **arguments: Any) -> Any:
        """Call the function with the model's arguments, converted (see `arguments`)."""
        return self.func(**self.arguments(arguments))


def function_tool(
    func: Callable[..., Any] | FunctionTool,
    *,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool:
    """Describe `func` as a tool from its signature, type hints and docstring.

    `name` defaults to the function's name, `description` to its docstring's text before any
    Args/Parameters section. Parameter descriptions come from that section (Google, NumPy or
    Sphinx style) or from `Annotated[type, "description"]`.
    """
    if isinstance(func, FunctionTool):
        if name is None and description is None:
            return func
        func = func.func
    if not callable(func):
        raise LLMInputError(f"tools must be functions, got {type(func).__name__}")
    tool_name = name or getattr(func, "__name__", None)
    if not isinstance(tool_name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tool_name):
        raise LLMInputError(
            f"tool name {tool_name!r} must be 1-64 letters, digits, '_' or '-'; pass name="
        )
    where = f"tool {tool_name!r}"
    summary, param_docs = parse_docstring(getattr(func, "__doc__", None))
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except (NameError, TypeError) as exc:
        raise LLMInputError(f"{where}: cannot resolve its type hints ({exc})") from exc
    hints.pop("return", None)
    builder = _SchemaBuilder(where)
    properties: dict[str, Any] = {}
    required: list[str] = []
    try:
        signature = inspect.signature(func)
    except ValueError as exc:  # Python 3.10 has none for some built-ins (print)
        raise LLMInputError(
            f"{where}: its signature cannot be read ({exc}); built-ins take positional-only "
            "parameters or *args, which cannot be described to a model"
        ) from exc
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise LLMInputError(f"{where}: *args and **kwargs cannot be described to a model")
        if param.kind is param.POSITIONAL_ONLY:
            raise LLMInputError(f"{where}: positional-only parameters cannot be passed by name")
        builder.where = f"{where}, parameter {param.name!r}"
        annotation = hints.get(param.name, Any)
        has_default = param.default is not param.empty
        if has_default and param.default is None:
            # `x: str | None = None` reads best to a model as an optional string.
            annotation = _without_none(annotation)
        schema = builder.schema(annotation)
        if param_docs.get(param.name) and "description" not in schema:
            schema = {**schema, "description": param_docs[param.name]}
        if has_default and param.default is not None and _json_scalar(param.default):
            schema = {**schema, "default": _json_value(param.default)}
        properties[param.name] = schema
        if not has_default:
            required.append(param.name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if builder.defs:
        parameters["$defs"] = builder.defs
    text = description if description is not None else summary
    return FunctionTool(func, ToolSpec(tool_name, text, parameters), hints)


def _without_none(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        rest = tuple(a for a in get_args(annotation) if a is not _NoneType)
        if len(rest) == 1:
            return rest[0]
        return Union[rest]  # noqa: UP007 - built at run time from a tuple
    return annotation


def _json_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, enum.Enum))


def _json_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value
