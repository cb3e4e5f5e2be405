"""Webhook receivers for the tests: small HTTP servers on 127.0.0.1, started and stopped by a test,
each recording what reached it and answering as the test asks (2xx, 500, hang, close, redirect)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What a failing receiver says in its body: it must never reach the attempt log or any store.
RESPONSE_BODY_MARK = "receiver-said-TOP-SECRET-7c41"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived


@dataclass
class Receiver:
    url: str
    behaviour: str = "ok"  # ok | fail (500) | hang | close | redirect
    redirect_to: str = ""
    hang_seconds: float = 11.0
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float, event_id: str | None = None) -> list[Received]:
        """What arrived once `count` messages did (only those of `event_id` when given), or at the timeout."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.of(event_id)) >= count, timeout_s)
            return self.of(event_id)

    def of(self, event_id: str | None) -> list[Received]:
        """The messages that carried `event_id` (all of them when None)."""
        if event_id is None:
            return list(self.received)
        return [r for r in self.received if json.loads(r.body).get("id") == event_id]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.arrived:
                receiver.received.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                )
                receiver.arrived.notify_all()
            if receiver.behaviour == "close":
                self.close_connection = True
                self.connection.close()
                return
            if receiver.behaviour == "hang":
                time.sleep(receiver.hang_seconds)  # a receiver that does not answer in time
            status = {"ok": 204, "fail": 500, "hang": 200, "redirect": 302}[receiver.behaviour]
            payload = b"" if status == 204 else RESPONSE_BODY_MARK.encode()
            self.send_response(status)
            if receiver.behaviour == "redirect":
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except OSError:
                pass  # the sender gave up waiting

    return Handler


@contextmanager
def receiver(behaviour: str = "ok", **options: Any) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    port = server.server_address[1]
    found = Receiver(url=f"http://127.0.0.1:{port}/hooks", behaviour=behaviour, **options)
    server.RequestHandlerClass = _handler(found)
    thread = threading.Thread(target=server.serve_forever, name=f"receiver-{port}", daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
