"""The mapping from audit entries to integration events, on deliveries built in memory: each type with
its data, the entries that yield nothing, ids and sequences, and nothing personal or secret inside."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from delivery_otp import audit, integration_events, wiring
from delivery_otp.audit import COURIER, SCHEDULER, STOREFRONT, SYSTEM, Actor
from delivery_otp.config import settings
from delivery_otp.model import DeliveryModel

AT = datetime.fromisoformat("2026-11-23T10:00:00+01:00")
SYSTEM_ACTOR = Actor(SYSTEM)
COURIER_ACTOR = Actor(COURIER, courier_id="c-17", device_id="d-9")
NAME, EMAIL, POSTAL, NONCE, MAC = "Maria Rossi", "maria.rossi@example.com", "00184", "n0nce-n0nce", "m4c-m4c-m4c"
DELEGATE_NAME, DELEGATE_EMAIL = "Luca Bianchi", "luca.bianchi@example.com"


class _Key:
    def key(self) -> bytes:
        return b"k" * 64


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    for name, value in {"TABLE_NAME": "t", "CODE_KEY_SECRET_ID": "s", "EMAIL_SENDER": "a@example.com"}.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    wiring.reset()
    wiring.override(receipt_keys=_Key())
    yield
    wiring.reset()


def delivery(*entries: audit.AuditEvent, **values: Any) -> DeliveryModel:
    item = DeliveryModel(
        "D#IT-1",
        delivery_id="IT-1",
        order_id="402-1",
        request_hash="h",
        status=values.pop("status", "SCHEDULED"),
        code_required=True,
        delivery_date="2026-11-23",
        timezone="Europe/Rome",
        country="IT",
        postal_code=POSTAL,
        email=EMAIL,
        recipient_name=NAME,
        locale="it",
        amount="500",
        currency="EUR",
        created_at=AT.isoformat(),
        issue_number=1,
        code_nonce=NONCE,
        code_mac=MAC,
        code_valid_until=int(datetime.fromisoformat("2026-11-24T00:00:00+01:00").timestamp()),
        delegates={"dlg-1": {"name": DELEGATE_NAME, "email": DELEGATE_EMAIL, "locale": "it"}},
        events=list(entries),
    )
    for name, value in values.items():
        setattr(item, name, value)
    return item


def ev(kind: str, actor: Actor = SYSTEM_ACTOR, minutes: int = 0, **fields: Any) -> audit.AuditEvent:
    return audit.event(kind, AT + timedelta(minutes=minutes), actor, **fields)


REGISTERED = ev("REGISTERED", Actor(STOREFRONT))
ISSUED = ev("CODE_ISSUED", issue_number=1)


def only(item: DeliveryModel, first: int) -> dict[str, Any]:
    (event,) = integration_events.events_of_delivery(item, first)
    return event


def extra(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event["data"].items() if k not in ("delivery_id", "order_id", "status", "sequence")}


def test_a_registration_is_registered_then_code_issued_with_its_reason():
    registered, issued = integration_events.events_of_delivery(delivery(REGISTERED, ISSUED))

    assert registered["type"] == "delivery.registered"
    assert registered["data"] == {
        "delivery_id": "IT-1",
        "order_id": "402-1",
        "status": "SCHEDULED",
        "sequence": 1,
        "code_required": True,
        "delivery_date": "2026-11-23",
    }
    assert issued["type"] == "delivery.code_issued"
    assert extra(issued) == {
        "issue_number": 1,
        "delivery_date": "2026-11-23",
        "valid_until": "2026-11-23T23:00:00+00:00",
        "reason": "REGISTERED",
    }
    assert {k: registered[k] for k in ("specversion", "source", "subject", "datacontenttype", "time")} == {
        "specversion": "1.0",
        "source": "delivery-otp",
        "subject": "IT-1",
        "datacontenttype": "application/json",
        "time": "2026-11-23T09:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        (ev("ROTATED", Actor(SCHEDULER), issue_number=2, outcome="2026-11-23 -> 2026-11-24"), "ROTATED"),
        (ev("ROTATED", Actor(STOREFRONT), issue_number=2, outcome="customer request"), "REPLACED"),
        (ev("RESCHEDULED", Actor(STOREFRONT), issue_number=2, outcome="2026-11-23 -> 2026-11-25"), "RESCHEDULED"),
        (ev("RELEASED", Actor(STOREFRONT), issue_number=2), "RELEASED"),
    ],
)
def test_a_new_code_says_why_it_was_issued(before, reason):
    item = delivery(REGISTERED, ISSUED, before, ev("CODE_ISSUED", issue_number=2), issue_number=2)

    events = integration_events.events_of_delivery(item, 2)

    assert events[-1]["type"] == "delivery.code_issued" and events[-1]["data"]["reason"] == reason
    assert events[-1]["data"]["issue_number"] == 2


@pytest.mark.parametrize(
    ("outcome", "data"),
    [
        (None, {"issue_number": 1, "to": "recipient", "resend": False}),
        ("resend", {"issue_number": 1, "to": "recipient", "resend": True}),
        ("delegate:dlg-1", {"issue_number": 1, "to": "delegate:dlg-1", "resend": False}),
    ],
)
def test_a_sent_email_is_code_sent_to_whom(outcome, data):
    event = only(delivery(REGISTERED, ISSUED, ev("EMAIL_SENT", issue_number=1, outcome=outcome)), 2)

    assert event["type"] == "delivery.code_sent" and extra(event) == data


@pytest.mark.parametrize(
    ("outcome", "to"), [("Permanent", "recipient"), ("delegate:dlg-1 Complaint", "delegate:dlg-1")]
)
def test_a_bounce_is_email_undeliverable_to_whom(outcome, to):
    event = only(delivery(REGISTERED, ISSUED, ev("EMAIL_UNDELIVERABLE", outcome=outcome)), 2)

    assert event["type"] == "delivery.email_undeliverable" and extra(event) == {"to": to}


def test_the_fifth_wrong_code_is_wrong_code_then_locked_and_counts_down():
    wrongs = [ev("VERIFICATION", COURIER_ACTOR, minutes=n, issue_number=1, outcome="REJECTED") for n in range(1, 6)]
    item = delivery(REGISTERED, ISSUED, *wrongs, ev("LOCKED", minutes=5, issue_number=1), status="LOCKED")

    events = integration_events.events_of_delivery(item, 2)

    assert [e["type"] for e in events] == [*["delivery.wrong_code"] * 5, "delivery.locked"]
    assert [e["data"]["wrong_attempts_left"] for e in events] == [4, 3, 2, 1, 0, 0]
    assert extra(events[0]) == {"wrong_attempts_left": 4, "courier_id": "c-17", "device_id": "d-9"}
    assert extra(events[-1]) == {"wrong_attempts_left": 0}
    assert [e["data"]["sequence"] for e in events] == [3, 4, 5, 6, 7, 8]


def test_the_tenth_wrong_code_of_a_life_is_on_hold():
    first = [ev("VERIFICATION", COURIER_ACTOR, issue_number=1, outcome="REJECTED") for _ in range(5)]
    second = [ev("VERIFICATION", COURIER_ACTOR, issue_number=2, outcome="REJECTED") for _ in range(4)]
    last = ev("VERIFICATION", COURIER_ACTOR, issue_number=2, outcome="REJECTED")
    item = delivery(REGISTERED, ISSUED, *first, *second, last, ev("ON_HOLD", issue_number=2), status="ON_HOLD")

    wrong, held = integration_events.events_of_delivery(item, 2 + 9)

    assert wrong["data"]["wrong_attempts_left"] == 0 and held["type"] == "delivery.on_hold"
    assert extra(held) == {"wrong_attempts_left": 0}
    fourth_of_second_code = integration_events.events_of_delivery(item, 2 + 8)[0]
    assert fourth_of_second_code["data"]["wrong_attempts_left"] == 1  # the life's limit is nearer than the code's


@pytest.mark.parametrize(
    ("outcome", "detail_code"),
    [
        ("RECIPIENT_UNAVAILABLE", "CustomerUnavailable"),
        ("CODE_NOT_PROVIDED", "OtpNotAvailable"),
        ("ACCESS_PROBLEM", "UnableToAccess"),
    ],
)
def test_a_failed_attempt_carries_amazon_shippings_detail_code(outcome, detail_code):
    item = delivery(REGISTERED, ISSUED, ev("ATTEMPT_FAILED", COURIER_ACTOR, issue_number=1, outcome=outcome))

    event = only(item, 2)

    assert event["type"] == "delivery.attempt_failed"
    assert extra(event) == {
        "outcome": outcome,
        "next_delivery_date": "2026-11-24",
        "courier_id": "c-17",
        "detail_code": detail_code,
    }


def test_a_new_day_is_rescheduled_to_it():
    moved = ev("RESCHEDULED", Actor(STOREFRONT), issue_number=2, outcome="2026-11-23 -> 2026-11-26")

    event = integration_events.events_of_delivery(delivery(REGISTERED, ISSUED, moved), 2)[0]

    assert event["type"] == "delivery.rescheduled" and extra(event) == {"delivery_date": "2026-11-26"}


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.mark.parametrize(("received_by", "text"), [("recipient", "recipient"), ("dlg-1", "delegate:dlg-1")])
def test_a_handover_is_delivered_with_its_receipt(received_by, text):
    # As the door writes them: issue and receiver are only known from the item.
    accepted = audit.AuditEvent("VERIFICATION", AT.isoformat(), COURIER_ACTOR, None, "ACCEPTED")
    handed = audit.AuditEvent("DELIVERED", AT.isoformat(), COURIER_ACTOR)
    item = delivery(
        REGISTERED,
        ISSUED,
        accepted,
        handed,
        status="DELIVERED",
        delivered_at=AT.isoformat(),
        delivered_issue=1,
        received_by=received_by,
    )

    event = only(item, 2)

    assert event["type"] == "delivery.delivered" and event["data"]["status"] == "DELIVERED"
    data = extra(event)
    receipt = data.pop("receipt")
    assert data == {"courier_id": "c-17", "device_id": "d-9", "received_by": text, "detail_code": "DeliveredWithOTP"}
    claims = _claims(receipt)
    assert claims["sub"] == "IT-1" and claims["issue_number"] == 1 and claims["iat"] == int(AT.timestamp())
    assert "name" not in claims["received_by"]
    assert only(item, 2) == event  # derived again: the same receipt, the same event


@pytest.mark.parametrize(
    ("kind", "outcome", "event_type", "data"),
    [
        ("CANCELLED", None, "delivery.cancelled", {}),
        ("RELEASED", None, "delivery.released", {}),
        ("RETURNED", None, "delivery.returned", {}),
        ("PERSONAL_DATA_ERASED", None, "delivery.personal_data_erased", {}),
        ("DELEGATE_ADDED", "dlg-1", "delivery.delegate_added", {"delegate_id": "dlg-1"}),
        ("DELEGATE_REVOKED", "dlg-1", "delivery.delegate_revoked", {"delegate_id": "dlg-1"}),
    ],
)
def test_the_other_kinds(kind, outcome, event_type, data):
    event = only(delivery(REGISTERED, ISSUED, ev(kind, Actor(STOREFRONT), outcome=outcome)), 2)

    assert event["type"] == event_type and extra(event) == data


def test_a_courier_blocked_is_about_the_courier():
    blocked = ev("COURIER_BLOCKED", COURIER_ACTOR, issue_number=1, outcome="2026-11-24T09:00:00+00:00")

    event = only(delivery(REGISTERED, ISSUED, blocked), 2)

    assert event["type"] == "courier.blocked" and event["subject"] == "c-17"
    assert event["data"] == {"courier_id": "c-17", "until": "2026-11-24T09:00:00+00:00", "delivery_id": "IT-1"}


@pytest.mark.parametrize(
    "entry",
    [
        ev("ASSIGNED", Actor(STOREFRONT, courier_id="c-17")),
        ev("ALERT_SENT", issue_number=1),
        ev("CODE_RESENT", Actor(STOREFRONT), issue_number=1),
        ev("ROTATED", Actor(SCHEDULER), issue_number=2, outcome="2026-11-23 -> 2026-11-24"),
        ev("VERIFICATION", COURIER_ACTOR, issue_number=1, outcome="ACCEPTED"),
        ev("VERIFICATION", COURIER_ACTOR, issue_number=1, outcome="EXPIRED"),
        ev("VERIFICATION", COURIER_ACTOR, issue_number=1, outcome="LOCKED"),
        ev("SOMETHING_NEW"),
    ],
)
def test_entries_no_storefront_acts_on_yield_no_event(entry):
    assert integration_events.events_of_delivery(delivery(REGISTERED, ISSUED, entry), 2) == []


def test_ids_are_the_same_for_the_same_entry_and_differ_otherwise():
    item = delivery(REGISTERED, ISSUED)
    again = delivery(REGISTERED, ISSUED)
    reborn = delivery(REGISTERED, ISSUED, created_at=(AT + timedelta(days=400)).isoformat())

    ids = [e["id"] for e in integration_events.events_of_delivery(item)]

    assert ids == [e["id"] for e in integration_events.events_of_delivery(again)]
    assert len(set(ids)) == 2
    assert not set(ids) & {e["id"] for e in integration_events.events_of_delivery(reborn)}


def _record(new: DeliveryModel | None, old: DeliveryModel | None, name: str = "MODIFY") -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"pk": {"S": "D#IT-1"}}, "SequenceNumber": "1"}
    if new is not None:
        change["NewImage"] = new.serialize()
    if old is not None:
        change["OldImage"] = old.serialize()
    return {"eventName": name, "dynamodb": change}


def test_a_stream_record_yields_the_events_of_the_entries_it_added_only():
    before = delivery(REGISTERED, ISSUED)
    after = delivery(REGISTERED, ISSUED, ev("CANCELLED", Actor(STOREFRONT)), status="CANCELLED")

    assert [e["type"] for e in integration_events.events_of_record(_record(before, None, "INSERT"))] == [
        "delivery.registered",
        "delivery.code_issued",
    ]
    (cancelled,) = integration_events.events_of_record(_record(after, before))
    assert cancelled["type"] == "delivery.cancelled" and cancelled["data"]["sequence"] == 3
    assert integration_events.events_of_record(_record(after, after)) == []  # a write that added no entry
    assert integration_events.events_of_record(_record(None, after, "REMOVE")) == []


def test_no_event_holds_a_code_secret_or_personal_data():
    wrong = ev("VERIFICATION", COURIER_ACTOR, issue_number=1, outcome="REJECTED")
    accepted = audit.AuditEvent("VERIFICATION", AT.isoformat(), COURIER_ACTOR, None, "ACCEPTED")
    item = delivery(
        REGISTERED,
        ISSUED,
        ev("DELEGATE_ADDED", Actor(STOREFRONT), outcome="dlg-1"),
        ev("EMAIL_SENT", issue_number=1, outcome="delegate:dlg-1"),
        ev("EMAIL_UNDELIVERABLE", outcome="delegate:dlg-1 Permanent"),
        wrong,
        accepted,
        audit.AuditEvent("DELIVERED", AT.isoformat(), COURIER_ACTOR),
        status="DELIVERED",
        delivered_at=AT.isoformat(),
        delivered_issue=1,
        received_by="dlg-1",
    )

    events = integration_events.events_of_delivery(item)
    text = json.dumps(events)
    receipts = [_claims(e["data"]["receipt"]) for e in events if e["type"] == "delivery.delivered"]
    text += json.dumps(receipts)

    assert len(events) == 7 and receipts
    for secret in (NAME, EMAIL, POSTAL, NONCE, MAC, DELEGATE_NAME, DELEGATE_EMAIL, "Maria", "Luca"):
        assert secret not in text
    forbidden = {"code", "nonce", "mac", "code_mac", "code_nonce", "name", "email", "postal_code"}
    keys = (
        {k for e in events for k in e["data"]}
        | {k for c in receipts for k in c}
        | {k for c in receipts for k in c["received_by"]}
    )
    assert not keys & forbidden
