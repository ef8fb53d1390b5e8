"""`llm-context chat` (and `llm-context "prompt"`): one prompt, with piped input and
attachments, the reply streamed to the terminal."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import LLMStreamError
from .common import CLIError, client_for, print_usage, read_json_arg, say
from .logbook import Exchange, Logbook

__all__ = ["add_parser"]

HELP = "send a prompt and print the reply (streamed)"
DESCRIPTION = """\
Send one prompt to a profile's model and print the reply as it arrives. `chat` may be left
out: `llm-context "Hello"`. Piped input is read and put before the prompt; "-" as the
prompt reads only standard input.

examples:
  llm-context "Write a haiku about fjords"
  llm-context chat -p claude --system "Answer in French" "Hello"
  git diff | llm-context --usage "Review this diff:"
  llm-context -a photo.jpg -a report.pdf "What do these show?"
  llm-context -o temperature 0.2 -o reasoning_effort low "Name three fjords"
  llm-context --json-schema person.json --no-stream "Ada Lovelace, born 1815"
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
        "prompt", nargs="*", help='the prompt (several words are joined); "-" reads stdin'
    )
    parser.add_argument(
        "--attach",
        "-a",
        action="append",
        default=[],
        metavar="PATH|URL",
        help="an image, document (PDF, text) or audio file (WAV, MP3) to send; repeatable",
    )
    parser.add_argument(
        "-o",
        "--option",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="any chat option (VALUE as JSON, else text): -o temperature 0.2; repeatable",
    )
    parser.add_argument("--system", "-s", metavar="TEXT", help="a system instruction")
    parser.add_argument("--model", "-m", help="the model (default: the profile's)")
    parser.add_argument(
        "--json-schema",
        metavar="FILE|JSON",
        help="reply with JSON matching this JSON Schema (a file, or inline JSON)",
    )
    parser.add_argument("--json", action="store_true", help="reply with a JSON object")
    parser.add_argument("--no-stream", action="store_true", help="print the reply when complete")
    parser.add_argument(
        "--usage", action="store_true", help="print token usage (and cost, with pricing) to stderr"
    )
    parser.add_argument(
        "--continue",
        "-c",
        dest="continue_",
        action="store_true",
        help="continue the last logged conversation",
    )
    parser.add_argument("--cid", metavar="ID", help="continue the logged conversation ID")
    parser.add_argument("--no-log", action="store_true", help="do not log this exchange")
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


def _piped() -> str:
    """What is piped in, or "" when stdin is a terminal (or cannot be read)."""
    stream = sys.stdin
    try:
        if stream is None or stream.isatty():
            return ""
    except (OSError, ValueError):
        return ""
    try:
        return _stdin()
    except (OSError, ValueError):  # closed, or not readable here
        return ""


def _prompt(words: list[str]) -> str:
    if words == ["-"]:
        text = _stdin()
    else:
        text = " ".join(
            _stdin() if w == "-" else utf8_text(w, f"prompt word {i + 1}")
            for i, w in enumerate(words)
        )
        if "-" not in words:
            piped = _piped().strip()
            text = f"{piped}\n\n{text}" if piped and text.strip() else piped or text
    text = text.strip()
    if not text:
        raise CLIError('the prompt is empty: give one, e.g. llm-context "Hello"')
    return text


_IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_AUDIO = (".wav", ".mp3")


def _attachment(source: str) -> dict[str, Any]:
    """A message part for `--attach`, by the library's part helpers (which check the bytes)."""
    from ..contract.parts import audio_part, file_part, image_part

    name = source.lower().split("?", 1)[0]
    if name.endswith(_IMAGES):
        return image_part(source)
    if name.endswith(_AUDIO):
        return audio_part(source)
    return file_part(source)


def _value(text: str) -> Any:
    """An `-o` value: JSON when it parses (numbers, true, lists...), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.json_schema:
        given = args.json_schema
        inline = given.lstrip().startswith("{")
        opts["output_format"] = "json_schema"
        opts["json_schema"] = read_json_arg(given if inline else "@" + given, "--json-schema")
    elif args.json:
        opts["output_format"] = "json_object"
    if args.drop_unsupported:
        opts["fail_on_unsupported"] = False
    for name in ("model", "temperature", "max_output_tokens", "reasoning_effort"):
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    for key, value in args.option:  # the library checks the names (and suggests)
        opts[key.replace("-", "_")] = _value(value)
    return opts


def _history(book: Logbook, args: argparse.Namespace) -> tuple[str | None, list[Exchange]]:
    """The conversation to continue (`-c`, `--cid`) and its exchanges so far."""
    if args.cid:
        earlier = book.conversation(args.cid)
        if not earlier:
            raise CLIError(f"no logged conversation {args.cid!r}; see llm-context logs")
        return args.cid, earlier
    if args.continue_:
        last = book.last_conversation()
        if last is None:
            raise CLIError("there is no logged conversation to continue yet")
        return last, book.conversation(last)
    return None, []


def _described(source: str) -> dict[str, Any]:
    """How the log keeps an attachment: never its bytes."""
    if "://" in source:
        return {"url": source}
    data = Path(source).read_bytes()
    return {
        "name": Path(source).name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _conversation(
    args: argparse.Namespace, earlier: list[Exchange]
) -> tuple[list[dict[str, Any]], str | None]:
    """The messages so far (the system text first, then each logged turn), and the system
    text: `--system`, else the one the continued conversation had."""
    system = args.system or next((t.system for t in earlier if t.system), None)
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": utf8_text(system, "--system")})
    for turn in earlier:
        messages.append({"role": "user", "content": turn.prompt})
        messages.append({"role": "assistant", "content": turn.reply})
    return messages, system


def _at_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
    except (OSError, ValueError):
        return False


def run(args: argparse.Namespace) -> int:
    llm = client_for(args)  # a profile problem is named before stdin is read
    book = Logbook()
    conversation, earlier = _history(book, args)
    history, system = _conversation(args, earlier)
    if not args.prompt and not args.attach and _at_terminal():
        from .interactive import converse  # a session at the terminal

        opts = _options(args)
        return converse(llm, book, conversation, history, system, opts, not args.no_log)
    prompt = _prompt(args.prompt)
    content: Any = prompt
    if args.attach:
        content = [{"type": "text", "text": prompt}, *map(_attachment, args.attach)]
    messages = [*history, {"role": "user", "content": content}]
    opts = _options(args)
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
    if not args.no_log and book.enabled:
        book.record(
            conversation,
            profile=llm.profile.name,
            provider=llm.provider,
            model=result.model or opts.get("model") or llm.profile.model,
            system=system,
            prompt=prompt,
            attachments=[_described(a) for a in args.attach],
            reply=result.text,
            usage=result.usage,
        )
    book.close()
    return 0
