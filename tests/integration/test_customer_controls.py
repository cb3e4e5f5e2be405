"""The customer's controls: resend the code, replace a leaked one, move to another day."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from delivery_otp import attempts, controls, reads, registration, verification
from delivery_otp.audit import COURIER, Actor
from delivery_otp.errors import Conflict, DateAlreadyEnded, Gone, InvalidInput, Locked, NotFound, TooManyResends
from delivery_otp.notifications import send_code_emails
from delivery_otp.wiring import adapters

from tests.support import factories
from tests.support.lambdas import call


def courier() -> Actor:
    return Actor(COURIER, courier_id=f"c-{uuid.uuid4().hex[:10]}", device_id="d-1")


def registered(**overrides) -> tuple[str, str]:
    body = factories.registration(recipient={"email": f"{uuid.uuid4().hex[:8]}@example.com", "locale": "it"})
    body.update(overrides)
    registration.register(body)
    return body["delivery_id"], reads.current_code(body["delivery_id"])["code"]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def email_now(delivery_id: str) -> None:
    """What the stream consumer does for this delivery's latest change."""
    item = adapters().deliveries.get(delivery_id)
    assert send_code_emails([(delivery_id, int(item.issue_number), int(item.resend_seq or 0))]) == []


def trail(delivery_id: str) -> list[tuple[str, str]]:
    return [(e["type"], e["actor"]["kind"]) for e in reads.audit_trail(delivery_id)["events"]]


def test_the_code_is_resent_three_times_a_day_then_429(clock, sent_mail):
    delivery_id, code = registered()
    address = adapters().deliveries.get(delivery_id).email
    email_now(delivery_id)
    left = []
    for _ in range(3):
        left.append(controls.resend_code(delivery_id)["resends_left_today"])
        email_now(delivery_id)
    with pytest.raises(TooManyResends) as refused:
        controls.resend_code(delivery_id)
    assert refused.value.status == 429 and left == [2, 1, 0]
    mails = sent_mail(address)
    assert len(mails) == 4 and all(code in m["text"] for m in mails)
    assert [t for t, _ in trail(delivery_id)].count("CODE_RESENT") == 3
    email_now(delivery_id)  # a replayed stream record sends nothing twice
    assert len(sent_mail(address)) == 4


def test_the_resend_budget_is_per_local_day(clock):
    delivery_id, _ = registered(delivery_date="2026-11-24")
    for _ in range(3):
        controls.resend_code(delivery_id)
    clock.freeze(datetime.fromisoformat("2026-11-24T07:00:00+01:00"))
    assert controls.resend_code(delivery_id)["resends_left_today"] == 2


def test_a_resend_needs_a_live_code(clock):
    with pytest.raises(NotFound):
        controls.resend_code("NOPE-404")
    no_code = factories.registration(require_code=False)
    registration.register(no_code)
    with pytest.raises(NotFound):
        controls.resend_code(no_code["delivery_id"])
    requeued, _ = registered()
    attempts.report_attempt(requeued, {"outcome": "RECIPIENT_UNAVAILABLE"}, courier())
    with pytest.raises(Gone):
        controls.resend_code(requeued)
    locked, code = registered()
    for _ in range(5):
        verification.verify(locked, {"code": wrong(code)}, courier())
    with pytest.raises(Locked) as answer:
        controls.resend_code(locked)
    assert answer.value.status == 423


def test_a_leaked_code_is_replaced_for_the_same_day_and_the_old_one_dies(clock, sent_mail):
    delivery_id, old = registered()
    verification.verify(delivery_id, {"code": wrong(old)}, courier())
    state = controls.replace_code(delivery_id)
    assert state["issue_number"] == 2 and state["delivery_date"] == "2026-11-23" and state["wrong_attempts_left"] == 5
    new = reads.current_code(delivery_id)["code"]
    email_now(delivery_id)
    assert new in sent_mail(adapters().deliveries.get(delivery_id).email)[-1]["text"]
    if new != old:  # one chance in a million that the fresh code is the same
        assert verification.verify(delivery_id, {"code": old}, courier()).status == 403
    assert verification.verify(delivery_id, {"code": new}, courier()).status == 200
    assert ("ROTATED", "storefront") in trail(delivery_id) and trail(delivery_id).count(
        ("CODE_ISSUED", "storefront")
    ) == 1
    with pytest.raises(Gone):
        controls.replace_code(delivery_id)  # delivered: no live code to replace


