"""Erasing a delivery's personal data: on request once it has ended, and by the rotation when it is due;
everywhere we keep it (item, delegates, trail, stored idempotency answers); nothing mailed after; the
receipt still true; the suppression list keyed by a MAC that outlives the erasure."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import timedelta

import pytest
from delivery_otp import bounces, codes, dispatch, erasure, reads, registration, rotation, verification
from delivery_otp.audit import COURIER, Actor
from delivery_otp.config import settings
from delivery_otp.errors import Conflict, DeliveryStillOpen
from delivery_otp.notifications import send_code_emails, send_wrong_code_alerts
from delivery_otp.wiring import adapters

from tests.support import factories
from tests.support.lambdas import call


def courier() -> Actor:
    return Actor(COURIER, courier_id=f"c-{uuid.uuid4().hex[:10]}", device_id="d-1")


def person() -> dict[str, str]:
    """Values nobody else in the table holds, so finding one anywhere means it was kept."""
    tag = uuid.uuid4().hex[:10]
    return {"name": f"Erika Tag{tag}", "email": f"erika.{tag}@example.com", "postal": f"P{tag}"}


def registered(recipient: dict[str, str]) -> str:
    body = factories.registration(
        recipient={"name": recipient["name"], "email": recipient["email"], "locale": "it"},
        destination__postal_code=recipient["postal"],
    )
    assert registration.register(body).status == 201
    return body["delivery_id"]


def named_over_http(delivery_id: str, delegate: dict[str, str]) -> str:
    """A delegate named through the storefront route with an Idempotency-Key: its stored answer names them."""
    status, _, body = call(
        "POST",
        "/deliveries/{id}/delegates",
        delivery_id,
        {"name": delegate["name"], "email": delegate["email"]},
        headers={"idempotency-key": f"add-{uuid.uuid4().hex}"},
    )
    assert status == 201 and body["name"] == delegate["name"]
    return body["delegate_id"]


def delegate_code(delivery_id: str, who: str) -> str:
    item = adapters().deliveries.get(delivery_id)
    every = codes.delegate_codes(
        adapters().keys.key(), delivery_id, int(item.issue_number), item.code_nonce, int(item.delegate_count)
    )
    return every[who]


def everything_kept(table) -> str:
    """Every item of the table (deliveries, idempotency records, suppression items), as one text."""
    items, start = [], None
    while True:
        page = table.scan(**({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return json.dumps(items, default=str).casefold()


def leaked(table, values: dict[str, str]) -> list[str]:
    kept = everything_kept(table)
    return [value for value in values.values() if value.casefold() in kept]


def verifies(receipt: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    _, _, jwks = call("GET", "/.well-known/jwks.json")
    (key,) = jwks["keys"]
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["x"] + "=="))
    head, payload, signature = receipt.split(".")
    try:
        public.verify(base64.urlsafe_b64decode(signature + "=="), f"{head}.{payload}".encode())
    except InvalidSignature:
        return False
    return True


def test_erasure_on_request_leaves_no_personal_value_anywhere_and_the_receipt_true(clock, table):
    # Given a delivery handed to a delegate named through an idempotent request (its answer names them)
    recipient, delegate = person(), person()
    delivery_id = registered(recipient)
    who = named_over_http(delivery_id, delegate)
    assert verification.verify(delivery_id, {"code": delegate_code(delivery_id, who)}, courier()).status == 200
    # and an undeliverable report whose reason quotes the address
    bounces.mark_undeliverable(delivery_id, f"550 5.1.1 <{recipient['email']}> unknown", [recipient["email"]])
    status, _, before = call("GET", "/deliveries/{id}/receipt", delivery_id)
    assert status == 200 and leaked(table, recipient | delegate)  # the values are there to be erased
    # When the storefront erases its personal data
    status, _, body = call("DELETE", "/deliveries/{id}/personal-data", delivery_id)
    # Then nothing in the table holds any of them: item, delegates, trail, stored idempotency answers
    assert status == 200 and body["personal_data_erased"] is True and body["status"] == "DELIVERED"
    assert leaked(table, recipient | delegate) == []
    assert body["delegates"] == [{"delegate_id": who, "name": None, "status": "ACTIVE", "email_undeliverable": False}]
    assert reads.get_delivery(delivery_id)["personal_data_erased"] is True
    # and the trail and the receipt stay readable and true
    trail = reads.audit_trail(delivery_id)["events"]
    assert [e["type"] for e in trail].count("PERSONAL_DATA_ERASED") == 1
    assert trail[-1]["outcome"] is None and trail[-1]["actor"]["kind"] == "storefront"
    assert [e["outcome"] for e in trail if e["type"] == "EMAIL_UNDELIVERABLE"] == ["[erased]"]
    status, _, after = call("GET", "/deliveries/{id}/receipt", delivery_id)
    assert status == 200 and verifies(before["receipt"]) and verifies(after["receipt"])
    assert {**after["claims"], "iat": 0} == {**before["claims"], "iat": 0}
    assert after["claims"]["received_by"] == {"kind": "delegate", "delegate_id": who}
    # And erasing again answers the same and changes nothing
    kept = adapters().deliveries.get(delivery_id).serialize()
    status, _, again = call("DELETE", "/deliveries/{id}/personal-data", delivery_id)
    assert (status, again) == (200, body)
    assert adapters().deliveries.get(delivery_id).serialize() == kept


def test_a_repeated_registration_no_longer_confirms_the_erased_personal_data(clock):
    recipient = person()
    body = factories.registration(
        recipient={"name": recipient["name"], "email": recipient["email"], "locale": "it"},
        destination__postal_code=recipient["postal"],
    )
    assert registration.register(body).status == 201
    assert registration.register(body).status == 200  # the same request again: its delivery back
    dispatch.cancel(body["delivery_id"])
    erasure.erase_now(body["delivery_id"])
    with pytest.raises(Conflict):
        registration.register(body)


def test_an_open_delivery_keeps_its_personal_data_and_an_unknown_one_is_not_found(clock):
    delivery_id = registered(person())
    status, _, body = call("DELETE", "/deliveries/{id}/personal-data", delivery_id)
    assert status == 409 and body["error"]["code"] == "DELIVERY_OPEN"
    assert adapters().deliveries.get(delivery_id).email is not None
    status, _, body = call("DELETE", "/deliveries/{id}/personal-data", f"never-{uuid.uuid4().hex}")
    assert status == 404


def test_the_rotation_erases_an_ended_delivery_when_its_retention_has_passed_and_only_then(clock, table):
    # Given a delivery cancelled now
    recipient = person()
    delivery_id = registered(recipient)
    dispatch.cancel(delivery_id)
    retention = timedelta(days=settings().personal_data_retention_days)
    # When the rotation runs just before its personal data is due
    clock.freeze(clock.now() + retention - timedelta(minutes=1))
    rotation.rotate_all()
    # Then it is kept
    assert reads.get_delivery(delivery_id)["personal_data_erased"] is False
    # When it runs once the retention has passed
    clock.freeze(clock.now() + timedelta(minutes=2))
    rotation.rotate_all()
    # Then it is erased, audited as the scheduler's, out of the rotation's index
    item = adapters().deliveries.get(delivery_id)
    assert item.personal_data_erased and item.due_shard is None and item.due_at is None
    assert [(e.type, e.actor.kind) for e in item.events][-1] == ("PERSONAL_DATA_ERASED", "scheduler")
    assert leaked(table, recipient) == []
    # And a repeated run changes nothing
    kept = item.serialize()
    rotation.rotate_all()
    assert adapters().deliveries.get(delivery_id).serialize() == kept


def test_a_delivery_on_hold_is_erased_with_the_rest_once_due_and_is_never_mailed_after(clock, sent_mail):
    # Given a delivery put on hold by wrong codes, the alert of its last wrong code still owed
    recipient = person()
    delivery_id = registered(recipient)
    right = reads.current_code(delivery_id)["code"]
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for n in range(10):
        if n == 5:  # the 5th locked it for the day: another day, a new code
            clock.freeze(clock.now() + timedelta(days=1))
            rotation.rotate_all()
            right = reads.current_code(delivery_id)["code"]
            wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        verification.verify(delivery_id, {"code": wrong}, courier())
    item = adapters().deliveries.get(delivery_id)
    assert item.status == "ON_HOLD" and int(item.wrong_alert_issue or 0) > int(item.alerted_issue or 0)
    # When its personal data is erased
    erasure.erase_now(delivery_id)
    # Then no alert and no code email goes out for it
    assert send_wrong_code_alerts([(delivery_id, int(item.wrong_alert_issue))]) == []
    assert send_code_emails([(delivery_id, int(item.issue_number), 0)]) == []
    assert sent_mail(recipient["email"]) == []


def test_erasing_in_hand_refuses_an_open_delivery(clock):
    delivery_id = registered(person())
    with pytest.raises(DeliveryStillOpen):
        erasure.erase_now(delivery_id)


def test_the_suppression_list_keeps_a_keyed_mac_and_still_reads_addresses_suppressed_before(clock, table):
    # Given an address that bounces now, and one suppressed by an earlier version (a plain SHA-256 key)
    bounced, earlier = f"b-{uuid.uuid4().hex}@example.com", f"e-{uuid.uuid4().hex}@example.com"
    adapters().suppression.suppress(bounced, "Permanent", clock.now().isoformat())
    plain = "S#" + hashlib.sha256(earlier.encode()).hexdigest()
    table.put_item(Item={"pk": plain, "reason": "Permanent", "at": "2026-01-01T00:00:00+00:00"})
    # Then the new one is stored under neither the address nor its plain hash
    assert table.get_item(Key={"pk": "S#" + hashlib.sha256(bounced.encode()).hexdigest()}).get("Item") is None
    assert bounced not in everything_kept(table)
    # and both stay suppressed, whatever the case of the address
    assert adapters().suppression.suppressed([bounced.upper(), earlier, "new@example.com"]) == {bounced, earlier}


def test_a_suppressed_address_stays_suppressed_after_the_delivery_that_bounced_is_erased(clock, sent_mail):
    recipient = person()
    delivery_id = registered(recipient)
    bounces.mark_undeliverable(delivery_id, "Permanent", [recipient["email"]])
    dispatch.cancel(delivery_id)
    erasure.erase_now(delivery_id)
    assert adapters().suppression.suppressed([recipient["email"]]) == {recipient["email"]}
