"""A hypothesis state machine of the whole lifecycle, checked against the product's rules
(docs/behaviour.md: codes, budgets, the order of judgement, rotation).

Registrations in several zones, code views, right, wrong and stale codes from couriers and from
devices without one, failed attempts (some reported against an earlier code), cancels, releases of held
or locked parcels (at most twice, fresh budgets each time, never more than 30 wrong codes in a life),
returns to the sender (by the storefront, or by the rotation after 3 failed attempts or 10 working days;
nothing is mailed after), the clock moving forward (then the nightly rotation) or back (then a
backdated rotation that must do nothing), personal data erased on request or once its retention has
passed, and the email sender run over every delivery (nothing is mailed after erasure). Each step's
answer is predicted from the delivery's state before it, by the rules as docs/behaviour.md words them,
and every item must satisfy the invariants after every step. After every step the table's stream is also
run through the event publisher (twice, as a redelivered batch would be): each integration event comes
from one audit entry, every entry of a kind a storefront acts on yields its event, sequences grow
strictly per delivery, and
ids are unique and the same on a replay.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from delivery_otp import (
    attempts,
    codes,
    controls,
    delegates,
    dispatch,
    erasure,
    holds,
    notifications,
    reads,
    registration,
    rotation,
    verification,
    wiring,
)
from delivery_otp.audit import COURIER, Actor
from delivery_otp.calendar import has_ended
from delivery_otp.clock import SettableClock
from delivery_otp.config import settings as configured
from delivery_otp.errors import Conflict, DeliveryStillOpen, DomainError
from delivery_otp.model import (
    CANCELLED,
    DELIVERED,
    ENDED_STATES,
    LOCKED,
    ON_HOLD,
    REQUEUED,
    RETURNED,
    SCHEDULED,
    DeliveryModel,
    delegate_entries,
)
from delivery_otp.notifications import send_code_emails
from delivery_otp.wiring import adapters
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, precondition, rule

from local import mailbox
from tests.support import factories
from tests.support.aws import StreamTail
from tests.support.lambdas import invoke

pytestmark = pytest.mark.xdist_group("lifecycle-machine")

START = datetime.fromisoformat("2026-11-23T08:00:00+01:00")  # a Monday morning in Rome
PLACES = {
    "Europe/Rome": {"country": "IT", "subdivision": "IT-RM", "timezone": "Europe/Rome"},
    "America/New_York": {"country": "US", "subdivision": "US-NY", "timezone": "America/New_York"},
    "Europe/Berlin": {"country": "DE", "subdivision": "DE-BY", "timezone": "Europe/Berlin"},
}
COURIERS = [None, "c-amber", "c-blue"]
PER_CODE, PER_LIFE, PER_COURIER, WINDOW = 5, 10, 20, timedelta(hours=24)
RELEASES, MOST_WRONG_IN_A_LIFE = 2, 30
FAILED_ATTEMPTS, OPEN_WORKING_DAYS = 3, 10  # the template's defaults
CLOSED = (DELIVERED, CANCELLED, ON_HOLD, RETURNED)  # no attempt can be reported, no day picked


def life_limit(item: DeliveryModel) -> int:
    """10, and 10 more for each release from hold."""
    return PER_LIFE * (1 + int(item.releases or 0))


def working_day(item: DeliveryModel, day: date) -> bool:
    return day.weekday() != 6 and day not in holidays.country_holidays(
        item.country, subdiv=item.subdivision.split("-")[1]
    )


# Which event each kind of audit entry yields (a VERIFICATION only when it was a wrong code); any other
# kind yields none.
EVENT_OF_ENTRY = {
    "REGISTERED": "delivery.registered",
    "CODE_ISSUED": "delivery.code_issued",
    "EMAIL_SENT": "delivery.code_sent",
    "EMAIL_UNDELIVERABLE": "delivery.email_undeliverable",
    "LOCKED": "delivery.locked",
    "ON_HOLD": "delivery.on_hold",
    "ATTEMPT_FAILED": "delivery.attempt_failed",
    "RESCHEDULED": "delivery.rescheduled",
    "DELIVERED": "delivery.delivered",
    "CANCELLED": "delivery.cancelled",
    "DELEGATE_ADDED": "delivery.delegate_added",
    "DELEGATE_REVOKED": "delivery.delegate_revoked",
    "COURIER_BLOCKED": "courier.blocked",
    "RELEASED": "delivery.released",
    "RETURNED": "delivery.returned",
    "PERSONAL_DATA_ERASED": "delivery.personal_data_erased",
}


def _event_of(entry_type: str, outcome: str | None) -> str | None:
    if entry_type == "VERIFICATION":
        return "delivery.wrong_code" if outcome == "REJECTED" else None
    return EVENT_OF_ENTRY.get(entry_type)


class _RecordingBus:
    """Takes every event, keeping them in the order put."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def put(self, events: list[dict]) -> list[bool]:
        self.events += events
        return [True] * len(events)


