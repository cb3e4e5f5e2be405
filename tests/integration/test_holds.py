"""Held parcels released, parcels returned to their sender, and stale offline attempt reports, against
moto with the template's table."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from delivery_otp import (
    attempts,
    controls,
    delegates,
    dispatch,
    holds,
    issuing,
    reads,
    registration,
    rotation,
    verification,
)
from delivery_otp.audit import COURIER, Actor
from delivery_otp.config import settings
from delivery_otp.errors import Conflict, DateAlreadyEnded, Gone, InvalidInput, ReleaseLimit, StaleAttempt
from delivery_otp.notifications import send_code_emails
from delivery_otp.wiring import adapters

from tests.support import factories
from tests.support.lambdas import call

PRINCIPAL = "arn:aws:sts::123456789012:assumed-role/shop-backend/shop-backend"  # events/release_delivery.json


def courier() -> Actor:
    return Actor(COURIER, courier_id=f"c-{uuid.uuid4().hex[:10]}", device_id="d-1")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def registered(**overrides) -> str:
    body = factories.registration(**overrides)
    registration.register(body)
    return body["delivery_id"]


def guess_wrong(delivery_id: str, times: int) -> list[int]:
    code = reads.current_code(delivery_id)["code"]
    return [verification.verify(delivery_id, {"code": wrong(code)}, courier()).status for _ in range(times)]


def held(clock, delivery_id: str) -> None:
    """Ten wrong codes over two days: five lock the first, the night brings the second, five more hold it.
    The clock is then at the second night's rotation (Tuesday 24 November)."""
    guess_wrong(delivery_id, 5)
    night(clock, "2026-11-24")
    rotate(delivery_id)
    guess_wrong(delivery_id, 5)
    assert reads.get_delivery(delivery_id)["status"] == "ON_HOLD"


def types(delivery_id: str) -> list[str]:
    return [e["type"] for e in reads.audit_trail(delivery_id)["events"]]


def night(clock, day: str) -> None:
    """The rotation twenty minutes after `day` began (Rome), for this test's shards only."""
    clock.freeze(datetime.fromisoformat(f"{day}T00:20:00+01:00"))


def rotate(delivery_id: str) -> None:
    rotation.rotate_all(only=[issuing.shard_of(delivery_id)])


# --- release --------------------------------------------------------------------------------------


def test_a_locked_delivery_released_for_today_gets_a_new_code_and_fresh_budgets(clock):
    delivery_id = registered()
    old = reads.current_code(delivery_id)["code"]
    guess_wrong(delivery_id, 5)

    state = holds.release(delivery_id, {"delivery_date": "2026-11-23"})

    assert state["status"] == "SCHEDULED" and state["issue_number"] == 2 and state["wrong_attempts_left"] == 5
    new = reads.current_code(delivery_id)["code"]
    if new != old:
        assert verification.verify(delivery_id, {"code": old}, courier()).status == 403
    assert verification.verify(delivery_id, {"code": new}, courier()).status == 200
    trail = types(delivery_id)
    at = trail.index("RELEASED")
    assert trail[at - 1 : at + 2] == ["LOCKED", "RELEASED", "CODE_ISSUED"]


def test_a_held_delivery_released_takes_ten_more_wrong_codes_and_its_right_code_opens_it(clock):
    delivery_id = registered()
    held(clock, delivery_id)

    state = holds.release(delivery_id, {"delivery_date": "2026-11-24"})

    # Ten wrong codes so far: the life's limit is now 20, the new code has its five.
    assert state["status"] == "SCHEDULED" and state["wrong_attempts_left"] == 5
    clock.freeze(datetime.fromisoformat("2026-11-24T09:00:00+01:00"))
    code = reads.current_code(delivery_id)["code"]
    assert verification.verify(delivery_id, {"code": code}, courier()).status == 200


