"""`llm-context fake-server` and `python -m llm_context.testing`: the fake provider server in
its own process, for the command line or any program that cannot share a test's process.

Here, not in `llm_context.testing`: building the CLI parser must not import the server."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import CLIError, say

if TYPE_CHECKING:
    from ..testing.routing import RecordedRequest

__all__ = ["add_parser", "main", "serve"]

HELP = "run the fake provider server until Ctrl-C (offline tries and tests)"

DESCRIPTION = """\
Run the fake provider server on 127.0.0.1 until Ctrl-C: every provider's API, answering
with defaults (or the --reply texts first), no key, no network. It prints the URL and
each provider's base URL; --write-profiles writes a profiles.yaml pointed at it.
GET /_fake/requests lists what it received (JSON, keys masked); --log-requests prints a
line per request on stderr.

examples:
  python -m llm_context.testing --write-profiles fake-profiles.yaml
  llm-context --profiles fake-profiles.yaml chat "Hello"      # in another terminal
  python -m llm_context.testing --port 8765 --profile claude=anthropic --default claude
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's options, shared by `python -m llm_context.testing` and the CLI."""
    parser.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    parser.add_argument(
        "--write-profiles",
        metavar="PATH",
        help="write a profiles.yaml pointed at the server (one profile per provider)",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME=PROVIDER",
        action="append",
        default=[],
        dest="extra_profiles",
        help="also write a profile NAME for PROVIDER (repeatable), e.g. claude=anthropic",
    )
    parser.add_argument(
        "--default",
        metavar="NAME",
        default="openai",
        dest="default_profile",
        help="the default profile in the written file (default: openai)",
    )
    parser.add_argument(
        "--reply",
        metavar="TEXT",
        action="append",
        default=[],
        help="answer the next request with TEXT (repeatable, in order; then the defaults)",
    )
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="print one line per request received on stderr (keys masked)",
    )


def _extra_profiles(pairs: Sequence[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for pair in pairs:
        name, sep, provider = pair.partition("=")
        if not (sep and name.strip() and provider.strip()):
            raise ValueError(f"--profile takes NAME=PROVIDER, not {pair!r}")
        extra[name.strip()] = {"provider": provider.strip()}
    return extra


def add_parser(commands: Any) -> None:
    """Register `fake-server` on the command parser."""
    parser = commands.add_parser(
        "fake-server",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return serve(args)
    except (ValueError, OSError) as exc:  # a bad --profile, a port in use, an unwritable path
        raise CLIError(str(exc)) from None


def serve(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Start the server, announce it, serve until Ctrl-C / SIGTERM (or `stop` is set)."""
    import yaml

    from ..testing import FakeProviderServer, Reply
    from ..testing.server import REQUESTS_PATH

    stop = stop or threading.Event()
    log = _log_request if args.log_requests else None
    with FakeProviderServer(port=args.port, on_request=log) as fake:
        profiles = fake.profiles(args.default_profile, **_extra_profiles(args.extra_profiles))
        fake.script(*(Reply(text) for text in args.reply))
        say(f"fake provider server on {fake.url}")
        for name, profile in profiles["profiles"].items():
            say(f"  {name:<11} {profile['provider']:<11} {profile['base_url']}")
        say(f"requests received: GET {fake.url}{REQUESTS_PATH}")
        if args.write_profiles:
            path = Path(args.write_profiles)
            path.write_text(yaml.safe_dump(profiles, sort_keys=False), encoding="utf-8")
            say(f"profiles written to {path} (use --profiles {path} or LLM_CONTEXT_PROFILES)")
        with _stop_on_signals(stop), contextlib.suppress(KeyboardInterrupt):
            say("serving until Ctrl-C")
            sys.stdout.flush()  # a parent process reading a pipe waits for these lines
            while not stop.wait(0.5):  # a timed wait: Ctrl-C interrupts it on every platform
                pass
    return 0


def _log_request(request: RecordedRequest) -> None:
    """`--log-requests`: one line on stderr, written at once (lines of threads never mix)."""
    sys.stderr.write(f"fake-server: {request.log_line()}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C, `kill` and `Popen.terminate()` all stop the server cleanly (status 0)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    kinds = (signal.SIGINT, signal.SIGTERM)
    previous = {kind: signal.signal(kind, lambda signum, frame: stop.set()) for kind in kinds}
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m llm_context.testing`: exit status 0 after Ctrl-C, 2 for a bad argument."""
    parser = argparse.ArgumentParser(
        prog="python -m llm_context.testing",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except CLIError as exc:
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2
