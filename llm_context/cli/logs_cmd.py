"""`llm-context logs`: the logged exchanges read back (`-n`, `-q`, `--json`), and the
switch (`logs off`, `logs on`, `logs path`)."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from .common import say
from .logbook import Logbook

__all__ = ["add_parser"]

DESCRIPTION = """\
Every `llm-context chat` exchange is logged (prompt, reply, model, usage; attachments by
name, size and hash, never keys) to a SQLite file in your data directory.

examples:
  llm-context logs                 # the last 3 exchanges
  llm-context logs -n 10 -q fjord  # the last 10 that mention "fjord"
  llm-context logs --json
  llm-context logs off             # stop logging (logs on: start again)
  llm-context logs path            # where the file is
"""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "logs",
        help="read the log of chat exchanges; logs on|off|path",
        description=DESCRIPTION,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", nargs="?", choices=("list", "on", "off", "path"), default="list")
    parser.add_argument("-n", "--count", type=int, default=3, help="how many (default 3)")
    parser.add_argument("-q", "--query", metavar="TEXT", help="only exchanges holding TEXT")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    book = Logbook()
    if args.action == "path":
        say(str(book.path))
        return 0
    if args.action in ("on", "off"):
        book.switch(args.action == "on")
        say(f"logging is {args.action}")
        return 0
    found = book.latest(max(1, args.count), args.query)
    book.close()
    if args.json:
        say(json.dumps([e.as_json() for e in found], indent=2, ensure_ascii=False))
        return 0
    for e in found:
        when = datetime.datetime.fromtimestamp(e.at).isoformat(timespec="seconds")
        say(f"# {when}  conversation {e.conversation}  {e.profile} ({e.provider}, {e.model})")
        say(f"\n## Prompt\n\n{e.prompt}\n")
        for file in e.attachments:
            say(f"- attached {file.get('name') or file.get('url')}")
        say(f"## Reply\n\n{e.reply}\n")
    if not found:
        say("no exchanges logged yet" if book.enabled else "logging is off (llm-context logs on)")
    return 0
