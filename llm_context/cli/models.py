"""`llm-context models` and `llm-context tokens`: what a provider offers, what a prompt costs."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from .chat import utf8_text
from .common import CLIError, client_for, say

__all__ = ["add_parsers"]

MODELS_DESCRIPTION = """\
List the models a profile's provider offers, with the context window, the largest reply
and the creation date where the provider reports them ("-" where it does not).

examples:
  llm-context models
  llm-context models -p claude --json
"""

TOKENS_DESCRIPTION = """\
Count the input tokens of a prompt for a profile's model: exact where the provider has a
counting endpoint (OpenAI, Azure v1, Anthropic, Gemini), else an estimate, marked "~".

examples:
  llm-context tokens "How long is this prompt?"
  llm-context tokens -p claude --system "Answer in French" "Hello"
"""


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `models` and `tokens` on the command parser."""
    models = commands.add_parser(
        "models",
        help="list the provider's models",
        description=MODELS_DESCRIPTION,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    models.add_argument("--json", action="store_true", help="print a JSON list")
    models.set_defaults(run=run_models)
    tokens = commands.add_parser(
        "tokens",
        help="count a prompt's input tokens",
        description=TOKENS_DESCRIPTION,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tokens.add_argument("prompt", nargs="+", help="the prompt (several words are joined)")
    tokens.add_argument("--system", "-s", metavar="TEXT", help="a system instruction")
    tokens.add_argument("--model", "-m", help="the model (default: the profile's)")
    tokens.add_argument("--json", action="store_true", help="print a JSON object")
    tokens.set_defaults(run=run_tokens)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def run_models(args: argparse.Namespace) -> int:
    models = client_for(args).list_models_sync()
    if args.json:
        say(json.dumps([dataclasses.asdict(m) for m in models], indent=2))
        return 0
    rows = [("model", "context", "max output", "created")]
    rows += [
        (m.id, _cell(m.context_window), _cell(m.max_output_tokens), _cell(m.created))
        for m in models
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        say("  ".join([*cells, row[3]]))
    return 0


def run_tokens(args: argparse.Namespace) -> int:
    prompt = " ".join(utf8_text(w, f"prompt word {i + 1}") for i, w in enumerate(args.prompt))
    if not prompt.strip():
        raise CLIError("the prompt is empty")
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    if args.system:
        messages.insert(0, {"role": "system", "content": utf8_text(args.system, "--system")})
    opts = {"model": args.model} if args.model else {}
    count = client_for(args).count_tokens_sync(messages, **opts)
    if args.json:
        say(json.dumps(dataclasses.asdict(count)))
    else:
        say(f"{'' if count.exact else '~'}{count.input_tokens}")
    return 0
