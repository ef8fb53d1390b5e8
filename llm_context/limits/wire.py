"""One connection to the rate-limit backend that runs the limiter's scripts, where a release
costs no round trip: it is written and its answer read later, before the next command.

Redis runs a command when it arrives, so a release frees its lease at once; only reading
its (always trivial) answer is put off. A script Redis does not know (after a restart) is
loaded and the command sent again; a broken connection is reopened, and a release whose
answer was still unread then is left to its lease's TTL.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["ScriptWire"]


def packed(*parts: Any) -> bytes:
    """One command in Redis's wire protocol (RESP): the limiter's few str and int arguments,
    packed here in one pass (redis-py's general packer costs a tenth of a round trip)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


class ScriptWire:
    """Scripts by name over one owned connection; thread-safe."""

    def __init__(self, client: Any, scripts: dict[str, str]) -> None:
        from redis.exceptions import NoScriptError

        self._client = client
        self._no_script = NoScriptError
        self._scripts = scripts
        self._sha: dict[str, str] = {}
        self._lock = threading.Lock()
        self._conn: Any = None
        self._unread: list[tuple[str, list[Any]]] = []  # sent, answer not read yet

    def call(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run a script and return its answer. It is written before the answers still owed
        are read, so those (usually already here) and its own come in the same read."""
        with self._lock:
            conn = self._connection()
            try:
                sha = self._loaded(name)
                conn.send_packed_command([packed("EVALSHA", sha, len(keys), *keys, *args)])
                again = self._drain(conn)
                try:
                    answer = conn.read_response()
                except self._no_script:
                    self._sha.clear()  # a restarted Redis: load again, once
                    answer = self._run(conn, name, keys, args)
                self._resend(conn, again)
                return answer
            except BaseException:
                self._reset()
                raise

    def send(self, name: str, keys: list[str], args: list[Any]) -> None:
        """Run a script whose answer nobody waits for (a release): written, read later."""
        with self._lock:
            conn = self._connection()
            try:
                sha = self._loaded(name)
                conn.send_packed_command([packed("EVALSHA", sha, len(keys), *keys, *args)])
                self._unread.append((name, [*keys, *args, len(keys)]))
            except BaseException:
                self._reset()
                raise

    def flush(self) -> None:
        """Read the answers still owed (before closing, say)."""
        with self._lock:
            if self._conn is not None and self._unread:
                try:
                    self._resend(self._conn, self._drain(self._conn))
                    self._drain(self._conn)
                except BaseException:
                    self._reset()
                    raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._client.connection_pool.release(self._conn)
                self._conn = None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._client.connection_pool.get_connection()
        return self._conn

    def _reset(self) -> None:
        """Drop a connection in an unknown state (its owed releases run out by TTL)."""
        self._unread = []
        if self._conn is not None:
            self._conn.disconnect()
            self._client.connection_pool.release(self._conn)
            self._conn = None

    def _loaded(self, name: str) -> str:
        sha = self._sha.get(name)
        if sha is None:
            sha = self._sha[name] = str(self._client.script_load(self._scripts[name]))
        return sha

    def _run(self, conn: Any, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            conn.send_command("EVALSHA", self._loaded(name), len(keys), *keys, *args)
            return conn.read_response()
        except self._no_script:
            self._sha.clear()  # a restarted Redis: load again, once
            conn.send_command("EVALSHA", self._loaded(name), len(keys), *keys, *args)
            return conn.read_response()

    def _drain(self, conn: Any) -> list[tuple[str, list[Any]]]:
        """Read the answers owed; the releases Redis did not know the script of (restarted)
        are returned, to be sent again once the answers after them are read."""
        owed, self._unread = self._unread, []
        again: list[tuple[str, list[Any]]] = []
        for position, (name, packed) in enumerate(owed):
            try:
                conn.read_response()
            except self._no_script:
                self._sha.clear()
                again.append((name, packed))
            except BaseException:
                self._unread = owed[position + 1 :]
                raise
        return again

    def _resend(self, conn: Any, again: list[tuple[str, list[Any]]]) -> None:
        for name, packed in again:
            nkeys = packed[-1]
            keys, args = packed[:nkeys], packed[nkeys:-1]
            conn.send_command("EVALSHA", self._loaded(name), len(keys), *keys, *args)
            self._unread.append((name, packed))
