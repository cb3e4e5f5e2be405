"""Integration events from the real handlers' writes: the table's stream fed to the event publisher as
Lambda's mapping would, the events put on the template's bus (moto's EventBridge) and read back from
the webhook queue its rule fills."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from delivery_otp import (
    attempts,
    codes,
    controls,
    delegates,
    dispatch,
    reads,
    receipts,
    registration,
    rotation,
    verification,
    wiring,
)
from delivery_otp.adapters.event_bus import EventBridgeBus
from delivery_otp.audit import COURIER, Actor
from delivery_otp.config import settings
from delivery_otp.errors import TooManyRequests
from delivery_otp.integration_events import events_of_record

from tests.support import factories
from tests.support.aws import REGION, StreamTail
from tests.support.lambdas import invoke


@pytest.fixture
def stream(aws, clock):
    return StreamTail(aws["DeliveriesTable"]["Ref"])


@pytest.fixture
def webhook_queue(aws):
    """What the bus's rule queued for the webhooks since the test began (read and deleted)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = aws["WebhookEventsQueue"]["Ref"]

    def read() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                got.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return got

    read()  # what earlier tests left
    return read


def publish(records: list[dict[str, Any]]) -> dict[str, Any]:
    return invoke("EventPublisherFunction", {"Records": records})


def a_courier() -> Actor:
    return Actor(COURIER, courier_id=f"c-{uuid.uuid4().hex[:10]}", device_id="d-7")


def registered(**overrides: Any) -> tuple[str, str]:
    body = factories.registration(**overrides)
    registration.register(body)
    return body["delivery_id"], reads.current_code(body["delivery_id"])["code"]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def of(events: list[dict[str, Any]], delivery_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["data"].get("delivery_id") == delivery_id]


def test_five_wrong_codes_are_five_wrong_code_events_then_locked_on_the_bus(stream, webhook_queue):
    delivery_id, code = registered()
    courier = a_courier()
    for _ in range(5):
        verification.verify(delivery_id, {"code": wrong(code)}, courier)

    assert publish(stream.records()) == {"batchItemFailures": []}
    queued = webhook_queue()
    events = [m["detail"] for m in queued]

    kinds = [e["type"] for e in events]
    assert kinds == ["delivery.registered", "delivery.code_issued", *["delivery.wrong_code"] * 5, "delivery.locked"]
    sequences = [e["data"]["sequence"] for e in events]
    assert sequences == sorted(set(sequences))
    assert [e["data"]["wrong_attempts_left"] for e in events[2:]] == [4, 3, 2, 1, 0, 0]
    assert {e["data"]["courier_id"] for e in events[2:7]} == {courier.courier_id}
    assert all(e["data"]["status"] == "LOCKED" for e in events[6:])
    registered_event, issued = events[0], events[1]
    assert registered_event["data"] | {"sequence": None} == {
        "delivery_id": delivery_id,
        "order_id": registered_event["data"]["order_id"],
        "status": registered_event["data"]["status"],
        "sequence": None,
        "code_required": True,
        "delivery_date": "2026-11-23",
    }
    assert issued["data"]["reason"] == "REGISTERED" and issued["data"]["issue_number"] == 1
    assert issued["data"]["valid_until"] == "2026-11-23T23:00:00+00:00"  # midnight in Rome
    # The bus entry: Source, DetailType and the CloudEvent as Detail.
    assert {(m["source"], m["detail-type"]) for m in queued} == {("delivery-otp", e["type"]) for e in events}
    assert all(
        e["specversion"] == "1.0"
        and e["source"] == "delivery-otp"
        and e["subject"] == delivery_id
        and e["datacontenttype"] == "application/json"
        for e in events
    )
    assert len({e["id"] for e in events}) == len(events)


def test_a_record_delivered_again_gives_the_same_events_with_the_same_ids(stream, webhook_queue):
    delivery_id, code = registered()
    verification.verify(delivery_id, {"code": wrong(code)}, a_courier())
    records = stream.records()

    publish(records)
    first = [m["detail"] for m in webhook_queue()]
    publish(records)
    again = [m["detail"] for m in webhook_queue()]

    assert first == again and len(first) == 3


