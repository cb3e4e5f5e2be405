"""Work per request: every AWS call each path makes, counted with a botocore event hook against moto.

Each scenario runs once to warm up (the code key is fetched from Secrets Manager on the first
request of a container, then cached) and is then counted on a fresh delivery. Requests made only
because the caller sent an Idempotency-Key are counted apart.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any

import botocore.session
from delivery_otp import wiring
from delivery_otp.clock import SettableClock

from tests.support import factories
from tests.support.lambdas import http_event, invoke

NOW = datetime.fromisoformat("2026-11-23T10:00:00+01:00")
_calls: Counter[str] = Counter()
_original_create_client = botocore.session.Session.create_client


def _count(model: Any, **_: Any) -> None:
    _calls[f"{model.service_model.service_name}:{model.name}"] += 1


def _create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
    client = _original_create_client(self, *args, **kwargs)
    client.meta.events.register("before-call", _count)
    return client


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """All clients created inside count their calls; adapters are rebuilt so theirs are too."""
    botocore.session.Session.create_client = _create_client  # type: ignore[method-assign]
    from delivery_otp.observability import logger

    level = logger.level
    logger.setLevel(logging.WARNING)  # the functions' INFO lines would bury the figures
    wiring.reset()
    wiring.override(clock=SettableClock(NOW))
    try:
        yield _calls
    finally:
        botocore.session.Session.create_client = _original_create_client  # type: ignore[method-assign]
        logger.setLevel(level)
        wiring.reset()


def _counted(action: Callable[[], Any]) -> Counter[str]:
    before = Counter(_calls)
    action()
    return _calls - before


def _http(function: str, method: str, route: str, delivery_id: str | None, body: Any, *, courier=None, key=None):
    event = http_event(method, route, delivery_id, body, {"idempotency-key": key} if key else {})
    if courier:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": {"username": courier}, "scopes": ["verify"]}}
    response = invoke(function, event)
    return response["statusCode"], json.loads(response["body"])


def _registration() -> dict[str, Any]:
    """A registration to an address of its own: on a table shared with other work (the test suite's), an
    address another test made bounce is suppressed, and its email would not be sent or counted."""
    return factories.registration(recipient__email=f"w-{uuid.uuid4().hex[:12]}@example.com")


def _registered() -> tuple[str, str]:
    body = _registration()
    status, _ = _http("RegisterFunction", "POST", "/deliveries", None, body)
    assert status == 201
    status, shown = _http("StorefrontFunction", "GET", "/deliveries/{id}/code", body["delivery_id"], None)
    return body["delivery_id"], shown["code"]


def _verify(delivery_id: str, code: str, courier: str | None = None, key: str | None = None) -> int:
    body = {"code": code, "device_id": "d-9"}
    route = "/deliveries/{id}/verifications"
    return _http("VerifyFunction", "POST", route, delivery_id, body, courier=courier, key=key)[0]


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _email_for(delivery_id: str) -> None:
    record = factories.new_code_record(delivery_id)
    assert invoke("EmailFunction", {"Records": [record]}) == {"batchItemFailures": []}


def _delegate_code(delivery_id: str, delegate: str) -> str:
    """Derived as the email sender derives it (outside the counted request)."""
    from delivery_otp import codes
    from delivery_otp.wiring import adapters

    item = adapters().deliveries.get(delivery_id)
    every = codes.delegate_codes(
        adapters().keys.key(), delivery_id, int(item.issue_number), item.code_nonce, int(item.delegate_count)
    )
    return every[delegate]


def measure() -> dict[str, dict[str, int]]:
    """{scenario: {"service:Operation": count}} for each path, after a warm-up of the same path."""
    results: dict[str, dict[str, int]] = {}
    with counting():
        warm_id, warm_code = _registered()
        _email_for(warm_id)
        _verify(warm_id, _wrong(warm_code), courier="c-warm")
        _verify(warm_id, warm_code, courier="c-warm")

        body = _registration()
        results["registration"] = dict(_counted(lambda: _http("RegisterFunction", "POST", "/deliveries", None, body)))
        results["registration email (stream consumer)"] = dict(_counted(lambda: _email_for(body["delivery_id"])))

        for courier in (None, f"c-{uuid.uuid4().hex[:8]}"):
            who = "with courier" if courier else "no courier"
            delivery_id, code = _registered()
            wrong = partial(_verify, delivery_id, _wrong(code), courier)
            results[f"verify wrong code, {who}"] = dict(_counted(wrong))
            results[f"verify right code, {who}"] = dict(_counted(partial(_verify, delivery_id, code, courier)))

        delivery_id, _ = _registered()
        person = {"name": "Marco Bianchi", "email": "marco@example.com"}
        status, named = _http("StorefrontFunction", "POST", "/deliveries/{id}/delegates", delivery_id, person)
        assert status == 201
        delegate_code = _delegate_code(delivery_id, named["delegate_id"])
        results["verify a delegate's right code"] = dict(_counted(partial(_verify, delivery_id, delegate_code)))

        delivery_id, code = _registered()
        key = str(uuid.uuid4())
        results["verify right code + Idempotency-Key"] = dict(
            _counted(lambda: _verify(delivery_id, code, "c-key", key=key))
        )
        results["same Idempotency-Key replayed"] = dict(_counted(lambda: _verify(delivery_id, code, "c-key", key=key)))
    return results


if __name__ == "__main__":
    from tests.support.aws import moto_with_template

    with moto_with_template(suffix="bench"):
        for scenario, calls in measure().items():
            print(f"{scenario:42} {sum(calls.values())}  {calls}")
