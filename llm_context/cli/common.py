"""What every command shares: the context from `--profiles`, output helpers, one-line errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..client import LLMClient
from ..config.settings import Pricing
from ..context import LLMContext
from ..metering import cost_of

__all__ = ["CLIError", "client_for", "context_for", "print_usage", "read_json_arg", "say"]


class CLIError(Exception):
    """A mistake on the command line: printed as one line, exit status 2."""


def say(text: str = "", *, end: str = "\n") -> None:
    """Write to stdout (looked up at call time, so tests and pipes see it)."""
    sys.stdout.write(text + end)


def warn(text: str) -> None:
    """Write a line to stderr."""
    sys.stderr.write(text + "\n")


def context_for(args: argparse.Namespace) -> LLMContext:
    """The context for `--profiles FILE`, or the usual search when it is not given."""
    return LLMContext(getattr(args, "profiles", None))


def client_for(args: argparse.Namespace) -> LLMClient:
    """The client of `-p PROFILE` (the default profile when not given)."""
    return context_for(args).llm(getattr(args, "profile", None))


def print_usage(usage: Mapping[str, int], pricing: Pricing | None = None) -> None:
    """Token counts (and the cost, when the profile has pricing) on stderr, so stdout stays
    the model's output."""
    line = "usage: " + " ".join(f"{key}={value}" for key, value in usage.items())
    cost = cost_of(usage, pricing)
    if cost is not None:
        line += f" cost=${cost:.6f}"
    warn(line)


def read_json_arg(value: str, what: str) -> Any:
    """A JSON argument given inline or as `@file.json`."""
    text = value
    if value.startswith("@"):
        text = read_file(value[1:], what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}") from None


def read_file(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"{what}: cannot read {path} ({exc.strerror})") from None
