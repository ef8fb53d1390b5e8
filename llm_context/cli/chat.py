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
    parser.add_argument(
        "--usage", action="store_true", help="print token usage (and cost, with pricing) to stderr"
    )
    parser.add_argument(
        "--drop-unsupported",
        action="store_true",
        help="drop options the provider cannot honour (logged) instead of failing",
    )
    parser.add_argument("--temperature", type=float, help="sampling temperature (0-2)")
    parser.add_argument("--max-output-tokens", type=int, metavar="N", help="cap on reply tokens")
    parser.add_argument(
        "--reasoning-effort", metavar="LEVEL", help="reasoning effort: low, medium or high"
    )
    parser.set_defaults(run=run)


def _stdin() -> str:
    # Python decodes stdin strictly, or (UTF-8 mode, C locale) with surrogateescape, which
    # turns bad bytes into lone surrogates: refuse both here, where we can say which input.
    try:
        return utf8_text(sys.stdin.read(), "standard input")
    except UnicodeDecodeError as exc:
        raise CLIError(_not_utf8("standard input", exc.start)) from None


def utf8_text(text: str, what: str) -> str:
    """`text` if it encodes as UTF-8; a `CLIError` naming `what` if it holds undecodable
    bytes (argv and stdin carry them as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CLIError(_not_utf8(what, exc.start)) from None
    return text


def _not_utf8(what: str, position: int) -> str:
    return (
        f"{what} is not UTF-8 text (at character {position}); convert it first, "
        "for example with iconv -t UTF-8"
    )


def _prompt(words: list[str]) -> str:
    if words == ["-"]:
        text = _stdin()
    else:
        text = " ".join(
            _stdin() if w == "-" else utf8_text(w, f"prompt word {i + 1}")
            for i, w in enumerate(words)
        )
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
    if args.drop_unsupported:
        opts["fail_on_unsupported"] = False
    for name in ("model", "temperature", "max_output_tokens", "reasoning_effort"):
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    return opts


def run(args: argparse.Namespace) -> int:
    prompt = _prompt(args.prompt)
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    if args.system:
        utf8_text(args.system, "--system")
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
        print_usage(result.usage, llm.profile.pricing)
    return 0