def _wrong(code: str) -> str:
    return f"{(int(code) + 7) % 1_000_000:06d}"


class _Mailbox:
    """A mail service that notes which delivery each message was for and takes none of them, so whatever a
    delivery is owed (a code email, a wrong-code alert) stays owed and is offered again at every send."""

    sender = "delivery-codes@example.com"

    def __init__(self) -> None:
        self.deliveries: list[str] = []

    def send_bulk(self, template: str, messages: list, tags: list | None = None) -> list[bool]:
        self.deliveries += [tag["delivery"] for tag in tags or []]
        return [False] * len(messages)


class Lifecycle(RuleBasedStateMachine):
    deliveries = Bundle("deliveries")

    def __init__(self) -> None:
        super().__init__()
        wiring.reset()
        self.clock = SettableClock(START)
        self.mailbox = _Mailbox()
        wiring.override(clock=self.clock, mailer=self.mailbox)
        self.erased: set[str] = set()
        self.ids: list[str] = []
        self.codes: dict[tuple[str, int], str] = {}  # every code seen, by (delivery, issue number)
        self.wrong_by_courier: dict[str, list[datetime]] = {}  # when each courier's wrong code was counted
        # Courier budgets live in the table, which outlives one example: each example has couriers of its own.
        self.run = uuid.uuid4().hex[:8]
        self.last_seen: dict[str, tuple[dict, int]] = {}  # each item as last seen (without rev), and its rev
        self.stream = StreamTail(configured().table_name)
        self.bus = _RecordingBus()
        wiring.override(event_bus=self.bus)
        self.published: dict[str, list[dict]] = {}  # each delivery's events, in the order published
        self.ids_seen: set[str] = set()
        self.failed: dict[str, int] = {}  # failed attempts that requeued each delivery
        self.open_since: dict[str, date] = {}  # the first day of each delivery's count of working days

    def courier_id(self, courier: str | None) -> str | None:
        return f"{courier}-{self.run}" if courier else None

    # --- helpers -------------------------------------------------------------------------------

    def item(self, delivery_id: str) -> DeliveryModel:
        found = adapters().deliveries.get(delivery_id)
        assert found is not None
        return found

    def zone(self, item: DeliveryModel) -> ZoneInfo:
        return ZoneInfo(item.timezone)

    def day_ended(self, item: DeliveryModel) -> bool:
        return has_ended(date.fromisoformat(item.delivery_date), self.zone(item), self.clock.now())

    def courier_blocked(self, courier: str | None) -> bool:
        now = self.clock.now()
        return courier is not None and sum(now - WINDOW < t <= now for t in self.wrong_by_courier.get(courier, [])) >= (
            PER_COURIER
        )

    def expected_refusal(self, item: DeliveryModel, courier: str | None) -> int | None:
        """The order of judgement: delivered 409; no live code 410; locked 423; (a blocked courier 429 first)."""
        if self.courier_blocked(courier):
            return 429
        if item.status == DELIVERED:
            return 409
        if item.status in (CANCELLED, ON_HOLD, REQUEUED, RETURNED) or not item.code_required or self.day_ended(item):
            return 410
        if item.status == LOCKED:
            return 423
        return None

    def verify(self, delivery_id: str, code: str, courier: str | None) -> tuple[int, dict]:
        actor = Actor(COURIER, courier_id=self.courier_id(courier), device_id="d-1")
        try:
            answer = verification.verify(delivery_id, {"code": code, "device_id": "d-1"}, actor)
        except DomainError as refusal:
            return refusal.status, {}
        return answer.status, answer.body

    def delegate_codes(self, item: DeliveryModel) -> dict[str, str]:
        """Every delegate's code of the current issue (live or revoked), as their email would carry it."""
        if not item.delegate_count or not item.code_nonce:
            return {}
        key = adapters().keys.key()
        return codes.delegate_codes(
            key, item.delivery_id, int(item.issue_number), item.code_nonce, int(item.delegate_count)
        )

    def out_of_chances(self, item: DeliveryModel) -> bool:
        """Its failed attempts are used up, or its 10th working day from `open_since` has ended."""
        if self.failed.get(item.delivery_id, 0) >= FAILED_ATTEMPTS:
            return True
        day, seen = self.open_since[item.delivery_id], 0
        while True:
            seen += working_day(item, day)
            if seen == OPEN_WORKING_DAYS:
                return has_ended(day, self.zone(item), self.clock.now())
            day += timedelta(days=1)

    def nothing_mailed(self, delivery_id: str) -> None:
        """Whatever the email consumer would send for the delivery now, it sends nothing."""
        item = self.item(delivery_id)
        endpoint = os.environ["AWS_ENDPOINT_URL"]
        before = len(mailbox.read(endpoint, item.email))
        assert send_code_emails([(delivery_id, int(item.issue_number), int(item.resend_seq or 0))]) == []
        assert len(mailbox.read(endpoint, item.email)) == before, f"a {item.status} delivery was mailed"

    def snapshot(self) -> dict[str, dict]:
        return {d: self.item(d).serialize() for d in self.ids}

    # --- rules ---------------------------------------------------------------------------------

    @rule(
        target=deliveries,
        zone=st.sampled_from(sorted(PLACES)),
        days_ahead=st.integers(0, 2),
        require_code=st.sampled_from([None, None, None, True, False]),
    )
    def register(self, zone: str, days_ahead: int, require_code: bool | None) -> str:
        local_day = self.clock.now().astimezone(ZoneInfo(zone)).date() + timedelta(days=days_ahead)
        overrides = {
            "destination": PLACES[zone],
            "delivery_date": local_day.isoformat(),
            "recipient": {"email": f"{uuid.uuid4().hex[:12]}@example.com", "locale": "en"},
        }
        if require_code is not None:
            overrides["require_code"] = require_code
        body = factories.registration(**overrides)
        answer = registration.register(body)
        assert answer.status == 201
        expects_code = require_code is not False
        assert answer.body["code_required"] is expects_code
        assert (answer.body["code_valid_until"] is not None) is expects_code
        self.ids.append(body["delivery_id"])
        self.open_since[body["delivery_id"]] = local_day
        self.view_code(body["delivery_id"])
        return body["delivery_id"]

    @rule(delivery_id=deliveries)
    def view_code(self, delivery_id: str) -> None:
        item = self.item(delivery_id)
        live = (
            item.code_required
            and item.status == SCHEDULED
            and not self.day_ended(item)
            and item.code_valid_until is not None
        )
        try:
            shown = reads.current_code(delivery_id)
        except DomainError as refusal:
            assert refusal.status == (404 if not item.code_required else 410)
            assert not live
            return
        assert live, f"a code was shown for a {item.status} delivery"
        assert len(shown["code"]) == 6 and shown["code"].isascii() and shown["code"].isdigit()
        assert shown["delivery_date"] == item.delivery_date
        self.codes[(delivery_id, int(item.issue_number))] = shown["code"]

    @rule(delivery_id=deliveries, courier=st.sampled_from(COURIERS))
    def right_code(self, delivery_id: str, courier: str | None) -> None:
        item = self.item(delivery_id)
        code = self.codes.get((delivery_id, int(item.issue_number)))
        if code is None:
            return  # never shown (no code required, or killed before anyone saw it)
        expected = self.expected_refusal(item, courier) or 200
        status, body = self.verify(delivery_id, code, courier)
        assert status == expected, (item.status, body)
        if status == 200:
            assert body["result"] == "ACCEPTED" and self.item(delivery_id).status == DELIVERED

    @rule(delivery_id=deliveries, courier=st.sampled_from(COURIERS), stale=st.booleans())
    def wrong_code(self, delivery_id: str, courier: str | None, stale: bool) -> None:
        item = self.item(delivery_id)
        issue = int(item.issue_number)
        current = self.codes.get((delivery_id, issue))
        older = [code for (d, n), code in self.codes.items() if d == delivery_id and n < issue and code != current]
        # A revoked delegate's code of this very issue is as dead as the older ones.
        revoked = [c for who, c in self.delegate_codes(item).items() if who not in (item.live_delegates or ())]
        older += revoked
        if stale and older:
            code = older[-1]  # a code that died with its day (or an attempt): just a wrong code now
        elif current is not None:
            code = _wrong(current)
        else:
            return
        expected = self.expected_refusal(item, courier) or 403
        status, body = self.verify(delivery_id, code, courier)
        assert status == expected, (item.status, body)
        if status != 403:
            return
        wrong, life = int(item.wrong_attempts) + 1, int(item.life_wrong_attempts) + 1
        limit = life_limit(item)
        assert body["wrong_attempts_left"] == min(PER_CODE - wrong, limit - life)
        if courier:
            self.wrong_by_courier.setdefault(courier, []).append(self.clock.now())
        after = self.item(delivery_id)
        assert (int(after.wrong_attempts), int(after.life_wrong_attempts)) == (wrong, life)
        if life >= limit:
            assert after.status == ON_HOLD
        elif wrong >= PER_CODE:
            assert after.status == LOCKED
        else:
            assert after.status == SCHEDULED

    @rule(
        delivery_id=deliveries,
        courier=st.sampled_from(COURIERS),
        release=st.sampled_from([None, 0, 1, 2]),
        rounds=st.integers(1, 3),
    )
    def a_guesser_tries_until_locked(
        self, delivery_id: str, courier: str | None, release: int | None, rounds: int
    ) -> None:
        """Wrong codes one after another until the delivery locks or is held; then, maybe, the shop checks
        the customer and releases it (`release`: for a day that many days ahead), and again (`rounds`)."""
        for _ in range(rounds):
            for _ in range(PER_CODE):
                item = self.item(delivery_id)
                if item.status != SCHEDULED or self.day_ended(item) or self.courier_blocked(courier):
                    break
                self.wrong_code(delivery_id, courier, stale=False)
            if release is None:
                return
            self.storefront_releases(delivery_id, release)

    @rule(delivery_id=deliveries)
    def malformed_code(self, delivery_id: str) -> None:
        before = self.item(delivery_id).serialize()
        status, _ = self.verify(delivery_id, "12345６", None)
        assert status in (400, 422)
        assert self.item(delivery_id).serialize() == before

    @rule(delivery_id=deliveries, courier=st.sampled_from(COURIERS), stale=st.booleans())
    def failed_attempt(self, delivery_id: str, courier: str | None, stale: bool) -> None:
        item = self.item(delivery_id)
        actor = Actor(COURIER, courier_id=self.courier_id(courier), device_id="d-1")
        stale = stale and int(item.issue_number) > 0  # a delivery without a code has no earlier issue
        report = {"outcome": "RECIPIENT_UNAVAILABLE", "issue_number": int(item.issue_number) - stale}
        try:
            answer = attempts.report_attempt(delivery_id, report, actor)
        except Conflict as refusal:
            if stale:  # made offline against a code replaced since: it changes nothing
                assert refusal.code == "STALE_ATTEMPT"
                assert self.item(delivery_id).serialize() == item.serialize()
            else:
                assert item.status in CLOSED and refusal.code == "CONFLICT"
            return
        assert item.status in (SCHEDULED, LOCKED, REQUEUED) and not stale
        if item.status != REQUEUED:
            self.failed[delivery_id] = self.failed.get(delivery_id, 0) + 1
        after = self.item(delivery_id)
        assert int(after.failed_attempts or 0) == self.failed.get(delivery_id, 0)
        assert answer["status"] == REQUEUED and after.status == REQUEUED and after.code_valid_until is None
        assert after.delivery_date == item.delivery_date  # moved only by the rotation
        assert date.fromisoformat(answer["next_delivery_date"]) > date.fromisoformat(item.delivery_date)

    @rule(delivery_id=consumes(deliveries))
    def cancel(self, delivery_id: str) -> None:
        item = self.item(delivery_id)
        try:
            dispatch.cancel(delivery_id)
        except Conflict:
            assert item.status in (DELIVERED, RETURNED)
            return
        assert item.status not in (DELIVERED, RETURNED) and self.item(delivery_id).status == CANCELLED

    @rule(delivery_id=deliveries)
    def customer_replaces_the_code(self, delivery_id: str) -> None:
        item = self.item(delivery_id)
        live = item.code_required and item.status == SCHEDULED and not self.day_ended(item)
        locked_today = item.status == LOCKED and not self.day_ended(item)
        try:
            controls.replace_code(delivery_id)
        except DomainError as refusal:
            expected = 404 if not item.code_required else 423 if locked_today else 410
            assert refusal.status == expected and not live
            return
        assert live, f"a {item.status} delivery got a new code"
        after = self.item(delivery_id)
        assert int(after.issue_number) == int(item.issue_number) + 1 and after.delivery_date == item.delivery_date
        assert int(after.wrong_attempts) == 0 and int(after.life_wrong_attempts) == int(item.life_wrong_attempts)
        self.view_code(delivery_id)

    @rule(delivery_id=deliveries, days_ahead=st.integers(0, 3))
    def customer_moves_the_day(self, delivery_id: str, days_ahead: int) -> None:
        item = self.item(delivery_id)
        day = self.clock.now().astimezone(self.zone(item)).date() + timedelta(days=days_ahead)
        try:
            controls.reschedule(delivery_id, {"delivery_date": day.isoformat()})
        except Conflict:
            assert item.status in CLOSED
            return
        except DomainError as refusal:  # the day's lock is not lifted by moving to the same day
            assert refusal.status == 423 and item.status == LOCKED and item.delivery_date == day.isoformat()
            return
        assert item.status in (SCHEDULED, LOCKED, REQUEUED)
        after = self.item(delivery_id)
        assert after.delivery_date == day.isoformat() and after.status == SCHEDULED
        if after.issue_number != item.issue_number:  # a new day picked: the count of working days starts again
            self.open_since[delivery_id] = day
        if item.code_required:
            assert after.code_valid_until is not None and not self.day_ended(after)
        self.view_code(delivery_id)

    @rule(delivery_id=deliveries, days_ahead=st.integers(0, 2))
    def storefront_releases(self, delivery_id: str, days_ahead: int) -> None:
        item = self.item(delivery_id)
        day = self.clock.now().astimezone(self.zone(item)).date() + timedelta(days=days_ahead)
        releases = int(item.releases or 0)
        try:
            holds.release(delivery_id, {"delivery_date": day.isoformat()})
        except DomainError as refusal:
            if not working_day(item, day):
                assert refusal.status == 422
            elif item.status not in (ON_HOLD, LOCKED) or not item.code_required:
                assert (refusal.status, refusal.code) == (409, "CONFLICT")
            else:
                assert (refusal.status, refusal.code) == (409, "RELEASE_LIMIT") and releases >= RELEASES
            assert self.item(delivery_id).serialize() == item.serialize()
            return
        assert item.status in (ON_HOLD, LOCKED) and releases < RELEASES and working_day(item, day)
        after = self.item(delivery_id)
        # Fresh budgets: five for the new code, ten more for the life; a new code for that day, live.
        assert after.status == SCHEDULED and after.delivery_date == day.isoformat()
        assert int(after.issue_number) == int(item.issue_number) + 1 and int(after.wrong_attempts) == 0
        assert int(after.releases) == releases + 1 and int(after.life_limit) == life_limit(after)
        assert int(after.life_wrong_attempts) == int(item.life_wrong_attempts) < life_limit(after)
        self.open_since[delivery_id] = day
        self.view_code(delivery_id)

    @rule(delivery_id=deliveries)
    def storefront_returns(self, delivery_id: str) -> None:
        item = self.item(delivery_id)
        try:
            holds.return_to_sender(delivery_id)
        except Conflict:
            assert item.status in (DELIVERED, CANCELLED)
            return
        assert item.status not in (DELIVERED, CANCELLED)
        after = self.item(delivery_id)
        assert after.status == RETURNED and int(after.issue_number) == int(item.issue_number)
        self.nothing_mailed(delivery_id)

    @rule(delivery_id=deliveries)
    def customer_names_a_delegate(self, delivery_id: str) -> None:
        item = self.item(delivery_id)
        live, named = len(item.live_delegates or ()), int(item.delegate_count or 0)
        open_ = item.code_required and item.status in (SCHEDULED, LOCKED, REQUEUED)
        try:
            answer = delegates.add_delegate(delivery_id, {"name": "Trusted", "email": "trusted@example.com"})
        except DomainError as refusal:
            assert refusal.status == 409 and (not open_ or live >= 3 or named >= 10)
            assert self.item(delivery_id).serialize() == item.serialize()
            return
        assert open_ and live < 3 and named < 10 and answer.body["delegate_id"] == f"dlg-{named + 1}"

    @rule(delivery_id=deliveries, pick=st.integers(0, 2))
    def customer_revokes_a_delegate(self, delivery_id: str, pick: int) -> None:
        live = sorted(self.item(delivery_id).live_delegates or ())
        if not live:
            return
        who = live[pick % len(live)]
        assert delegates.revoke_delegate(delivery_id, who)["status"] == "REVOKED"
        assert who not in (self.item(delivery_id).live_delegates or ())

    @rule(delivery_id=deliveries, courier=st.sampled_from(COURIERS), pick=st.integers(0, 2))
    def delegate_code(self, delivery_id: str, courier: str | None, pick: int) -> None:
        item = self.item(delivery_id)
        live = sorted(item.live_delegates or ())
        if not live:
            return
        who = live[pick % len(live)]
        expected = self.expected_refusal(item, courier) or 200
        code = self.delegate_codes(item).get(who)
        if code is None:  # no code of this issue at all (requeued, cancelled...): any code meets the refusal
            assert expected != 200
            code = "000000"
        status, body = self.verify(delivery_id, code, courier)
        assert status == expected, (item.status, body)
        if status == 200:
            assert self.item(delivery_id).received_by == who

    @rule(hours=st.integers(1, 60))
    def night_passes(self, hours: int) -> None:
        self.time_passes(hours)

    @rule(days=st.integers(3, 14))
    def days_pass(self, days: int) -> None:
        """Long enough for a parcel to use up its working days (and be returned to its sender)."""
        self.time_passes(24 * days)

    def time_passes(self, hours: int) -> None:
        before = {d: self.item(d) for d in self.ids}
        self.clock.freeze(self.clock.now() + timedelta(hours=hours))
        rotation.rotate_all()
        for delivery_id, old in before.items():
            new = self.item(delivery_id)
            due = old.code_required and old.status in (SCHEDULED, LOCKED, REQUEUED) and self.day_ended(old)
            if not due:
                assert int(new.issue_number) == int(old.issue_number), f"{old.status} rotated"
                continue
            assert int(new.issue_number) <= int(old.issue_number) + 1
            if self.out_of_chances(old):  # no delivery rotates past its limits: it goes back to its sender
                assert new.status == RETURNED and int(new.issue_number) == int(old.issue_number), old.status
                assert [e.type for e in new.events][-1] == "RETURNED"
                self.nothing_mailed(delivery_id)
                continue
            new_day = date.fromisoformat(new.delivery_date)
            assert new.status == SCHEDULED and int(new.issue_number) == int(old.issue_number) + 1
            assert int(new.wrong_attempts) == 0 and int(new.life_wrong_attempts) == int(old.life_wrong_attempts)
            assert new_day > date.fromisoformat(old.delivery_date) and not self.day_ended(new)
            assert new_day.weekday() != 6 and new_day not in holidays.country_holidays(
                old.country, subdiv=old.subdivision.split("-")[1]
            )
            self.view_code(delivery_id)
        replayed = self.snapshot()
        rotation.rotate_all()
        assert self.snapshot() == replayed, "a repeated rotation changed something"

    @rule(delivery_id=deliveries)
    def customer_erases_personal_data(self, delivery_id: str) -> None:
        item = self.item(delivery_id)
        try:
            view = erasure.erase_now(delivery_id)
        except DeliveryStillOpen:
            assert item.status not in ENDED_STATES
            assert self.item(delivery_id).serialize() == item.serialize()
            return
        assert item.status in ENDED_STATES and view["personal_data_erased"] is True
        self.erased.add(delivery_id)
        self.mail_goes_out()  # the erasure's own stream record reaches the email sender

    @precondition(lambda self: self.ids)
    @rule()
    def retention_passes(self) -> None:
        """Past the retention of everything ended so far: the rotation erases each of them."""
        ended = {d for d in self.ids if self.item(d).status in ENDED_STATES}
        self.clock.freeze(self.clock.now() + timedelta(days=configured().personal_data_retention_days, hours=1))
        rotation.rotate_all()
        for delivery_id in ended:
            assert self.item(delivery_id).personal_data_erased, f"{delivery_id} kept its personal data"
        self.erased |= ended
        self.mail_goes_out()
        replayed = self.snapshot()
        rotation.rotate_all()
        assert self.snapshot() == replayed, "a repeated rotation changed something"
        for delivery_id in self.ids:
            self.view_code(delivery_id)

    @rule()
    def mail_goes_out(self) -> None:
        """The email sender looks at every delivery as a stream record would make it: nothing erased is mailed."""
        sent_before = len(self.mailbox.deliveries)
        for delivery_id in self.ids:
            item = self.item(delivery_id)
            before = item.serialize()
            notifications.send_code_emails([(delivery_id, int(item.issue_number), int(item.resend_seq or 0))])
            if item.wrong_alert_issue:
                notifications.send_wrong_code_alerts([(delivery_id, int(item.wrong_alert_issue))])
            if delivery_id in self.erased:
                assert self.item(delivery_id).serialize() == before, "the sender wrote to an erased delivery"
        mailed = set(self.mailbox.deliveries[sent_before:])
        assert not mailed & self.erased, f"mailed after erasure: {mailed & self.erased}"

    @precondition(lambda self: self.ids)
    @rule(hours=st.integers(1, 72))
    def clock_set_back(self, hours: int) -> None:
        now = self.clock.now()
        before = self.snapshot()
        self.clock.freeze(now - timedelta(hours=hours))
        rotation.rotate_all()
        assert self.snapshot() == before, "a backdated rotation changed something"
        self.clock.freeze(now)

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def every_delivery_obeys_the_rules(self) -> None:
        for delivery_id in self.ids:
            item = self.item(delivery_id)
            events = [event.type for event in item.events]
            outcomes = [event.outcome for event in item.events if event.type == "VERIFICATION"]
            assert 0 <= int(item.wrong_attempts) <= PER_CODE
            assert 0 <= int(item.life_wrong_attempts) <= life_limit(item) <= MOST_WRONG_IN_A_LIFE
            assert (int(item.life_wrong_attempts) >= life_limit(item)) == (item.status == ON_HOLD)
            assert int(item.releases or 0) <= RELEASES
            assert events.count("RELEASED") == int(item.releases or 0)
            assert outcomes.count("ACCEPTED") == events.count("DELIVERED") == (item.status == DELIVERED)
            assert events.count("CODE_ISSUED") == int(item.issue_number)
            assert events[0] == "REGISTERED"
            live = item.code_valid_until is not None
            assert not live or (item.status == SCHEDULED and item.code_required)
            # Only live delegates hold a code; while the day's code is live, every one of them does.
            holders = set((item.delegate_macs.as_dict() if item.delegate_macs else {}).values())
            assert holders <= set(item.live_delegates or ())
            if item.status == SCHEDULED and item.code_required and not self.day_ended(item):
                assert holders == set(item.live_delegates or ()), (holders, item.live_delegates)
            in_rotation = item.due_shard is not None
            rotates = item.code_required and item.status in (SCHEDULED, LOCKED, REQUEUED)
            erased = bool(item.personal_data_erased)
            if erased:  # only ever ended; a later end (a held parcel cancelled) may list it again, to no effect
                assert item.status in ENDED_STATES
            else:
                assert in_rotation == (rotates or item.status in ENDED_STATES)
            # Erased: no personal value left, the erasure audited once.
            assert erased == (delivery_id in self.erased) and events.count("PERSONAL_DATA_ERASED") == erased
            if erased:
                assert (item.email, item.recipient_name, item.postal_code) == (None, None, None)
                assert all("name" not in entry and "email" not in entry for entry in delegate_entries(item).values())
                assert not item.idempotency_records

    @invariant()
    def every_change_moves_the_rev(self) -> None:
        """The rotation writes items back whole on condition that `rev` did not move: a write that changed
        an item without moving it could be overwritten and lost."""
        for delivery_id in self.ids:
            stored = self.item(delivery_id).serialize()
            rev = int(stored.pop("rev", {"N": "0"})["N"])
            if delivery_id in self.last_seen:
                before, before_rev = self.last_seen[delivery_id]
                assert rev >= before_rev
                assert stored == before or rev > before_rev, f"{delivery_id} changed without moving its rev"
            self.last_seen[delivery_id] = (stored, rev)

    @invariant()
    def every_committed_entry_a_storefront_acts_on_is_one_event(self) -> None:
        records = self.stream.records()
        assert invoke("EventPublisherFunction", {"Records": records}) == {"batchItemFailures": []}
        fresh, self.bus.events = self.bus.events, []
        assert invoke("EventPublisherFunction", {"Records": records}) == {"batchItemFailures": []}
        assert self.bus.events == fresh  # a redelivered batch: the same events, the same ids
        self.bus.events = []
        for event in fresh:
            assert event["id"] not in self.ids_seen, f"{event['type']} published twice or under a reused id"
            self.ids_seen.add(event["id"])
            delivery_id = event["data"]["delivery_id"]
            if delivery_id in self.ids:
                self.published.setdefault(delivery_id, []).append(event)
        for delivery_id in self.ids:
            item = self.item(delivery_id)
            events = self.published.get(delivery_id, [])
            on_delivery = [e for e in events if e["type"] != "courier.blocked"]
            sequences = [e["data"]["sequence"] for e in on_delivery]
            assert sequences == sorted(set(sequences)), f"{delivery_id}: sequences {sequences}"
            expected = {
                position + 1: kind
                for position, entry in enumerate(item.events)
                if (kind := _event_of(entry.type, entry.outcome)) is not None and kind != "courier.blocked"
            }
            assert {e["data"]["sequence"]: e["type"] for e in on_delivery} == expected
            blocked = [e for e in events if e["type"] == "courier.blocked"]
            assert len(blocked) == [entry.type for entry in item.events].count("COURIER_BLOCKED")

    @invariant()
    def no_courier_passes_its_budget(self) -> None:
        for times in self.wrong_by_courier.values():
            for end in times:
                assert sum(end - WINDOW < t <= end for t in times) <= PER_COURIER

    def teardown(self) -> None:
        wiring.reset()


Lifecycle.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.usefixtures("aws")
class TestLifecycle(Lifecycle.TestCase):
    pass
