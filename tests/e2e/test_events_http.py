"""Integration events over HTTP on the local stack: the writes the routes make reach the stack's
EventBridge bus through the table's stream and the event publisher, and `GET /local/bus` shows them."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.support import factories

pytestmark = [pytest.mark.e2e]


def bus_events(url: str, delivery_id: str, until_type: str, deadline_s: float = 10.0) -> list[dict]:
    """The delivery's events on the bus, polled until one of `until_type` is there or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        answer = requests.get(f"{url}/local/bus", timeout=30)
        assert answer.status_code == 200
        mine = [e for e in answer.json()["events"] if e["data"].get("delivery_id") == delivery_id]
        if any(e["type"] == until_type for e in mine) or time.monotonic() > end:
            return mine
        time.sleep(0.1)


def test_five_wrong_codes_then_a_failed_attempt_reach_the_bus_in_order(stack_url):
    assert requests.put(f"{stack_url}/local/clock", json={"now": "2026-11-23T09:00:00+01:00"}, timeout=5).ok
    body = factories.registration()
    delivery_id = body["delivery_id"]
    assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
    code = requests.get(f"{stack_url}/deliveries/{delivery_id}/code", timeout=5).json()["code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    courier = f"c-{uuid.uuid4().hex[:8]}"
    for _ in range(5):
        answer = requests.post(
            f"{stack_url}/deliveries/{delivery_id}/verifications",
            json={"code": wrong, "courier_id": courier, "device_id": "d-1"},
            timeout=5,
        )
        assert answer.status_code == 403
    failed = requests.post(
        f"{stack_url}/deliveries/{delivery_id}/attempts",
        json={"outcome": "CODE_NOT_PROVIDED", "courier_id": courier},
        timeout=5,
    )
    assert failed.status_code == 200

    events = bus_events(stack_url, delivery_id, "delivery.attempt_failed")

    kinds = [e["type"] for e in events if e["type"] != "delivery.code_sent"]  # the email's place may vary
    assert kinds == [
        "delivery.registered",
        "delivery.code_issued",
        *["delivery.wrong_code"] * 5,
        "delivery.locked",
        "delivery.attempt_failed",
    ]
    sequences = [e["data"]["sequence"] for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert len({e["id"] for e in events}) == len(events)
    wrong_codes = [e["data"] for e in events if e["type"] == "delivery.wrong_code"]
    assert [d["wrong_attempts_left"] for d in wrong_codes] == [4, 3, 2, 1, 0]
    assert {(d["courier_id"], d["device_id"]) for d in wrong_codes} == {(courier, "d-1")}
    attempt = next(e["data"] for e in events if e["type"] == "delivery.attempt_failed")  # the email may come last
    assert (attempt["detail_code"], attempt["next_delivery_date"], attempt["status"]) == (
        "OtpNotAvailable",
        "2026-11-24",
        "REQUEUED",
    )
    assert all(e["source"] == "delivery-otp" and e["subject"] == delivery_id for e in events)
    # A second look shows the same events again, not twice.
    assert bus_events(stack_url, delivery_id, "delivery.attempt_failed") == events