def test_a_locked_delivery_is_not_unlocked_by_a_new_code(clock):
    delivery_id, code = registered()
    for _ in range(5):
        verification.verify(delivery_id, {"code": wrong(code)}, courier())
    with pytest.raises(Locked):
        controls.replace_code(delivery_id)
    with pytest.raises(Locked):
        controls.reschedule(delivery_id, {"delivery_date": "2026-11-23"})  # the same, locked day
    assert reads.get_delivery(delivery_id)["status"] == "LOCKED"
    assert controls.reschedule(delivery_id, {"delivery_date": "2026-11-24"})["status"] == "SCHEDULED"


def test_a_delivery_moves_to_another_day_with_a_new_code(clock, sent_mail):
    delivery_id, old = registered()
    state = controls.reschedule(delivery_id, {"delivery_date": "2026-11-25"})
    assert state["delivery_date"] == "2026-11-25" and state["issue_number"] == 2
    assert state["code_valid_until"] == "2026-11-26T00:00:00+01:00"
    new = reads.current_code(delivery_id)["code"]
    email_now(delivery_id)
    assert new in sent_mail(adapters().deliveries.get(delivery_id).email)[-1]["text"]
    if new != old:
        assert verification.verify(delivery_id, {"code": old}, courier()).status == 403
    assert ("RESCHEDULED", "storefront") in trail(delivery_id)
    # The same day again, code live: nothing changes (PUT is idempotent).
    assert controls.reschedule(delivery_id, {"delivery_date": "2026-11-25"})["issue_number"] == 2


def test_a_requeued_delivery_can_be_moved_and_gets_a_live_code(clock):
    delivery_id, _ = registered()
    attempts.report_attempt(delivery_id, {"outcome": "CODE_NOT_PROVIDED"}, courier())
    state = controls.reschedule(delivery_id, {"delivery_date": "2026-11-24"})
    assert state["status"] == "SCHEDULED" and state["code_valid_until"] is not None


def test_rescheduling_refuses_bad_days_and_finished_deliveries(clock):
    delivery_id, code = registered()
    with pytest.raises(DateAlreadyEnded):
        controls.reschedule(delivery_id, {"delivery_date": "2026-11-22"})
    for bad in [None, "2026-02-30", 20261125, "25/11/2026"]:
        with pytest.raises(InvalidInput) as answer:
            controls.reschedule(delivery_id, {"delivery_date": bad})
        assert "delivery_date" in answer.value.message
    verification.verify(delivery_id, {"code": code}, courier())
    with pytest.raises(Conflict):
        controls.reschedule(delivery_id, {"delivery_date": "2026-11-25"})


def test_the_routes_answer_over_the_storefront_function(clock):
    delivery_id, _ = registered()
    assert call("POST", "/deliveries/{id}/code/resend", delivery_id, {})[0] == 200
    assert call("POST", "/deliveries/{id}/code/rotate", delivery_id, {})[0] == 200
    status, _, body = call("PUT", "/deliveries/{id}/schedule", delivery_id, {"delivery_date": "2026-11-24"})
    assert status == 200 and body["delivery_date"] == "2026-11-24"
    status, _, body = call("PUT", "/deliveries/{id}/schedule", delivery_id, {"delivery_date": "tomorrow"})
    assert status == 422 and "delivery_date" in body["error"]["message"]
    assert call("POST", "/deliveries/{id}/code/resend", "NOPE-1", {})[0] == 404


