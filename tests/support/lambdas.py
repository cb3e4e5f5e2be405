"""Invoke the real Lambda handlers in-process with events shaped like the samples in `events/`."""

from __future__ import annotations

import copy
import importlib.util
import json
import uuid
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ROOT, functions

EVENTS = ROOT / "events"


class Context:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-south-1:123456789012:function:test"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@cache
def handler_module(logical_id: str) -> ModuleType:
    props = functions()[logical_id]
    module_file, _ = props["Handler"].rsplit(".", 1)
    path = Path(ROOT, props["CodeUri"], f"{module_file}.py")
    spec = importlib.util.spec_from_file_location(f"fn_{logical_id}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(logical_id: str, event: dict[str, Any]) -> Any:
    return handler_module(logical_id).lambda_handler(event, Context())


@cache
def _samples() -> dict[str, dict[str, Any]]:
    found = {}
    for path in EVENTS.glob("*.json"):
        event = json.loads(path.read_text())
        if "routeKey" in event:
            found[event["routeKey"]] = event
    return found


def http_event(
    method: str,
    route: str,
    delivery_id: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The route's sample event for this delivery (and any other path parameters, e.g. `delegate_id`)."""
    event = copy.deepcopy(_samples()[f"{method} {route}"])
    every = ({"id": delivery_id} if delivery_id is not None else {}) | (params or {})
    path = route.replace("{id}", delivery_id or "")
    for name, value in every.items():
        path = path.replace(f"{{{name}}}", value)
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event["pathParameters"] = every
    event["headers"] = {k: v for k, v in event["headers"].items() if k not in ("idempotency-key", "content-length")}
    event["headers"].update(headers or {})
    if body is None:
        event.pop("body", None)
    else:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def route_function(method: str, route: str) -> str:
    from local.template import http_routes

    return next(fn for m, p, fn in http_routes() if m == method and p == route)


def call(
    method: str,
    route: str,
    delivery_id: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    event: dict[str, Any] | None = None,
) -> tuple[int, dict, Any]:
    """(status, headers, parsed JSON body) as API Gateway would answer (`event`: one built by the caller)."""
    event = event or http_event(method, route, delivery_id, body, headers)
    return answer(invoke(route_function(method, route), event))


def answer(response: dict[str, Any]) -> tuple[int, dict, Any]:
    """A handler's result as the caller gets it. The body travels as UTF-8: one that cannot be encoded
    (an unpaired surrogate in it) never reaches the caller, who gets a 500 from the gateway instead."""
    raw = response.get("body") or ""
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return 500, {}, {"message": "Internal Server Error"}
    return response["statusCode"], response.get("headers", {}), json.loads(raw) if raw else None