def test_a_right_code_after_a_release_is_still_one_request(clock):
    from bench.work import counting

    delivery_id = registered()
    held(clock, delivery_id)
    holds.release(delivery_id, {"delivery_date": "2026-11-24"})
    code = reads.current_code(delivery_id)["code"]
    with counting() as calls:
        adapters().keys.key()
        before = sum(calls.values())
        assert verification.verify(delivery_id, {"code": code}, courier()).status == 200
        assert sum(calls.values()) - before == 1


def test_at_most_two_releases_so_never_more_than_thirty_wrong_codes(clock):
    delivery_id = registered()
    held(clock, delivery_id)  # 10 wrong codes
    holds.release(delivery_id, {"delivery_date": "2026-11-24"})
    assert guess_wrong(delivery_id, 5) == [403] * 5  # 15: locked for the day
    holds.release(delivery_id, {"delivery_date": "2026-11-24"})  # the second release: a locked one
    assert guess_wrong(delivery_id, 5) == [403] * 5  # 20: locked again
    with pytest.raises(ReleaseLimit) as refused:
        holds.release(delivery_id, {"delivery_date": "2026-11-25"})
    assert refused.value.status == 409 and refused.value.code == "RELEASE_LIMIT"
    # The nights give it its next days: the last ten of its thirty, then it is held for good.
    night(clock, "2026-11-25")
    rotate(delivery_id)
    assert guess_wrong(delivery_id, 5) == [403] * 5
    night(clock, "2026-11-26")
    rotate(delivery_id)
    assert guess_wrong(delivery_id, 6) == [403] * 5 + [410]
    item = adapters().deliveries.get(delivery_id)
    assert (item.status, int(item.life_wrong_attempts), int(item.life_limit)) == ("ON_HOLD", 30, 30)
    with pytest.raises(ReleaseLimit):
        holds.release(delivery_id, {"delivery_date": "2026-11-27"})


@pytest.mark.parametrize(
    ("day", "error"),
    [("2026-11-22", DateAlreadyEnded), ("2026-11-29", InvalidInput), ("2026-12-08", InvalidInput), ("x", InvalidInput)],
)
def test_a_release_needs_a_working_day_that_has_not_ended(clock, day, error):
    delivery_id = registered()
    guess_wrong(delivery_id, 5)
    with pytest.raises(error) as refused:
        holds.release(delivery_id, {"delivery_date": day})
    assert refused.value.status == 422 and "delivery_date" in refused.value.message
    assert reads.get_delivery(delivery_id)["status"] == "LOCKED"


def test_only_a_held_or_locked_delivery_is_released(clock):
    delivery_id = registered()
    with pytest.raises(Conflict) as refused:
        holds.release(delivery_id, {"delivery_date": "2026-11-24"})
    assert refused.value.code == "CONFLICT"
    dispatch.cancel(delivery_id)
    with pytest.raises(Conflict):
        holds.release(delivery_id, {"delivery_date": "2026-11-24"})


def test_a_release_renews_the_live_delegates_codes_and_everyone_is_emailed(clock, sent_mail):
    delivery_id = registered(recipient={"email": f"{uuid.uuid4().hex[:8]}@example.com", "locale": "it"})
    named = delegates.add_delegate(delivery_id, {"name": "Luca", "email": f"{uuid.uuid4().hex[:8]}@example.com"})
    recipient = adapters().deliveries.get(delivery_id).email
    delegate_address = adapters().deliveries.get(delivery_id).delegates.as_dict()["dlg-1"]["email"]
    guess_wrong(delivery_id, 5)

    holds.release(delivery_id, {"delivery_date": "2026-11-24"})
    item = adapters().deliveries.get(delivery_id)
    assert send_code_emails([(delivery_id, int(item.issue_number), 0)]) == []

    assert named.body["delegate_id"] == "dlg-1" and list(item.delegate_macs.as_dict().values()) == ["dlg-1"]
    assert [m["subject"] != "" for m in sent_mail(recipient)] == [True]  # the released issue's email
    assert len(sent_mail(delegate_address)) == 1


