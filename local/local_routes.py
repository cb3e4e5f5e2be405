"""The local-only routes: health, mailbox, event bus, clock, schedules, tokens, invoke, and the couriers'
sign-in (`/oauth2/...`, local/oauth.py). Never deployed."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from local.auth import COURIER_ID
from local.oauth import PATHS as SIGN_IN_PATHS

# Local-only paths outside `/local/`: where the couriers' hosted sign-in is in AWS.
LOCAL_PATHS = SIGN_IN_PATHS

if TYPE_CHECKING:
    from delivery_otp.clock import SettableClock

    from local.auth import LocalAuth
    from local.containers import Function
    from local.oauth import LocalSignIn


class Stack(Protocol):
    """What these routes need of the running stack (the stack itself passes here; nothing imports it)."""

    @property
    def ready(self) -> bool: ...

    @property
    def moto_url(self) -> str: ...

    @property
    def clock(self) -> SettableClock: ...

    @property
    def auth(self) -> LocalAuth | None: ...

    @property
    def sign_in(self) -> LocalSignIn | None: ...

    @property
    def functions(self) -> Mapping[str, Function]: ...

    def mailbox(self, to: str | None) -> dict[str, Any]: ...

    def bus(self) -> dict[str, Any]: ...

    def run_schedules(self) -> dict[str, Any]: ...

    def drain(self) -> None: ...


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body, default=str).encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"error": {"code": code, "message": message}})


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return ValueError


def _health(stack: Stack, query: str) -> tuple[int, dict[str, str], bytes]:
    # The AWS endpoint (moto) is for the operations commands: `make redrive LOCAL=...`.
    status = {"status": "ok", "aws_endpoint": stack.moto_url} if stack.ready else {"status": "starting"}
    return _json(200 if stack.ready else 503, status)


def _mailbox(stack: Stack, query: str) -> tuple[int, dict[str, str], bytes]:
    return _json(200, stack.mailbox(parse_qs(query).get("to", [None])[0]))


def _bus(stack: Stack, query: str) -> tuple[int, dict[str, str], bytes]:
    return _json(200, stack.bus())


# The routes that only read, by path.
_READS = {"/local/health": _health, "/local/mailbox": _mailbox, "/local/bus": _bus}


def local_route(stack: Stack, method: str, path: str, query: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    if path in SIGN_IN_PATHS:
        return _sign_in(stack, method, path, query, raw)
    if method == "GET" and path in _READS:
        return _READS[path](stack, query)
    if path == "/local/clock":
        if method == "PUT":
            return _set_clock(stack, _body(raw))
        if method == "DELETE":
            stack.clock.release()
            return _json(200, {"now": stack.clock.now().isoformat(), "frozen": False})
        if method == "GET":
            return _json(200, {"now": stack.clock.now().isoformat(), "frozen": stack.clock.frozen is not None})
    if path == "/local/schedules/run" and method == "POST":
        return _json(200, stack.run_schedules())
    if path == "/local/credentials/storefront" and method == "GET" and stack.auth is not None:
        return _json(200, stack.auth.storefront_credentials())
    if path == "/local/tokens/courier" and method == "POST" and stack.auth is not None:
        body = _body(raw)
        courier_id = body.get("courier_id") if isinstance(body, dict) else None
        if not isinstance(courier_id, str) or re.fullmatch(COURIER_ID, courier_id, re.ASCII) is None:
            return _error(
                422, "INVALID_INPUT", "courier_id: required, 1 to 128 of A-Z, a-z, 0-9, '.', '_', '@', '+', '-'"
            )
        return _json(200, stack.auth.courier_token(courier_id))
    if path.startswith("/local/invoke/") and method == "POST":
        name = path.removeprefix("/local/invoke/")
        if name not in stack.functions:
            return _error(404, "NOT_FOUND", f"no function {name!r} in template.yaml")
        event = _body(raw)
        if event is ValueError:
            return _error(400, "MALFORMED_REQUEST", "the event must be JSON")
        result = stack.functions[name].invoke(event if event is not None else {})
        stack.drain()
        return _json(200, result)
    return _error(404, "NOT_FOUND", f"no local route {method} {path}")


def _sign_in(stack: Stack, method: str, path: str, query: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    if stack.sign_in is None:
        return _error(404, "NOT_FOUND", "the couriers' sign-in needs authentication on (LOCAL_AUTH is off)")
    return stack.sign_in.route(method, path, query, raw)


def _set_clock(stack: Stack, body: Any) -> tuple[int, dict[str, str], bytes]:
    if not isinstance(body, dict) or not isinstance(body.get("now"), str):
        return _error(
            422,
            "INVALID_INPUT",
            'now: required, an ISO 8601 instant with offset, e.g. {"now": "2026-11-23T21:00:00+01:00"}',
        )
    try:
        instant = datetime.fromisoformat(body["now"])
    except ValueError:
        return _error(422, "INVALID_INPUT", f"now: {body['now']!r} is not an ISO 8601 instant")
    if instant.tzinfo is None:
        return _error(422, "INVALID_INPUT", "now: the instant needs an offset (e.g. +01:00 or Z)")
    stack.clock.freeze(instant)
    return _json(200, {"now": instant.isoformat(), "frozen": True})
