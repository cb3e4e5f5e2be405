"""Webhooks through the real handlers against moto, to receivers on 127.0.0.1 over real HTTP: the
storefront's routes, the fan-out, the signed send (checked by the reference `standardwebhooks`
library), rotation, retries on the schedule into the dead letters, and the SSRF guard at each send."""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest
from delivery_otp import wiring
from delivery_otp.adapters.webhook_http import HttpSender
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.aws import REGION
from tests.support.lambdas import call, invoke
from tests.support.receivers import RESPONSE_BODY_MARK, receiver

pytestmark = pytest.mark.xdist_group("webhooks")

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")


@pytest.fixture
def hooks(aws, clock):
    """No endpoint registered yet (the registry is one item of the shared table)."""
    store = wiring.adapters().webhooks
    for endpoint in store.endpoints():
        store.remove(endpoint["id"])
    sqs = boto3.client("sqs", region_name=REGION)
    for name in ("WebhookDeliveryQueue", "WebhookDeadLetterQueue", "WebhookEventsQueue"):
        queue = aws[name]["Ref"]
        while got := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in got:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return aws


def register(url: str, headers: dict[str, str] | None = None, **body: Any) -> tuple[int, Any]:
    status, _, answer = call("POST", "/webhooks", body={"url": url, **body}, headers=headers)
    return status, answer


def cloud_event(kind: str = "delivery.delivered", delivery_id: str = "IT-000123") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "delivery-otp",
        "type": kind,
        "time": "2026-11-23T10:00:00.000Z",
        "subject": delivery_id,
        "datacontenttype": "application/json",
        "data": {"delivery_id": delivery_id, "order_id": "402-1", "status": "DELIVERED", "sequence": 7},
    }


def fan_out(aws, *events: dict[str, Any]) -> None:
    """Events as the bus's rule puts them on the events queue, handed to the fan-out function."""
    records = [
        {
            "messageId": str(uuid.uuid4()),
            "body": json.dumps({"detail-type": e["type"], "source": "delivery-otp", "detail": e}),
        }
        for e in events
    ]
    assert invoke("WebhookFanoutFunction", {"Records": records}) == {"batchItemFailures": []}