class _RefusingBus:
    """The real bus, except that PutEvents reports the entries of one event type as failed."""

    def __init__(self, refused_type: str) -> None:
        self.bus = EventBridgeBus(settings().need("event_bus_name"))
        self.refused_type = refused_type
        self.calls: list[int] = []

    def put(self, events: list[dict[str, Any]]) -> list[bool]:
        self.calls.append(len(events))
        taken = [e["type"] != self.refused_type for e in events]
        self.bus.put([e for e, ok in zip(events, taken, strict=True) if ok])
        return taken


def test_an_entry_the_bus_refused_fails_its_record_and_is_put_on_the_retry(stream, webhook_queue):
    delivery_id, code = registered()
    verification.verify(delivery_id, {"code": wrong(code)}, a_courier())
    dispatch.cancel(delivery_id)
    records = stream.records()
    wrong_at = next(
        i for i, r in enumerate(records) if any(e["type"] == "delivery.wrong_code" for e in events_of_record(r))
    )
    refusing = _RefusingBus("delivery.wrong_code")
    wiring.override(event_bus=refusing)

    answer = publish(records)

    assert answer == {"batchItemFailures": [{"itemIdentifier": records[wrong_at]["dynamodb"]["SequenceNumber"]}]}
    before = [m["detail"]["type"] for m in webhook_queue()]
    assert "delivery.wrong_code" not in before
    # Lambda retries from the failed record on; now the bus takes everything.
    wiring.override(event_bus=EventBridgeBus(settings().need("event_bus_name")))
    assert publish(records[wrong_at:]) == {"batchItemFailures": []}
    after = [m["detail"] for m in webhook_queue()]
    assert [e["type"] for e in after] == ["delivery.wrong_code", "delivery.cancelled"]


def test_puts_go_ten_entries_a_call(stream, webhook_queue):
    for _ in range(4):
        delivery_id, code = registered()
        for _ in range(2):
            verification.verify(delivery_id, {"code": wrong(code)}, a_courier())
    counting = _RefusingBus("none")
    wiring.override(event_bus=counting)

    assert publish(stream.records()) == {"batchItemFailures": []}

    assert counting.calls == [10, 6] and len(webhook_queue()) == 16