def test_a_new_code_and_its_resend_in_one_stream_batch_are_two_emails(clock, sent_mail):
    delivery_id, code = registered()
    controls.resend_code(delivery_id)
    address = adapters().deliveries.get(delivery_id).email
    assert send_code_emails([(delivery_id, 1, 0), (delivery_id, 1, 1)]) == []
    mails = sent_mail(address)
    assert len(mails) == 2 and all(code in m["text"] for m in mails)
    assert send_code_emails([(delivery_id, 1, 1)]) == []  # that resend is done: not sent twice
    assert len(sent_mail(address)) == 2
    sent = [
        (e["issue_number"], e["outcome"]) for e in reads.audit_trail(delivery_id)["events"] if e["type"] == "EMAIL_SENT"
    ]
    assert sent == [(1, None), (1, "resend")]


# --- signed handover receipts ------------------------------------------------------------------


def _receipt_of_a_delivered_parcel(courier_actor: Actor) -> tuple[str, dict]:
    delivery_id, code = registered()
    assert verification.verify(delivery_id, {"code": code, "device_id": "d-42"}, courier_actor).status == 200
    status, _, body = call("GET", "/deliveries/{id}/receipt", delivery_id)
    assert status == 200
    return delivery_id, body


def _key_set():
    from joserfc.jwk import KeySet

    status, headers, body = call("GET", "/.well-known/jwks.json")
    assert status == 200 and "max-age" in headers["Cache-Control"]
    return KeySet.import_key_set(body)


def test_a_receipt_is_checked_by_an_independent_jose_library_with_the_published_key(clock):
    from joserfc import jws

    actor = Actor(COURIER, courier_id="c-77", device_id="d-42")
    delivery_id, body = _receipt_of_a_delivered_parcel(actor)
    checked = jws.deserialize_compact(body["receipt"], _key_set(), algorithms=["Ed25519"])
    claims = json.loads(checked.payload)
    assert checked.protected["alg"] == "Ed25519" and checked.protected["kid"] == body["kid"]
    assert claims["sub"] == delivery_id and claims["iss"] == "delivery-otp"
    assert (claims["courier_id"], claims["device_id"]) == ("c-77", "d-42")
    assert claims["received_by"] == {"kind": "recipient"} and claims["issue_number"] == 1
    assert claims["delivered_at"] == "2026-11-23T09:00:00+00:00" and claims == body["claims"]


@pytest.mark.parametrize("part", [0, 1, 2])
def test_a_changed_byte_in_any_part_of_a_receipt_fails_the_check(clock, part):
    from joserfc import jws
    from joserfc.errors import JoseError

    _, body = _receipt_of_a_delivered_parcel(courier())
    pieces = body["receipt"].split(".")
    middle = len(pieces[part]) // 2
    flipped = "A" if pieces[part][middle] != "A" else "B"
    pieces[part] = pieces[part][:middle] + flipped + pieces[part][middle + 1 :]
    with pytest.raises((JoseError, ValueError)):
        jws.deserialize_compact(".".join(pieces), _key_set(), algorithms=["Ed25519"])


def test_there_is_no_receipt_before_delivery(clock):
    delivery_id, _ = registered()
    status, _, body = call("GET", "/deliveries/{id}/receipt", delivery_id)
    assert status == 409 and "not been delivered" in body["error"]["message"]
    assert call("GET", "/deliveries/{id}/receipt", "NOPE-1")[0] == 404


# --- wrong-code alerts ---------------------------------------------------------------------------


def _alert_record(delivery_id: str, old: int, new: int) -> dict:
    image = {"pk": {"S": f"D#{delivery_id}"}, "delivery_id": {"S": delivery_id}}
    return {
        "eventName": "MODIFY",
        "dynamodb": {
            "SequenceNumber": "1",
            "OldImage": {**image, "wrong_alert_issue": {"N": str(old)}} if old else image,
            "NewImage": {**image, "wrong_alert_issue": {"N": str(new)}},
        },
    }


