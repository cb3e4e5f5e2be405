"""The local HTTP server: the template's HttpApi routes as API Gateway serves them (authorizers
included, unless switched off), and the local-only routes: everything under `/local/`, and the few
paths of their own that stand in for other AWS services (the couriers' sign-in, `/oauth2/...`)."""

from __future__ import annotations

import base64
import json
import logging
import os
import traceback
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from local.auth import LocalAuth, Refused
from local.containers import Function
from local.events import Route, api_event

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

log = logging.getLogger("local")

# An HTTP answer: status, headers, body.
Answer = tuple[int, dict[str, str], bytes]
# The local-only routes: method, path, query string and body to an answer.
LocalRoutes = Callable[[str, str, str, bytes], Answer]


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 resets connections when a burst of couriers arrives at once.
    request_queue_size = 256
    daemon_threads = True


def http_server(
    address: tuple[str, int],
    routes: list[Route],
    functions: Mapping[str, Function],
    auth: LocalAuth | None,
    local_routes: LocalRoutes,
    local_paths: frozenset[str] = frozenset(),
) -> ThreadingHTTPServer:
    """A server bound to `address` (port 0: any free one), not yet serving. `local_routes` answers every
    path under `/local/` and each of `local_paths`."""
    return _Server(address, _handler_for(routes, functions, auth, local_routes, local_paths))


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _handler_for(  # noqa: C901 - BaseHTTPRequestHandler's methods, closed over the stack
    routes: list[Route],
    functions: Mapping[str, Function],
    auth: LocalAuth | None,
    local_routes: LocalRoutes,
    local_paths: frozenset[str],
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "delivery-otp-local"

        def log_message(self, format: str, *args: Any) -> None:
            if os.environ.get("LOCAL_ACCESS_LOG"):
                super().log_message(format, *args)

        def _respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _dispatch(self) -> None:
            declared = self.headers.get("Content-Length") or "0"
            if not declared.isdigit():  # a body whose end cannot be known: nothing after it can be read
                self.close_connection = True
                self._respond(*_json(400, {"message": "Bad Request"}))
                return
            length = int(declared)
            if length > MAX_BODY_BYTES:
                # As API Gateway: refused from its declared size, before it is read.
                self.close_connection = True
                self._respond(*_json(413, {"message": "Request Entity Too Large"}))
                return
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            try:
                if url.path.startswith("/local/") or url.path in local_paths:
                    answer = local_routes(self.command, url.path, url.query, body)
                else:
                    answer = self._api(url.path, url.query, body)
            except Exception:
                log.error("%s %s failed:\n%s", self.command, url.path, traceback.format_exc())
                answer = _json(500, {"message": "Internal Server Error"})
            self._respond(*answer)

        def _api(self, path: str, query: str, body: bytes) -> Answer:
            for route in routes:
                params = route.match(self.command, path)
                if params is None:
                    continue
                headers = dict(self.headers.items())
                event = api_event(route, self.command, path, query, headers, body, params, self.client_address[0])
                if auth is not None:
                    try:
                        rule = auth.for_route(route.auth)
                        authorizer = auth.check(rule, self.command, path, query, headers, body)
                    except Refused as refused:
                        return _json(refused.status, {"message": refused.message})
                    if authorizer:
                        event["requestContext"]["authorizer"] = authorizer
                return _from_lambda(functions[route.function].invoke(event))
            return _json(404, {"message": "Not Found"})

        def __getattr__(self, name: str) -> Any:
            # Every method, even ones http.server never heard of, is routed (and answered 404 when no
            # route declares it), as API Gateway does.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

    return Handler


def _from_lambda(result: Any) -> Answer:
    """Map a handler's answer as the HTTP API does for payload format 2.0."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _json(200, result)
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(v) for v in values)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return int(result["statusCode"]), headers, raw