def dispatch_queued(aws) -> int:
    """Hand every message of the delivery queue to the dispatcher, as the queue would; how many."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue = aws["WebhookDeliveryQueue"]["Ref"]
    handled = 0
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            record = {"messageId": message["MessageId"], "body": message["Body"]}
            assert invoke("WebhookDispatchFunction", {"Records": [record]}) == {"batchItemFailures": []}
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            handled += 1
    return handled


def dead_letters(aws) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    found = sqs.receive_message(QueueUrl=aws["WebhookDeadLetterQueue"]["Ref"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in found.get("Messages", [])]


def attempts(endpoint_id: str) -> list[dict[str, Any]]:
    status, _, body = call(
        "GET", "/webhooks/{id}/deliveries", event=_event("GET", "/webhooks/{id}/deliveries", endpoint_id)
    )
    assert status == 200
    return body["attempts"]


def _event(method: str, route: str, endpoint_id: str, body: Any = None, headers: dict[str, str] | None = None):
    from tests.support.lambdas import http_event

    return http_event(method, route, endpoint_id, body, headers)


def table_dump(aws) -> str:
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=aws["DeliveriesTable"]["Ref"])["Items"]
    return json.dumps(items)


# --- the storefront's routes ---------------------------------------------------------------------------


def test_a_registered_endpoint_gets_a_secret_once_and_is_listed_without_it(hooks) -> None:
    with receiver() as rx:
        status, created = register(rx.url, event_types=["delivery.delivered"], description="orders")
    assert status == 201
    assert set(created) == {"id", "url", "event_types", "description", "secret", "created_at"}
    assert SECRET.match(created["secret"]) and len(base64.b64decode(created["secret"][6:])) == 32
    status, _, listed = call("GET", "/webhooks")
    assert status == 200
    assert listed["webhooks"] == [{k: v for k, v in created.items() if k != "secret"}]
    assert "secret" not in json.dumps(listed)
    assert created["secret"][6:] not in table_dump(hooks)


def test_a_retry_with_the_same_idempotency_key_shows_the_same_secret_which_its_record_does_not_hold(hooks) -> None:
    key = {"idempotency-key": str(uuid.uuid4())}
    with receiver() as rx:
        first = register(rx.url, headers=key)
        again = register(rx.url, headers=key)
    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert len(wiring.adapters().webhooks.endpoints()) == 1
    dump = table_dump(hooks)
    assert first[1]["id"] in dump  # the idempotency record is there, with a marker only
    assert first[1]["secret"][6:] not in dump and first[1]["secret"] not in dump


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"url": "https://hooks.example.com/x", "event_types": ["delivery.delivered", "delivery.teleported"]},
            "event_types[1]",
        ),
        ({"url": "https://hooks.example.com/x", "event_types": []}, "event_types"),
        ({"url": "https://169.254.169.254/latest/meta-data/"}, "url"),
        ({"url": "http://hooks.example.com/x"}, "url"),
        ({"url": "https://[::ffff:127.0.0.1]/x"}, "url"),
        ({"event_types": ["delivery.delivered"]}, "url"),
        ({"url": "https://hooks.example.com/x", "description": 5}, "description"),
    ],
)
def test_a_bad_registration_is_422_naming_the_field(hooks, body, field) -> None:
    status, _, answer = call("POST", "/webhooks", body=body)
    assert status == 422
    assert answer["error"]["message"].startswith(f"{field}:")
    assert wiring.adapters().webhooks.endpoints() == []


def test_past_ten_endpoints_registration_is_409(hooks) -> None:
    with receiver() as rx:
        for _ in range(10):
            assert register(rx.url)[0] == 201
        status, answer = register(rx.url)
    assert status == 409 and answer["error"]["code"] == "TOO_MANY_WEBHOOKS"
    assert len(wiring.adapters().webhooks.endpoints()) == 10


def test_deleting_an_endpoint_then_again_is_404(hooks) -> None:
    with receiver() as rx:
        _, created = register(rx.url)
    event = _event("DELETE", "/webhooks/{id}", created["id"])
    assert call("DELETE", "/webhooks/{id}", event=event)[0] == 200
    assert call("DELETE", "/webhooks/{id}", event=_event("DELETE", "/webhooks/{id}", created["id"]))[0] == 404
    assert call("GET", "/webhooks")[2] == {"webhooks": []}


@pytest.mark.parametrize("keep", [-1, 86401, "60", True, 1.5])
def test_keep_old_seconds_out_of_range_is_422(hooks, keep) -> None:
    with receiver() as rx:
        _, created = register(rx.url)
    route = "/webhooks/{id}/secret/rotate"
    status, _, answer = call("POST", route, event=_event("POST", route, created["id"], {"keep_old_seconds": keep}))
    assert status == 422 and answer["error"]["message"].startswith("keep_old_seconds:")


# --- signed sends -------------------------------------------------------------------------------------------


def test_every_subscribed_endpoint_gets_the_event_signed_as_the_reference_library_checks(hooks) -> None:
    with receiver() as a, receiver() as b, receiver() as other:
        _, to_a = register(a.url)
        _, to_b = register(b.url, event_types=["delivery.delivered"])
        _, to_other = register(other.url, event_types=["delivery.cancelled"])
        event = cloud_event()
        fan_out(hooks, event)
        assert dispatch_queued(hooks) == 2  # one message per (event, subscribed endpoint)
        for rx, created in ((a, to_a), (b, to_b)):
            (got,) = rx.received
            assert Webhook(created["secret"]).verify(got.body, got.headers) == event
            assert got.headers["webhook-id"] == event["id"]
        assert other.received == []

        got = a.received[0]
        tampered = bytearray(got.body)
        tampered[10] ^= 1
        with pytest.raises(WebhookVerificationError):
            Webhook(to_a["secret"]).verify(bytes(tampered), got.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(to_b["secret"]).verify(got.body, got.headers)  # another endpoint's secret
        old = {**got.headers, "webhook-timestamp": str(int(got.headers["webhook-timestamp"]) - 3600)}
        with pytest.raises(WebhookVerificationError):
            Webhook(to_a["secret"]).verify(got.body, old)


def test_the_timestamp_is_the_real_clock_even_when_the_products_clock_is_elsewhere(hooks, clock) -> None:
    import time

    clock.freeze(clock.now() - timedelta(days=30))
    with receiver() as rx:
        _, created = register(rx.url)
        fan_out(hooks, cloud_event())
        dispatch_queued(hooks)
    (got,) = rx.received
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    Webhook(created["secret"]).verify(got.body, got.headers)


def test_during_a_rotation_both_secrets_verify_and_keep_zero_ends_the_old_one_at_once(hooks, clock) -> None:
    route = "/webhooks/{id}/secret/rotate"
    with receiver() as rx:
        _, created = register(rx.url)
        status, _, rotated = call("POST", route, event=_event("POST", route, created["id"], {"keep_old_seconds": 3600}))
        assert status == 200 and SECRET.match(rotated["secret"]) and rotated["secret"] != created["secret"]
        fan_out(hooks, cloud_event())
        dispatch_queued(hooks)
        got = rx.received[-1]
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        Webhook(rotated["secret"]).verify(got.body, got.headers)
        Webhook(created["secret"]).verify(got.body, got.headers)
        new, old = got.headers["webhook-signature"].split(" ")
        Webhook(rotated["secret"]).verify(got.body, {**got.headers, "webhook-signature": new})  # new one first

        clock.freeze(clock.now() + timedelta(seconds=3601))  # the old secret's time is over
        fan_out(hooks, cloud_event())
        dispatch_queued(hooks)
        got = rx.received[-1]
        assert len(got.headers["webhook-signature"].split(" ")) == 1
        with pytest.raises(WebhookVerificationError):
            Webhook(created["secret"]).verify(got.body, got.headers)

        _, _, leaked = call("POST", route, event=_event("POST", route, created["id"], {"keep_old_seconds": 0}))
        fan_out(hooks, cloud_event())
        dispatch_queued(hooks)
        got = rx.received[-1]
        Webhook(leaked["secret"]).verify(got.body, got.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(rotated["secret"]).verify(got.body, got.headers)
    assert rotated["secret"][6:] not in table_dump(hooks) and leaked["secret"][6:] not in table_dump(hooks)


def test_the_test_route_sends_a_webhook_test_event_to_that_endpoint_only(hooks) -> None:
    route = "/webhooks/{id}/test"
    with receiver() as a, receiver() as b:
        _, to_a = register(a.url, event_types=["delivery.cancelled"])
        register(b.url)
        status, _, _ = call("POST", route, event=_event("POST", route, to_a["id"]))
        assert status == 202
        dispatch_queued(hooks)
    (got,) = a.received
    event = Webhook(to_a["secret"]).verify(got.body, got.headers)
    assert event["type"] == "webhook.test" and event["subject"] == to_a["id"]
    assert event["data"] == {"endpoint_id": to_a["id"]}
    assert b.received == []
    assert call("POST", route, event=_event("POST", route, "wh_nobody"))[0] == 404


# --- retries, dead letters, the attempt log ---------------------------------------------------------------------


WAITS = [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]
WAITS += [timedelta(hours=5), timedelta(hours=10), timedelta(hours=10)]


@pytest.mark.parametrize("behaviour", ["fail", "hang", "close", "redirect"])
def test_a_failing_receiver_is_retried_on_the_schedule_then_dead_lettered(hooks, clock, behaviour) -> None:
    wiring.override(webhook_sender=HttpSender(timeout_s=0.5))  # a hang fails fast here; the e2e test waits 10 s
    with receiver("ok") as elsewhere, receiver(behaviour, redirect_to=elsewhere.url, hang_seconds=1.5) as rx:
        _, created = register(rx.url)
        event = cloud_event()
        fan_out(hooks, event)
        assert dispatch_queued(hooks) == 1
        for number, wait in enumerate(WAITS, start=2):
            clock.freeze(clock.now() + wait - timedelta(seconds=1))
            assert invoke("WebhookRetryFunction", {})["retries_queued"] == 0, "a retry went out early"
            clock.freeze(clock.now() + timedelta(seconds=1))
            assert invoke("WebhookRetryFunction", {})["retries_queued"] == 1
            assert dispatch_queued(hooks) == 1
            assert len(rx.received) == number
        clock.freeze(clock.now() + timedelta(days=2))
        assert invoke("WebhookRetryFunction", {})["retries_queued"] == 0, "nothing after the 8th attempt"
        assert len(rx.received) == 8
        assert {r.headers["webhook-id"] for r in rx.received} == {event["id"]}
        assert elsewhere.received == [], "a redirect is never followed"
    (dead,) = dead_letters(hooks)
    assert dead["event"] == event and dead["endpoint_id"] == created["id"] and dead["attempt"] == 8
    logged = attempts(created["id"])
    assert [a["attempt"] for a in logged] == list(range(8, 0, -1))  # newest first
    expected = {"fail": (500, "http_status"), "hang": (None, "timeout"), "close": (None, "connection")}
    expected["redirect"] = (302, "http_status")
    assert {(a["status_code"], a["error"]) for a in logged} == {expected[behaviour]}
    assert all(a["event_id"] == event["id"] and a["type"] == "delivery.delivered" for a in logged)
    assert RESPONSE_BODY_MARK not in table_dump(hooks)


def test_a_receiver_that_recovers_is_not_tried_again(hooks, clock) -> None:
    with receiver("fail") as rx:
        _, created = register(rx.url)
        fan_out(hooks, cloud_event())
        dispatch_queued(hooks)
        rx.behaviour = "ok"
        clock.freeze(clock.now() + timedelta(seconds=5))
        assert invoke("WebhookRetryFunction", {})["retries_queued"] == 1
        dispatch_queued(hooks)
        clock.freeze(clock.now() + timedelta(days=2))
        assert invoke("WebhookRetryFunction", {})["retries_queued"] == 0
    assert [(a["attempt"], a["error"]) for a in attempts(created["id"])] == [(2, None), (1, "http_status")]
    assert dead_letters(hooks) == []


def test_the_attempt_log_keeps_the_last_100(hooks) -> None:
    with receiver() as rx:
        _, created = register(rx.url)
        store = wiring.adapters().webhooks
        for n in range(105):
            entry = {"event_id": f"e{n}", "type": "delivery.delivered", "attempt": 1, "at": "x"}
            store.log_attempt(created["id"], {**entry, "status_code": 204, "error": None, "duration_ms": 1}, 0)
    logged = attempts(created["id"])
    assert len(logged) == 100
    assert logged[0]["event_id"] == "e104" and logged[-1]["event_id"] == "e5"


# --- the SSRF guard at each send ----------------------------------------------------------------------------------


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def post(self, target, body, headers):
        self.sent.append(target)
        from delivery_otp.adapters.webhook_http import SendResult

        return SendResult(204, None, 1)


def test_a_name_that_resolves_elsewhere_by_the_time_of_the_send_is_refused_never_reached(hooks, clock) -> None:
    answers = {"hooks.shop.example": ["93.184.215.14"]}
    wiring.override(resolver=lambda host: answers[host], webhook_sender=(sender := RecordingSender()))
    _, created = register("https://hooks.shop.example/in")
    fan_out(hooks, cloud_event())
    dispatch_queued(hooks)
    assert [(t.host, t.address) for t in sender.sent] == [("hooks.shop.example", "93.184.215.14")]

    answers["hooks.shop.example"] = ["169.254.169.254"]  # rebound to the metadata service
    fan_out(hooks, cloud_event())
    dispatch_queued(hooks)
    assert len(sender.sent) == 1, "the refused address was never connected to"
    assert attempts(created["id"])[0]["error"] == "refused_url"


def test_the_queue_urls_come_from_the_template(hooks) -> None:
    assert os.environ["WEBHOOK_DELIVERY_QUEUE_URL"] == hooks["WebhookDeliveryQueue"]["Ref"]
