"""The HTTP side of the fake server: the listening socket and the request handler, which
records each request, asks the server for its route and script item, and answers.

`FakeProviderServer` owns the script and the records; the handler calls its public
`find_route`, `admit` and `note_error`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .bodies import decode_body
from .routing import Exchange, RecordedRequest, Route, StreamCut, dumps
from .script import Fault, ScriptItem

if TYPE_CHECKING:
    from .server import FakeProviderServer

__all__ = ["REQUESTS_PATH", "FakeHTTPServer", "Handler", "generic_error_body"]

REQUESTS_PATH = "/_fake/requests"
"""`GET` it for what the server received: a JSON list, credentials masked. Not recorded."""


def generic_error_body(status: int, message: str) -> Any:
    # OpenAI's shape: every SDK finds `error.message` in it.
    return {"error": {"message": message, "type": "fake_server_error", "param": None, "code": None}}


def _unrouted(exchange: Exchange) -> None:
    raise AssertionError("never called: unrouted requests get a 404 from the server")


_NOT_FOUND = Route("*", "", "unknown", "unknown", _unrouted, generic_error_body, accepts=())


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # benchmarks open up to a thousand connections at once

    def __init__(
        self,
        address: tuple[str, int],
        handler: Callable[..., BaseHTTPRequestHandler],
        fake: FakeProviderServer,
    ) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's getfqdn(): a reverse DNS lookup nobody needs.
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        host, port = str(self.server_address[0]), int(self.server_address[1])
        self.server_name, self.server_port = host, port
        self.url = f"http://{host}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked streams
    server: FakeHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silent: tests and benchmarks need no access log

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _dispatch(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        split = urlsplit(self.path)
        if self.command == "GET" and split.path == REQUESTS_PATH:
            self._send_recorded()
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        route, params, mounted = fake.find_route(self.command, split.path)
        recorded = RecordedRequest(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            json=decode_body(headers.get("content-type", ""), body),
            provider=mounted or (route.provider_for(headers) if route else "unknown"),
            endpoint=route.endpoint if route else "unknown",
        )
        if route is not None and route.streams(recorded):
            recorded = replace(recorded, stream=True)
        seq, recorded, item = fake.admit(recorded, consume=route is not None and route.consumes)
        if fake.on_request is not None:
            try:
                fake.on_request(recorded)
            except Exception:  # a broken logger must not break the answer
                fake.note_error(traceback.format_exc())
        extra = item.all_headers if isinstance(item, Fault) else getattr(item, "headers", {})
        exchange = Exchange(
            request=recorded,
            route=route or _NOT_FOUND,
            params=params,
            item=None if isinstance(item, Fault) else item,
            seq=seq,
            server_url=self.server.url,
            write=self.wfile.write,
            extra_headers=extra,
            prompt_cache=fake.prompt_cache,
            batches=fake.batches,
        )
        try:
            self._answer(exchange, route, item)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away mid-answer
        except Exception:
            fake.note_error(traceback.format_exc())
            if exchange.discard():
                exchange.send_error(500, "fake server: the handler crashed; see fake.errors")
            else:
                self.close_connection = True  # cannot repair a half-sent response

    def _send_recorded(self) -> None:
        """`GET /_fake/requests`: every recorded request, oldest first, credentials masked."""
        data = dumps([request.masked() for request in self.server.fake.requests])
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n"
        )
        self.wfile.write(head.encode("latin-1") + data)

    def _answer(self, exchange: Exchange, route: Route | None, item: ScriptItem | None) -> None:
        if route is None:
            known = sorted({r.path for r in self.server.fake.routes})
            exchange.send_json(
                generic_error_body(
                    404, f"fake server: no route for {self.command} {exchange.request.path}"
                )
                | {"known_routes": known},
                404,
            )
            return
        if isinstance(item, Fault):
            self._fault(exchange, item)
            return
        if item is not None and not isinstance(item, route.accepts):
            accepted = ", ".join(k.__name__ for k in (*route.accepts, Fault))
            exchange.send_error(
                500,
                f"fake server: the scripted {type(item).__name__} cannot answer "
                f"{route.method} {exchange.request.path} ({route.provider} {route.endpoint}); "
                f"that endpoint takes {accepted}",
            )
            return
        delay = getattr(item, "delay_s", 0.0)
        if delay:
            time.sleep(delay)
        try:
            route.handler(exchange)
        except StreamCut:
            exchange.end_sse()
            return
        if exchange.sse_open:
            exchange.end_sse()
        if not exchange.started:
            raise RuntimeError(f"{route.handler.__name__} sent no response")

    def _fault(self, exchange: Exchange, fault: Fault) -> None:
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.reset:
            # SO_LINGER 0: close() sends RST instead of FIN, i.e. "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault.malformed:
            if exchange.request.stream:
                exchange.start_sse()
                exchange.send_sse('{"malformed": tru', event=exchange.route.malformed_sse_event)
                exchange.end_sse()
            else:
                exchange.send_bytes(b'{"id": "fake", "malformed": tru', "application/json")
            return
        content_type = fault.content_type or "application/json"
        if fault.raw_body is not None:
            raw = fault.raw_body
            data = raw.encode() if isinstance(raw, str) else bytes(raw)
            exchange.send_bytes(data, content_type, fault.status)
            return
        body = fault.body
        if body is None:
            body = exchange.route.error_body(fault.status, fault.error_message)
        exchange.send_bytes(dumps(body), content_type, fault.status)