def test_the_release_route_audits_the_callers_principal_and_so_do_other_storefront_actions(clock):
    delivery_id = registered()
    guess_wrong(delivery_id, 5)

    status, _, body = call("POST", "/deliveries/{id}/release", delivery_id, {"delivery_date": "2026-11-24"})
    assert (status, body["status"]) == (200, "SCHEDULED")
    status, _, _ = call("POST", "/deliveries/{id}/return", delivery_id, {})
    assert status == 200

    events = reads.audit_trail(delivery_id)["events"]
    by_type = {e["type"]: e["actor"] for e in events}
    assert by_type["RELEASED"] == {
        "kind": "storefront",
        "courier_id": None,
        "device_id": None,
        "principal": PRINCIPAL,
        "delegate_id": None,
    }
    assert by_type["RETURNED"]["principal"] == PRINCIPAL
    # Called without a signature (directly), an action has no principal; a courier's never has one.
    assert by_type["REGISTERED"]["principal"] is None and by_type["VERIFICATION"]["principal"] is None


# --- returns --------------------------------------------------------------------------------------


def test_the_storefront_returns_a_parcel_and_nothing_more_happens_to_it(clock, sent_mail):
    delivery_id = registered()
    code = reads.current_code(delivery_id)["code"]

    assert holds.return_to_sender(delivery_id)["status"] == "RETURNED"
    returned_at = clock.now()
    assert holds.return_to_sender(delivery_id)["status"] == "RETURNED"

    answer = verification.verify(delivery_id, {"code": code}, courier())
    assert answer.status == 410 and answer.body["result"] == "EXPIRED"
    with pytest.raises(Conflict):
        attempts.report_attempt(delivery_id, {"outcome": "ACCESS_PROBLEM"}, courier())
    with pytest.raises(Gone):
        controls.resend_code(delivery_id)
    for refused in (
        lambda: dispatch.cancel(delivery_id),
        lambda: controls.reschedule(delivery_id, {"delivery_date": "2026-11-25"}),
        lambda: holds.release(delivery_id, {"delivery_date": "2026-11-25"}),
    ):
        with pytest.raises(Conflict):
            refused()
    night(clock, "2026-11-24")
    rotate(delivery_id)
    item = adapters().deliveries.get(delivery_id)
    # Not rotated: it stays in the index only until its personal data is due for erasure.
    erase_at = int((returned_at + timedelta(days=90)).timestamp())
    assert (item.status, int(item.issue_number), item.due_at, item.code_mac) == ("RETURNED", 1, erase_at, None)
    assert types(delivery_id).count("RETURNED") == 1


def test_a_delivered_or_cancelled_parcel_cannot_be_returned(clock):
    delivered = registered()
    verification.verify(delivered, {"code": reads.current_code(delivered)["code"]}, courier())
    cancelled = registered()
    dispatch.cancel(cancelled)
    for delivery_id in (delivered, cancelled):
        with pytest.raises(Conflict):
            holds.return_to_sender(delivery_id)


def test_the_third_failed_attempt_makes_the_next_rotation_return_it(clock):
    delivery_id = registered()
    for day in ("2026-11-24", "2026-11-25", "2026-11-26"):
        attempts.report_attempt(delivery_id, {"outcome": "RECIPIENT_UNAVAILABLE"}, courier())
        night(clock, day)
        rotate(delivery_id)
        if day != "2026-11-26":
            assert reads.get_delivery(delivery_id)["status"] == "SCHEDULED"

    item = adapters().deliveries.get(delivery_id)
    assert (item.status, int(item.failed_attempts), int(item.issue_number)) == ("RETURNED", 3, 3)
    returned = [e for e in reads.audit_trail(delivery_id)["events"] if e["type"] == "RETURNED"]
    assert [(e["actor"]["kind"], e["outcome"]) for e in returned] == [("scheduler", "3 failed attempts")]


