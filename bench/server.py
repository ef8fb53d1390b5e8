"""The fake provider server in a child process, so its request handling does not compete with
the code under measurement for this interpreter's GIL. Commands travel over a pipe."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from llm_context.testing import Reply

__all__ = ["ServerProcess"]


def _serve(conn: Connection) -> None:
    from llm_context.testing import FakeProviderServer

    with FakeProviderServer(record_limit=16) as fake:
        routed = sorted({route.provider for route in fake.routes})
        conn.send((fake.profiles(), routed))
        while True:
            command, *args = conn.recv()
            if command == "stop":
                conn.send(None)
                return
            if command == "script":
                item, count = args
                fake.script(*([item] * count))
                conn.send(None)
            elif command == "clear":
                fake.clear()
                conn.send(None)
            elif command == "bodies":
                conn.send([r.json for r in fake.requests])
            elif command == "state":
                times = os.times()
                conn.send(
                    {
                        "pending": fake.pending,
                        "errors": fake.errors,
                        "cpu_s": times.user + times.system,
                    }
                )
            else:
                conn.send(ValueError(f"unknown command {command!r}"))


def main(fd: int) -> None:
    """The child's entry point: serve commands on the inherited socket `fd`."""
    _serve(Connection(fd))


class ServerProcess:
    """`with ServerProcess() as server:` a running fake server; `server.profiles` points at it."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # A fresh interpreter (not fork: this process may hold threads and sockets).
        root = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        code = f"import bench.server as s; s.main({theirs.fileno()})"
        self._process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=[theirs.fileno()], env=env
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        profiles, routed = self._conn.recv()
        self.profiles: dict[str, Any] = profiles
        self.routed: frozenset[str] = frozenset(routed)

    def _ask(self, *command: Any) -> Any:
        self._conn.send(command)
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def profile(self, provider: str) -> dict[str, Any]:
        """The fake profile of `provider`: base_url, api_key, model."""
        return dict(self.profiles["profiles"][provider])

    def script(self, item: Reply, count: int) -> None:
        """Queue `count` copies of `item`: one per request that follows."""
        if count > 0:
            self._ask("script", item, count)

    def clear(self) -> None:
        self._ask("clear")

    def bodies(self) -> list[Any]:
        """The JSON bodies of the most recent requests, oldest first."""
        return list(self._ask("bodies"))

    def state(self) -> dict[str, Any]:
        """Unconsumed script items, handler crashes, and the server's CPU seconds so far."""
        return dict(self._ask("state"))

    def close(self) -> None:
        if self._process.poll() is None:
            self._ask("stop")
            self._process.wait(timeout=10)
        self._conn.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
