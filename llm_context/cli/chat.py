"""`llm-context chat`: one prompt, the reply streamed to the terminal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import LLMStreamError
from .common import CLIError, client_for, print_usage, read_json_arg, say

__all__ = ["add_parser"]

HELP = "send a prompt and print the reply (streamed)"
DESCRIPTION = """\
Send one prompt to a profile's model and print the reply as it arrives.
Use "-" as the prompt to read it from standard input.

examples:
  llm-context chat "Write a haiku about fjords"
  llm-context chat -p claude --system "Answer in French" "Hello"
  git diff | llm-context chat --usage "Review this diff:" -
  llm-context chat --json-schema person.json --no-stream "Ada Lovelace, born 1815"
"""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `chat` on the command parser."""
    parser = commands.add_parser(
        "chat",
        help=HELP,
        description=DESCRIPTION,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "prompt", nargs="+", help='the prompt (several words are joined); "-" reads stdin'
    )
    parser.add_argument("--system", "-s", metavar="TEXT", help="a system instruction")
    parser.add_argument("--model", "-m", help="the model (default: the profile's)")
    parser.add_argument(
        "--json-schema",
        metavar="FILE",
        help="reply with JSON matching this JSON Schema file (checked before printing)",
    )
    parser.add_argument("--json", action="store_true", help="reply with a JSON object")
    parser.add_argument("--no-stream", action="store_true", help="print the reply when complete")
    parser.add_argument("--usage", action="store_true", help="print token usage to stderr")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0-2)")
    parser.add_argument("--max-output-tokens", type=int, metavar="N", help="cap on reply tokens")
    parser.add_argument(
        "--reasoning-effort", metavar="LEVEL", help="reasoning effort: low, medium or high"
    )
    parser.set_defaults(run=run)


def _prompt(words: list[str]) -> str:
    if words == ["-"]:
        text = sys.stdin.read()
    else:
        text = " ".join(sys.stdin.read() if w == "-" else w for w in words)
    text = text.strip()
    if not text:
        raise CLIError("the prompt is empty")
    return text


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.json_schema:
        opts["output_format"] = "json_schema"
        opts["json_schema"] = read_json_arg("@" + args.json_schema, "--json-schema")
    elif args.json:
        opts["output_format"] = "json_object"
    for name in ("model", "temperature", "max_output_tokens", "reasoning_effort"):
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    return opts


def run(args: argparse.Namespace) -> int:
    prompt = _prompt(args.prompt)
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    opts = _options(args)
    llm = client_for(args)
    if args.no_stream:
        result = llm.chat_sync(messages, **opts)
        text = result.text
        say(text, end="" if text.endswith("\n") else "\n")
    else:
        stream = llm.stream_sync(messages, **opts)
        last = ""
        try:
            with stream:
                for delta in stream:
                    sys.stdout.write(delta)
                    sys.stdout.flush()
                    last = delta
        except LLMStreamError:
            say()  # end the partial line before the error
            raise
        if not last.endswith("\n"):
            say()
        result = stream.result
    if args.usage:
        print_usage(result.usage)
    return 0