def test_after_ten_working_days_without_delivery_the_rotation_returns_it(clock):
    delivery_id = registered()  # Monday 23 November; 8 December is a holiday in Italy, Sundays are none
    day = datetime.fromisoformat("2026-11-24T00:20:00+01:00")
    while day.date().isoformat() <= "2026-12-03":
        clock.freeze(day)
        rotate(delivery_id)
        assert reads.get_delivery(delivery_id)["status"] == "SCHEDULED", day
        day += timedelta(days=1)
    assert reads.get_delivery(delivery_id)["delivery_date"] == "2026-12-03"  # the 10th working day

    night(clock, "2026-12-04")
    rotate(delivery_id)

    assert reads.get_delivery(delivery_id)["status"] == "RETURNED"
    assert [e["outcome"] for e in reads.audit_trail(delivery_id)["events"] if e["type"] == "RETURNED"] == [
        "working days over"
    ]


def test_a_reschedule_starts_the_count_of_working_days_again(clock):
    delivery_id = registered()
    clock.freeze(datetime.fromisoformat("2026-12-02T10:00:00+01:00"))
    controls.reschedule(delivery_id, {"delivery_date": "2026-12-03"})

    night(clock, "2026-12-04")
    rotate(delivery_id)

    assert reads.get_delivery(delivery_id)["status"] == "SCHEDULED"


def test_the_limits_are_settings(clock, monkeypatch):
    monkeypatch.setenv("MAX_FAILED_ATTEMPTS", "1")
    monkeypatch.setenv("MAX_OPEN_WORKING_DAYS", "2")
    settings.cache_clear()
    try:
        assert (settings().max_failed_attempts, settings().max_open_working_days) == (1, 2)
        failed = registered()
        attempts.report_attempt(failed, {"outcome": "ACCESS_PROBLEM"}, courier())
        night(clock, "2026-11-24")
        rotate(failed)
        assert reads.get_delivery(failed)["status"] == "RETURNED"
        open_days = registered(delivery_date="2026-11-24")
        night(clock, "2026-11-25")
        rotate(open_days)
        assert reads.get_delivery(open_days)["status"] == "SCHEDULED"
        night(clock, "2026-11-26")
        rotate(open_days)
        assert reads.get_delivery(open_days)["status"] == "RETURNED"
    finally:
        monkeypatch.undo()
        settings.cache_clear()


# --- stale attempt reports ------------------------------------------------------------------------


def test_an_attempt_made_against_an_earlier_code_is_stale_and_changes_nothing(clock):
    delivery_id = registered()
    night(clock, "2026-11-24")
    rotate(delivery_id)
    before = adapters().deliveries.get(delivery_id)

    with pytest.raises(StaleAttempt) as refused:
        attempts.report_attempt(delivery_id, {"outcome": "RECIPIENT_UNAVAILABLE", "issue_number": 1}, courier())

    assert refused.value.status == 409 and refused.value.code == "STALE_ATTEMPT"
    after = adapters().deliveries.get(delivery_id)
    assert (after.status, after.rev, after.code_mac) == ("SCHEDULED", before.rev, before.code_mac)
    answer = attempts.report_attempt(delivery_id, {"outcome": "RECIPIENT_UNAVAILABLE", "issue_number": 2}, courier())
    assert answer["status"] == "REQUEUED"


@pytest.mark.parametrize("bad", [-1, "2", 1.5, True])
def test_an_issue_number_that_is_not_a_whole_number_is_refused(clock, bad):
    delivery_id = registered()
    with pytest.raises(InvalidInput) as refused:
        attempts.report_attempt(delivery_id, {"outcome": "ACCESS_PROBLEM", "issue_number": bad}, courier())
    assert refused.value.field == "issue_number"
    assert reads.get_delivery(delivery_id)["status"] == "SCHEDULED"