def test_a_wrong_code_alerts_the_recipient_once_per_code(clock, sent_mail):
    from delivery_otp.notifications import alert_to_send, send_wrong_code_alerts

    delivery_id, code = registered()
    address = adapters().deliveries.get(delivery_id).email
    assert verification.verify(delivery_id, {"code": wrong(code)}, courier()).status == 403
    first = alert_to_send(_alert_record(delivery_id, 0, 1))
    assert first == (delivery_id, 1)
    assert send_wrong_code_alerts([first]) == []
    alerts = [m for m in sent_mail(address) if "wrong delivery code" in m["subject"] or "errato" in m["subject"]]
    assert len(alerts) == 1 and code not in alerts[0]["text"] and code not in alerts[0]["html"]
    # A second wrong code on the same code: its stream record asks for nothing, and a replay sends nothing.
    assert verification.verify(delivery_id, {"code": wrong(wrong(code))}, courier()).status == 403
    assert alert_to_send(_alert_record(delivery_id, 1, 1)) is None
    assert send_wrong_code_alerts([first]) == []
    assert len(sent_mail(address)) == 1
    assert [t for t, _ in trail(delivery_id)].count("ALERT_SENT") == 1
    # A new code gets an alert of its own.
    controls.replace_code(delivery_id)
    new_code = reads.current_code(delivery_id)["code"]
    assert verification.verify(delivery_id, {"code": wrong(new_code)}, courier()).status == 403
    assert send_wrong_code_alerts([alert_to_send(_alert_record(delivery_id, 1, 2))]) == []
    assert len(sent_mail(address)) == 2


# --- bounces and complaints -------------------------------------------------------------------------


def _ses_event(name: str, delivery_id: str, address: str) -> dict:
    from tests.support.lambdas import EVENTS

    event = json.loads((EVENTS / f"{name}.json").read_text())
    notice = json.loads(event["Records"][0]["Sns"]["Message"])
    notice["mail"]["tags"]["delivery"] = [delivery_id.encode().hex()]
    notice["mail"]["destination"] = [address]
    for recipients in ("bouncedRecipients", "complainedRecipients"):
        for part in ("bounce", "complaint"):
            for r in notice.get(part, {}).get(recipients, []):
                r["emailAddress"] = address
    event["Records"][0]["Sns"]["Message"] = json.dumps(notice)
    return event


@pytest.mark.parametrize("sample", ["ses_bounce", "ses_complaint"])
def test_a_bounce_or_complaint_marks_the_delivery_and_the_address_is_not_mailed_again(clock, sent_mail, sample):
    from tests.support.lambdas import invoke

    delivery_id, _ = registered()
    address = adapters().deliveries.get(delivery_id).email
    assert invoke("BounceFunction", _ses_event(sample, delivery_id, address.upper())) == {"marked": 1, "ignored": 0}
    assert reads.get_delivery(delivery_id)["email_undeliverable"] is True
    assert ("EMAIL_UNDELIVERABLE", "system") in trail(delivery_id)
    email_now(delivery_id)
    controls.resend_code(delivery_id)
    email_now(delivery_id)
    # Another delivery to the same address is not mailed either (the address is suppressed).
    other = factories.registration(recipient={"email": address, "locale": "it"})
    registration.register(other)
    email_now(other["delivery_id"])
    assert sent_mail(address) == []
    assert reads.current_code(delivery_id)["code"]  # the storefront can still show it


def test_a_transient_bounce_changes_nothing(clock):
    from tests.support.lambdas import invoke

    delivery_id, _ = registered()
    address = adapters().deliveries.get(delivery_id).email
    assert invoke("BounceFunction", _ses_event("ses_transient_bounce", delivery_id, address)) == {
        "marked": 0,
        "ignored": 1,
    }
    assert reads.get_delivery(delivery_id)["email_undeliverable"] is False
    assert adapters().suppression.suppressed([address]) == set()


def test_a_requeued_delivery_without_a_code_moved_to_its_own_day_goes_out_again(clock):
    """Found by the state machine: the same day is not 'nothing to do' while the parcel is back in the depot."""
    body = factories.registration(require_code=False, delivery_date="2026-11-24")
    registration.register(body)
    attempts.report_attempt(body["delivery_id"], {"outcome": "RECIPIENT_UNAVAILABLE"}, courier())
    assert reads.get_delivery(body["delivery_id"])["status"] == "REQUEUED"
    moved = controls.reschedule(body["delivery_id"], {"delivery_date": "2026-11-24"})
    assert (moved["status"], moved["delivery_date"]) == ("SCHEDULED", "2026-11-24")