def _verified_receipt(token: str) -> dict[str, Any]:
    head, claims, signature = token.split(".")

    def decoded(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    jwk = receipts.jwks()["keys"][0]
    Ed25519PublicKey.from_public_bytes(decoded(jwk["x"])).verify(decoded(signature), f"{head}.{claims}".encode())
    return json.loads(decoded(claims))


def test_a_delegate_handover_is_delivered_with_a_signed_receipt_that_names_nobody(stream, webhook_queue):
    delivery_id, _ = registered()
    added = delegates.add_delegate(delivery_id, {"name": "Luca Bianchi", "email": "luca@example.com"})
    delegate_id = added.body["delegate_id"]
    item = wiring.adapters().deliveries.get(delivery_id)
    every = codes.delegate_codes(
        wiring.adapters().keys.key(), delivery_id, int(item.issue_number), item.code_nonce, int(item.delegate_count)
    )
    delegate_code = every[delegate_id]
    courier = a_courier()
    assert verification.verify(delivery_id, {"code": delegate_code}, courier).status == 200

    publish(stream.records())
    events = [m["detail"] for m in webhook_queue()]

    added_event = next(e for e in events if e["type"] == "delivery.delegate_added")
    assert added_event["data"]["delegate_id"] == delegate_id
    (delivered,) = [e for e in events if e["type"] == "delivery.delivered"]
    data = delivered["data"]
    assert data["status"] == "DELIVERED" and data["detail_code"] == "DeliveredWithOTP"
    assert (data["courier_id"], data["device_id"], data["received_by"]) == (
        courier.courier_id,
        "d-7",
        f"delegate:{delegate_id}",
    )
    claims = _verified_receipt(data["receipt"])
    assert claims["sub"] == delivery_id and claims["issue_number"] == 1
    assert claims["received_by"] == {"kind": "delegate", "delegate_id": delegate_id}
    assert "Luca" not in json.dumps(events) and "luca@" not in json.dumps(events)


def test_a_failed_attempt_names_amazon_shippings_detail_code_and_the_next_day(stream, webhook_queue):
    expected = {
        "RECIPIENT_UNAVAILABLE": "CustomerUnavailable",
        "CODE_NOT_PROVIDED": "OtpNotAvailable",
        "ACCESS_PROBLEM": "UnableToAccess",
    }
    answers = {}
    for outcome in expected:
        delivery_id, _ = registered()
        answers[delivery_id] = attempts.report_attempt(delivery_id, {"outcome": outcome}, a_courier())

    publish(stream.records())
    failed = [m["detail"] for m in webhook_queue() if m["detail"]["type"] == "delivery.attempt_failed"]

    assert {e["data"]["outcome"]: e["data"]["detail_code"] for e in failed} == expected
    for event in failed:
        answer = answers[event["data"]["delivery_id"]]
        assert event["data"]["next_delivery_date"] == answer["next_delivery_date"]
        assert event["data"]["status"] == "REQUEUED"


def test_why_each_code_was_issued(stream, webhook_queue, clock):
    replaced, _ = registered()
    controls.replace_code(replaced)
    moved, _ = registered()
    controls.reschedule(moved, {"delivery_date": "2026-11-25"})
    rotated, _ = registered()
    clock.freeze(clock.now() + timedelta(days=1))
    rotation.rotate_shard(wiring.adapters().deliveries.get(rotated).due_shard, clock.now())

    publish(stream.records())
    events = [m["detail"] for m in webhook_queue()]

    def reasons(delivery_id: str) -> list[str]:
        return [e["data"]["reason"] for e in of(events, delivery_id) if e["type"] == "delivery.code_issued"]

    # The shard rotated below may hold `replaced` too (its day ended as well): its night's code comes after.
    assert reasons(replaced)[:2] == ["REGISTERED", "REPLACED"]
    assert reasons(moved) == ["REGISTERED", "RESCHEDULED"]
    assert reasons(rotated) == ["REGISTERED", "ROTATED"]
    (rescheduled,) = [e for e in of(events, moved) if e["type"] == "delivery.rescheduled"]
    assert rescheduled["data"]["delivery_date"] == "2026-11-25"
    last_issue = [e for e in of(events, rotated) if e["type"] == "delivery.code_issued"][-1]
    assert last_issue["data"]["delivery_date"] == "2026-11-24" and last_issue["data"]["issue_number"] == 2


def test_code_emails_are_code_sent_events_after_what_came_before(stream, webhook_queue, sent_mail):
    delivery_id, _ = registered()
    invoke("EmailFunction", {"Records": stream.records()})
    controls.resend_code(delivery_id)
    invoke("EmailFunction", {"Records": stream.records()})

    # Everything the stream held for it since the start, in its order, as Lambda would hand it over.
    publish(_all_records_of(delivery_id))
    sent = [e for e in (m["detail"] for m in webhook_queue()) if e["type"] == "delivery.code_sent"]

    assert [(e["data"]["issue_number"], e["data"]["to"], e["data"]["resend"]) for e in sent] == [
        (1, "recipient", False),
        (1, "recipient", True),
    ]


def _all_records_of(delivery_id: str) -> list[dict[str, Any]]:
    """The stream from its start, only this delivery's records (a test's own view of TRIM_HORIZON)."""
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=settings().table_name)["Table"][
        "LatestStreamArn"
    ]
    found: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while page := streams.get_records(ShardIterator=iterator, Limit=1000):
            iterator = page["NextShardIterator"]
            found += page["Records"]
            if not page["Records"]:
                break
    shaped = json.loads(json.dumps(found, default=lambda instant: int(instant.timestamp())))
    return [r for r in shaped if r["dynamodb"]["Keys"]["pk"]["S"] == f"D#{delivery_id}"]


def test_the_wrong_code_that_blocks_a_courier_is_a_courier_blocked_event(stream, webhook_queue):
    courier = a_courier()
    deliveries = [registered() for _ in range(5)]
    for delivery_id, code in deliveries:
        for _ in range(4):
            verification.verify(delivery_id, {"code": wrong(code)}, courier)
    extra_id, extra_code = registered()
    with pytest.raises(TooManyRequests) as refused:
        verification.verify(extra_id, {"code": extra_code}, courier)

    publish(stream.records())
    blocked = [m["detail"] for m in webhook_queue() if m["detail"]["type"] == "courier.blocked"]

    (event,) = blocked
    assert event["subject"] == courier.courier_id
    assert event["data"]["courier_id"] == courier.courier_id
    assert event["data"]["delivery_id"] in {d for d, _ in deliveries}
    retry_after = int(refused.value.headers["Retry-After"])
    until = event["data"]["until"]
    assert until is not None
    expected = wiring.adapters().clock.now().timestamp() + retry_after
    assert abs(datetime.fromisoformat(until).timestamp() - expected) <= 1
