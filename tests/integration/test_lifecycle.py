"""The delivery-code rules, use case by use case, against moto with the template's table."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from delivery_otp import attempts, dispatch, reads, registration, rotation, verification, wiring
from delivery_otp.audit import COURIER, Actor
from delivery_otp.errors import Conflict, DateAlreadyEnded, Gone, InvalidInput, NotFound

from tests.support import factories


def courier() -> Actor:
    """A courier of its own per call: the per-courier budget is tested on its own, not by accident."""
    return Actor(COURIER, courier_id=f"c-{uuid.uuid4().hex[:10]}", device_id="d-9")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def register(**overrides):
    body = factories.registration(**overrides)
    answer = registration.register(body)
    return body, answer


def test_registration_issues_a_code_valid_to_the_end_of_the_local_day(clock):
    body, answer = register()
    assert answer.status == 201
    assert answer.body == {
        "delivery_id": body["delivery_id"],
        "status": "SCHEDULED",
        "code_required": True,
        "delivery_date": "2026-11-23",
        "code_valid_until": "2026-11-24T00:00:00+01:00",
        "issue_number": 1,
        "courier_id": None,
        "email_undeliverable": False,
        "personal_data_erased": False,
        "wrong_attempts_left": 5,
        "delegates": [],
    }
    shown = reads.current_code(body["delivery_id"])
    assert len(shown["code"]) == 6 and shown["code"].isdigit()
    assert shown["valid_until"] == "2026-11-24T00:00:00+01:00"


def test_an_identical_repeat_answers_200_with_the_same_code(clock):
    body, first = register()
    code = reads.current_code(body["delivery_id"])["code"]
    again = registration.register(dict(body))
    assert again.status == 200 and again.body == first.body
    assert reads.current_code(body["delivery_id"])["code"] == code


def test_the_same_id_with_another_body_is_a_conflict(clock):
    body, _ = register()
    with pytest.raises(Conflict):
        registration.register({**body, "order_id": "another"})


def test_a_delivery_date_that_has_ended_is_refused(clock):
    with pytest.raises(DateAlreadyEnded):
        register(delivery_date="2026-11-22")


def test_orders_below_the_threshold_need_no_code_unless_asked(clock):
    body, answer = register(order_value={"amount": "299.99", "currency": "EUR"})
    assert answer.body["code_required"] is False and answer.body["code_valid_until"] is None
    with pytest.raises(NotFound):
        reads.current_code(body["delivery_id"])
    verdict = verification.verify(body["delivery_id"], {"code": "123456"}, courier())
    assert verdict.status == 410
    _, forced = register(order_value={"amount": "10", "currency": "EUR"}, require_code=True)
    assert forced.body["code_required"] is True
    _, off = register(require_code=False)
    assert off.body["code_required"] is False
    _, unconfigured = register(order_value={"amount": "1", "currency": "JPY"})
    assert unconfigured.body["code_required"] is True


def test_the_right_code_delivers_once(clock):
    body, _ = register()
    code = reads.current_code(body["delivery_id"])["code"]
    first = verification.verify(body["delivery_id"], {"code": code}, courier())
    assert first.status == 200 and first.body["result"] == "ACCEPTED"
    again = verification.verify(body["delivery_id"], {"code": code}, courier())
    assert again.status == 409 and again.body["result"] == "ALREADY_DELIVERED"
    assert reads.get_delivery(body["delivery_id"])["status"] == "DELIVERED"
    with pytest.raises(Gone):
        reads.current_code(body["delivery_id"])
    with pytest.raises(Conflict):
        dispatch.cancel(body["delivery_id"])
    kinds = [(e["type"], e["outcome"], e["issue_number"]) for e in reads.audit_trail(body["delivery_id"])["events"]]
    assert kinds[:2] == [("REGISTERED", None, None), ("CODE_ISSUED", None, 1)]
    assert ("VERIFICATION", "ACCEPTED", 1) in kinds and ("DELIVERED", "recipient", 1) in kinds
    assert kinds[-1] == ("VERIFICATION", "ALREADY_DELIVERED", 1)


def test_five_wrong_codes_lock_the_day_and_the_right_code_then_answers_423(clock):
    body, _ = register()
    delivery_id = body["delivery_id"]
    code = reads.current_code(delivery_id)["code"]
    lefts = [verification.verify(delivery_id, {"code": wrong(code)}, courier()) for _ in range(5)]
    assert [a.status for a in lefts] == [403] * 5
    assert [a.body["wrong_attempts_left"] for a in lefts] == [4, 3, 2, 1, 0]
    locked = verification.verify(delivery_id, {"code": code}, courier())
    assert locked.status == 423 and locked.body["result"] == "LOCKED"
    state = reads.get_delivery(delivery_id)
    assert state["status"] == "LOCKED" and state["code_valid_until"] is None and state["wrong_attempts_left"] == 0
    with pytest.raises(Gone):
        reads.current_code(delivery_id)


def test_malformed_codes_are_refused_and_not_counted(clock):
    body, _ = register()
    for bad in ["12345", "1234567", "١٢٣٤٥٦", 123456, None, "12 456"]:
        with pytest.raises(InvalidInput):
            verification.verify(body["delivery_id"], {"code": bad}, courier())
    assert reads.get_delivery(body["delivery_id"])["wrong_attempts_left"] == 5
    with pytest.raises(NotFound):
        verification.verify("UNKNOWN-1", {"code": "12"}, courier())


def test_failed_attempt_requeues_and_the_night_brings_a_new_code(clock):
    body, _ = register()
    delivery_id = body["delivery_id"]
    old_code = reads.current_code(delivery_id)["code"]
    answer = attempts.report_attempt(delivery_id, {"outcome": "RECIPIENT_UNAVAILABLE"}, courier())
    assert answer == {"status": "REQUEUED", "next_delivery_date": "2026-11-24"}
    assert attempts.report_attempt(delivery_id, {"outcome": "CODE_NOT_PROVIDED"}, courier()) == answer
    assert verification.verify(delivery_id, {"code": old_code}, courier()).status == 410
    with pytest.raises(Gone):
        reads.current_code(delivery_id)
    state = reads.get_delivery(delivery_id)
    assert state["status"] == "REQUEUED" and state["delivery_date"] == "2026-11-23"
    failed = [e for e in reads.audit_trail(delivery_id)["events"] if e["type"] == "ATTEMPT_FAILED"]
    assert [(e["issue_number"], e["outcome"]) for e in failed] == [(1, "RECIPIENT_UNAVAILABLE")]

    clock.freeze(datetime.fromisoformat("2026-11-24T00:20:00+01:00"))
    rotation.rotate_all()
    state = reads.get_delivery(delivery_id)
    assert state == {
        "delivery_id": delivery_id,
        "status": "SCHEDULED",
        "code_required": True,
        "delivery_date": "2026-11-24",
        "code_valid_until": "2026-11-25T00:00:00+01:00",
        "issue_number": 2,
        "courier_id": None,
        "email_undeliverable": False,
        "personal_data_erased": False,
        "wrong_attempts_left": 5,
        "delegates": [],
    }
    new_code = reads.current_code(delivery_id)["code"]
    if new_code != old_code:
        assert verification.verify(delivery_id, {"code": old_code}, courier()).status == 403
    assert verification.verify(delivery_id, {"code": new_code}, courier()).status == 200


def test_rotation_is_idempotent_and_harmless_when_replayed_or_backdated(clock):
    body, _ = register()
    delivery_id = body["delivery_id"]
    night = datetime.fromisoformat("2026-11-24T00:20:00+01:00")
    rotation.rotate_all(night)
    after_first = reads.get_delivery(delivery_id)
    rotation.rotate_all(night)
    rotation.rotate_all(datetime.fromisoformat("2026-11-23T23:59:00+01:00"))
    rotation.rotate_all(datetime.fromisoformat("2026-11-24T06:00:00+01:00"))
    assert reads.get_delivery(delivery_id) == after_first
    rotated = [e for e in reads.audit_trail(delivery_id)["events"] if e["type"] == "ROTATED"]
    assert len(rotated) == 1


def test_a_missed_night_is_caught_up_to_a_day_that_can_still_be_delivered(clock):
    body, _ = register(delivery_date="2026-11-28")  # a Saturday; Sunday is no working day
    clock.freeze(datetime.fromisoformat("2026-11-30T15:00:00+01:00"))  # Monday afternoon: two nights missed
    rotation.rotate_all()
    state = reads.get_delivery(body["delivery_id"])
    assert state["delivery_date"] == "2026-11-30" and state["issue_number"] == 2


def test_between_midnight_and_the_rotation_no_code_is_live(clock):
    body, _ = register()
    clock.freeze(datetime.fromisoformat("2026-11-24T00:00:00+01:00"))
    state = reads.get_delivery(body["delivery_id"])
    assert state["status"] == "SCHEDULED" and state["code_valid_until"] is None
    with pytest.raises(Gone):
        reads.current_code(body["delivery_id"])


def test_ten_wrong_codes_over_the_life_put_the_delivery_on_hold(clock):
    body, _ = register()
    delivery_id = body["delivery_id"]
    code = reads.current_code(delivery_id)["code"]
    for _ in range(5):
        verification.verify(delivery_id, {"code": wrong(code)}, courier())
    clock.freeze(datetime.fromisoformat("2026-11-24T00:20:00+01:00"))
    rotation.rotate_all()
    code = reads.current_code(delivery_id)["code"]
    answers = [verification.verify(delivery_id, {"code": wrong(code)}, courier()) for _ in range(5)]
    assert [a.body.get("wrong_attempts_left") for a in answers] == [4, 3, 2, 1, 0]
    assert reads.get_delivery(delivery_id)["status"] == "ON_HOLD"
    assert verification.verify(delivery_id, {"code": code}, courier()).status == 410
    clock.freeze(datetime.fromisoformat("2026-11-25T00:20:00+01:00"))
    rotation.rotate_all()
    assert reads.get_delivery(delivery_id)["issue_number"] == 2


def test_cancel_kills_the_code_and_is_repeatable(clock):
    body, _ = register()
    code = reads.current_code(body["delivery_id"])["code"]
    assert dispatch.cancel(body["delivery_id"])["status"] == "CANCELLED"
    assert dispatch.cancel(body["delivery_id"])["status"] == "CANCELLED"
    assert verification.verify(body["delivery_id"], {"code": code}, courier()).status == 410
    with pytest.raises(Conflict):
        attempts.report_attempt(body["delivery_id"], {"outcome": "ACCESS_PROBLEM"}, courier())
    with pytest.raises(NotFound):
        dispatch.cancel("NOPE-404")


def test_twenty_parallel_right_codes_deliver_exactly_once(clock):
    body, _ = register()
    code = reads.current_code(body["delivery_id"])["code"]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(lambda _: verification.verify(body["delivery_id"], {"code": code}, courier()), range(20))
        )
    assert sorted(a.status for a in answers) == [200] + [409] * 19


def test_twenty_parallel_wrong_codes_never_count_more_than_five(clock, table):
    body, _ = register()
    code = reads.current_code(body["delivery_id"])["code"]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(lambda _: verification.verify(body["delivery_id"], {"code": wrong(code)}, courier()), range(20))
        )
    statuses = sorted(a.status for a in answers)
    assert statuses.count(403) == 5 and statuses.count(423) == 15
    item = table.get_item(Key={"pk": f"D#{body['delivery_id']}"}, ConsistentRead=True)["Item"]
    assert item["wrong_attempts"] == 5 and item["life_wrong_attempts"] == 5


def test_no_code_is_ever_stored_in_the_table(clock, table):
    body, _ = register()
    code = reads.current_code(body["delivery_id"])["code"]
    item = table.get_item(Key={"pk": f"D#{body['delivery_id']}"}, ConsistentRead=True)["Item"]
    assert code not in repr(item)


def test_the_code_email_is_sent_once_per_issue(clock, sent_mail):
    from delivery_otp.notifications import send_code_email

    body, _ = register(recipient={"email": "once@example.com", "locale": "de-DE"})
    delivery_id = body["delivery_id"]
    code = reads.current_code(delivery_id)["code"]
    assert send_code_email(delivery_id, 1) is True
    assert send_code_email(delivery_id, 1) is False  # a retried stream record sends nothing twice
    mails = sent_mail("once@example.com")
    assert len(mails) == 1
    assert code in mails[0]["text"] and code not in mails[0]["subject"]
    assert [e["type"] for e in reads.audit_trail(delivery_id)["events"]].count("EMAIL_SENT") == 1


def test_a_secret_store_outage_fails_closed(clock):
    from delivery_otp.errors import DependencyUnavailable

    class Unreachable:
        def key(self):
            raise DependencyUnavailable("the code key is unavailable")

    body = factories.registration()
    wiring.override(keys=Unreachable())
    with pytest.raises(DependencyUnavailable):
        registration.register(body)
    wiring.reset()
    wiring.override(clock=clock)
    with pytest.raises(NotFound):
        reads.get_delivery(body["delivery_id"])
