"""Webhooks on the local stack, over real HTTP end to end: an event put on the webhook events queue (as
the event bus's rule puts it) reaches receivers on 127.0.0.1 within seconds, signed as the reference
`standardwebhooks` library checks; a hanging endpoint does not delay another; a failing one is retried
on the schedule by the local clock and `POST /local/schedules/run`, then dead-lettered."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from tests.support.receivers import RESPONSE_BODY_MARK, receiver

pytestmark = [pytest.mark.e2e]


def queue_url(sqs: Any, name: str) -> str:
    return sqs.get_queue_url(QueueName=f"{name}-local")["QueueUrl"]


@pytest.fixture
def webhooks(stack_url, stack_sqs):
    """No endpoint registered before or after (ten at most, and the stack is shared); the clock released."""

    def clear() -> None:
        for hook in requests.get(f"{stack_url}/webhooks", timeout=5).json()["webhooks"]:
            requests.delete(f"{stack_url}/webhooks/{hook['id']}", timeout=5)

    clear()
    yield stack_url
    clear()
    requests.delete(f"{stack_url}/local/clock", timeout=5)


def register(url: str, receiver_url: str, **body: Any) -> dict[str, Any]:
    created = requests.post(f"{url}/webhooks", json={"url": receiver_url, **body}, timeout=10)
    assert created.status_code == 201, created.text
    return created.json()


def publish(sqs: Any, kind: str = "delivery.delivered") -> dict[str, Any]:
    """An event on the webhook events queue, in EventBridge's envelope."""
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "delivery-otp",
        "type": kind,
        "time": "2026-11-23T10:00:00.000Z",
        "subject": "IT-000123",
        "datacontenttype": "application/json",
        "data": {"delivery_id": "IT-000123", "order_id": "402-1", "status": "DELIVERED", "sequence": 3},
    }
    envelope = {"version": "0", "detail-type": kind, "source": "delivery-otp", "detail": event}
    sqs.send_message(QueueUrl=queue_url(sqs, "WebhookEventsQueue"), MessageBody=json.dumps(envelope))
    return event


def test_an_event_reaches_every_endpoint_within_seconds_signed(webhooks, stack_sqs) -> None:
    with receiver() as a, receiver() as b:
        to_a = register(webhooks, a.url)
        to_b = register(webhooks, b.url, event_types=["delivery.delivered"])
        listed = requests.get(f"{webhooks}/webhooks", timeout=5).json()
        assert "secret" not in json.dumps(listed) and len(listed["webhooks"]) == 2
        started = time.monotonic()
        event = publish(stack_sqs)
        for rx, created in ((a, to_a), (b, to_b)):
            (got,) = rx.wait_for(1, timeout_s=10)
            assert got.at - started < 5, "the first attempt goes out within a few seconds"
            assert Webhook(created["secret"]).verify(got.body, got.headers) == event
            assert got.headers["webhook-id"] == event["id"]


def test_the_test_route_reaches_its_endpoint_only(webhooks) -> None:
    with receiver() as a, receiver() as b:
        to_a = register(webhooks, a.url)
        register(webhooks, b.url)
        assert requests.post(f"{webhooks}/webhooks/{to_a['id']}/test", timeout=5).status_code == 202
        (got,) = a.wait_for(1, timeout_s=10)
        assert Webhook(to_a["secret"]).verify(got.body, got.headers)["type"] == "webhook.test"
        requests.post(f"{webhooks}/local/schedules/run", timeout=60)  # everything queued is handled by now
        # b may get other tests' delivery events (the stack is shared); never this endpoint's test event.
        assert [json.loads(r.body)["type"] for r in b.received if json.loads(r.body)["type"] == "webhook.test"] == []


def test_an_endpoint_that_hangs_does_not_delay_another(webhooks, stack_sqs) -> None:
    with receiver("hang", hang_seconds=11) as slow, receiver() as fast:
        register(webhooks, slow.url)
        to_fast = register(webhooks, fast.url)
        started = time.monotonic()
        publish(stack_sqs)
        (got,) = fast.wait_for(1, timeout_s=8)
        arrived = got.at - started
        assert slow.wait_for(1, timeout_s=5), "the slow endpoint was tried as well"
        assert arrived < 5, f"the fast endpoint waited {arrived:.1f} s"
        Webhook(to_fast["secret"]).verify(got.body, got.headers)
        # The slow one is given up after 10 seconds: its attempt is logged as a timeout.
        slow_id = next(
            h["id"] for h in requests.get(f"{webhooks}/webhooks", timeout=5).json()["webhooks"] if h["url"] == slow.url
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            logged = requests.get(f"{webhooks}/webhooks/{slow_id}/deliveries", timeout=5).json()["attempts"]
            if logged:
                break
            time.sleep(0.2)
        assert [(a["attempt"], a["error"]) for a in logged] == [(1, "timeout")]
        assert 10_000 <= logged[0]["duration_ms"] < 11_000


WAITS = [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]
WAITS += [timedelta(hours=5), timedelta(hours=10), timedelta(hours=10)]


def test_a_failing_endpoint_is_retried_on_the_local_clock_then_dead_lettered(webhooks, stack_sqs) -> None:
    now = datetime.fromisoformat("2026-11-23T10:00:00+00:00")
    assert requests.put(f"{webhooks}/local/clock", json={"now": now.isoformat()}, timeout=5).status_code == 200
    with receiver("fail") as rx:
        # Only this event is counted: on the shared stack, the clock's jumps rotate other tests' open
        # deliveries, whose events would reach an endpoint that takes every type.
        created = register(webhooks, rx.url, event_types=["delivery.delivered"])
        event = publish(stack_sqs)
        rx.wait_for(1, timeout_s=10, event_id=event["id"])
        # Returns once every queue is drained: the first failure is recorded, at the clock's now.
        assert requests.post(f"{webhooks}/local/schedules/run", timeout=60).status_code == 200
        for number, wait in enumerate(WAITS, start=2):
            now += wait - timedelta(seconds=1)
            requests.put(f"{webhooks}/local/clock", json={"now": now.isoformat()}, timeout=5)
            assert requests.post(f"{webhooks}/local/schedules/run", timeout=60).status_code == 200
            assert len(rx.of(event["id"])) == number - 1, "a retry went out before its time"
            now += timedelta(seconds=1)
            requests.put(f"{webhooks}/local/clock", json={"now": now.isoformat()}, timeout=5)
            requests.post(f"{webhooks}/local/schedules/run", timeout=60)
            assert len(rx.wait_for(number, timeout_s=10, event_id=event["id"])) == number
        for got in rx.of(event["id"]):
            assert Webhook(created["secret"]).verify(got.body, got.headers) == event
    logged = requests.get(f"{webhooks}/webhooks/{created['id']}/deliveries", timeout=5).json()["attempts"]
    assert [(a["attempt"], a["status_code"], a["error"]) for a in logged] == [
        (n, 500, "http_status") for n in range(8, 0, -1)
    ]
    assert RESPONSE_BODY_MARK not in json.dumps(logged)
    dead = stack_sqs.receive_message(QueueUrl=queue_url(stack_sqs, "WebhookDeadLetterQueue"), MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in dead.get("Messages", [])]
    assert any(b["event"]["id"] == event["id"] and b["attempt"] == 8 for b in bodies)
