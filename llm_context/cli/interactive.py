"""`llm-context chat` at a terminal with no prompt: a conversation, turn by turn. Replies
stream; Ctrl-C stops the reply being written and the session goes on; `!multi` takes
several lines (ended by `!end`); `!exit` (or Ctrl-D) leaves. Every turn is logged, so
`llm-context chat -c` picks the conversation up again after a restart.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..client import LLMClient
from ..errors import LLMError
from .common import say, warn
from .logbook import Logbook

__all__ = ["converse"]

BANNER = (
    "Chatting with {model} (profile {profile}). !exit leaves, !multi takes several lines, "
    "Ctrl-C stops a reply."
)


def _ask(read: Callable[[str], str]) -> str | None:
    """The next prompt, None to leave."""
    try:
        line = read("> ")
    except (EOFError, KeyboardInterrupt):
        return None
    if line.strip() in ("!exit", "!quit"):
        return None
    if line.strip() != "!multi":
        return line
    lines: list[str] = []
    while True:
        try:
            more = read("")
        except (EOFError, KeyboardInterrupt):
            return None
        if more.strip() == "!end":
            return "\n".join(lines)
        lines.append(more)


def converse(
    llm: LLMClient,
    book: Logbook,
    conversation: str | None,
    messages: list[dict[str, Any]],
    system: str | None,
    opts: dict[str, Any],
    log: bool,
    read: Callable[[str], str] = input,
) -> int:
    """The session; `messages` holds the conversation so far (and the system text)."""
    say(BANNER.format(model=opts.get("model") or llm.profile.model, profile=llm.profile.name))
    while (prompt := _ask(read)) is not None:
        if not prompt.strip():
            continue
        messages.append({"role": "user", "content": prompt})
        reply = _reply(llm, messages, opts)
        if reply is None:  # stopped, or failed: the turn is dropped
            messages.pop()
            continue
        messages.append({"role": "assistant", "content": reply.text})
        if log and book.enabled:
            conversation = book.record(
                conversation,
                profile=llm.profile.name,
                provider=llm.provider,
                model=reply.model or llm.profile.model,
                system=system,
                prompt=prompt,
                attachments=[],
                reply=reply.text,
                usage=reply.usage,
            )
    say()
    return 0


def _reply(llm: LLMClient, messages: list[dict[str, Any]], opts: dict[str, Any]) -> Any:
    """Stream one reply to the terminal; None when Ctrl-C stopped it or it failed."""
    stream = llm.stream_sync(messages, **opts)
    try:
        with stream:
            for delta in stream:
                sys.stdout.write(delta)
                sys.stdout.flush()
    except KeyboardInterrupt:
        say("\n[stopped]")
        return None
    except LLMError as exc:  # one line, and the session goes on
        say()
        warn(f"llm-context: error: {type(exc).__name__}: {' '.join(str(exc).split())}")
        return None
    say()
    return stream.result
