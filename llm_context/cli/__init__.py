"""The `llm-context` command: chat, embed, image, raw, models, tokens, map, batch, profiles,
providers, the demo and the fake provider server. `llm-context "prompt"` is `chat`.

Every command has `--help`. Expected failures (our `LLMError`s, bad arguments) print one
line on stderr and exit with the status `EXIT_STATUS` gives; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Collection, Sequence

from ..errors import (
    LLMConfigError,
    LLMError,
    LLMInputError,
    LLMUnsupportedFeatureError,
    redact,
)
from ..version import __version__
from . import chat, fake_server, features, jobs, keys_cmd, logs_cmd, media, models, profiles_cmd
from .common import CLIError, warn

__all__ = ["EXIT_STATUS", "build_parser", "main"]

EXIT_STATUS: tuple[tuple[type[LLMError], int], ...] = (
    (LLMConfigError, 3),  # a profile, a key or the profiles file
    (LLMInputError, 2),  # the input: what was asked, caught before sending
    (LLMUnsupportedFeatureError, 2),  # asked of a provider that cannot do it
    (LLMError, 4),  # the provider (or the way to it) failed
)
"""An error's exit status, first match wins. Beside these: 0 done, 1 done but some part
failed (rows of `map`, profiles of `profiles check`), 2 a mistake on the command line,
130 interrupted."""

PROG = "llm-context"
DESCRIPTION = """\
One command line for seven LLM providers (OpenAI, Azure OpenAI, Anthropic, Gemini,
OpenRouter, LM Studio, Ollama), configured by named profiles.

examples:
  llm-context chat "Hello"                       # the default profile, streamed
  llm-context chat -p claude --usage "Hello"     # another profile, token counts on stderr
  llm-context profiles list                      # what is configured (keys masked)
  llm-context models -p claude                   # the models a provider offers
  llm-context map -i rows.jsonl -t 'Tag: {text}' --checkpoint run.sqlite  # many rows
  llm-context demo                               # the offline demo, no key needed
  llm-context fake-server --write-profiles fake.yaml  # every provider's API, faked
"""


def _demo(args: argparse.Namespace) -> int:
    from .. import demo

    return demo.main(sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, Collection[str]]:
    """The parser, and the names of its commands."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="on an error, print the full traceback"
    )
    parser.add_argument(
        "--profiles", metavar="FILE", help="the profiles YAML file (default: the usual search)"
    )
    # Also accepted after the command name; SUPPRESS keeps it from hiding the global one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--profiles", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    targeted = argparse.ArgumentParser(add_help=False, parents=[common])
    targeted.add_argument(
        "-p", "--profile", metavar="NAME", help="the profile to use (default: the default profile)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    chat.add_parser(commands, targeted)
    media.add_parsers(commands, targeted)
    models.add_parsers(commands, targeted)
    jobs.add_parsers(commands, targeted)
    logs_cmd.add_parser(commands, common)
    keys_cmd.add_parser(commands, common)
    profiles_cmd.add_parser(commands, common)
    features.add_parser(commands, common)
    demo = commands.add_parser(
        "demo",
        help="run the offline demo (a fake provider server, the real SDKs)",
        description="Run every provider's chat, stream, JSON, tools and embeddings against "
        "the bundled fake server on 127.0.0.1: no key, no network.",
    )
    demo.set_defaults(run=_demo)
    fake_server.add_parser(commands)
    return parser, set(commands.choices)


# Options that come before the command name, and whether each takes a value.
_GLOBAL = {"-v": False, "--verbose": False, "--profiles": True}


def _with_command(argv: list[str], commands: Collection[str]) -> list[str]:
    """`argv` with `chat` put in when it names no command (`llm-context "Hello"`)."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in ("-h", "--help", "--version") or word in commands:
            return argv
        if word.split("=", 1)[0] in _GLOBAL:
            index += 2 if _GLOBAL[word] else 1
            continue
        return [*argv[:index], "chat", *argv[index:]]
    return argv  # no command and no prompt: the help


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _unsupported_hint(args: argparse.Namespace, exc: LLMError) -> str:
    """The command-line spelling of `fail_on_unsupported=False`, where the command has it."""
    if isinstance(exc, LLMUnsupportedFeatureError) and hasattr(args, "drop_unsupported"):
        return " (or add --drop-unsupported to drop what the provider cannot do)"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failed, 2 usage, 130 ^C)."""
    parser, commands = _build()
    args = parser.parse_args(_with_command(list(sys.argv[1:] if argv is None else argv), commands))
    # Retry and fallback notices (warnings) on stderr, marked as ours; a no-op if the host
    # program configured logging already.
    logging.basicConfig(format=f"{PROG}: %(message)s", level=logging.WARNING)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        with keys_cmd.stored_keys():  # a stored key, where nothing else gives one
            return int(args.run(args))
    except CLIError as exc:
        warn(f"{PROG}: error: {_one_line(exc)}")
        return 2
    except LLMError as exc:
        _traceback(args)
        hint = _unsupported_hint(args, exc)
        warn(f"{PROG}: error: {type(exc).__name__}: {_one_line(exc)}{hint}")
        return next(status for kind, status in EXIT_STATUS if isinstance(exc, kind))
    except KeyboardInterrupt:
        warn("")
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        # A bug of ours or a failure nobody foresaw: still one line (the text scrubbed, as it
        # may quote a request), the traceback with --verbose.
        _traceback(args)
        warn(f"{PROG}: error: unexpected {type(exc).__name__}: {redact(_one_line(exc))}")
        if not args.verbose:
            warn(f"{PROG}: rerun with --verbose for the traceback, and please report it")
        return 1


def _traceback(args: argparse.Namespace) -> None:
    if args.verbose:  # scrubbed too: a frame's line or an error text may quote a key
        sys.stderr.write(redact(traceback.format_exc()))
