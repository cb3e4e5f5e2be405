"""The storefront's and the scheduler's use cases: register, show, cancel, assign, rotate.
(The courier's are in :mod:`delivery_otp.verification`.)

Handlers call these and shape nothing but the HTTP answer. Each state change is one conditional
write (see :mod:`delivery_otp.adapters.deliveries`) whose condition is the rule; when it does not apply,
the item as it was tells which rule stopped it, and the answer follows SPEC's order of judgement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from delivery_otp import audit, codes, policy
from delivery_otp.audit import Actor
from delivery_otp.calendar import end_of_day, has_ended, local_date, next_delivery_date
from delivery_otp.config import settings
from delivery_otp.errors import (
    Conflict,
    DateAlreadyEnded,
    DependencyUnavailable,
    Gone,
    InvalidInput,
    Locked,
    NotFound,
    TooManyDelegates,
    TooManyResends,
    unknown_delivery,
)
from delivery_otp.model import (
    CANCELLED,
    DELIVERED,
    LOCKED,
    ON_HOLD,
    OPEN_STATES,
    REQUEUED,
    SCHEDULED,
    DeliveryModel,
    delegate_entries,
    delivery_key,
    readable,
)
from delivery_otp.validation import COURIER_ID, is_delivery_id, parse_date, parse_delegate, parse_registration
from delivery_otp.wiring import adapters


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def epoch(instant: datetime) -> int:
    return int(instant.timestamp())


def zone_of(delivery: DeliveryModel) -> ZoneInfo:
    return ZoneInfo(delivery.timezone)


def local_iso(seconds: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(seconds, zone).isoformat()


def day_of(delivery: DeliveryModel) -> date:
    return date.fromisoformat(delivery.delivery_date)


def _shard(delivery_id: str) -> str:
    digest = hashlib.sha256(delivery_id.encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % settings().rotation_shards:02d}"


def _expiry(valid_until: datetime) -> datetime:
    return valid_until + timedelta(days=settings().retention_days)


def code_is_live(delivery: DeliveryModel, now: datetime) -> bool:
    return bool(
        delivery.code_required
        and delivery.status == SCHEDULED
        and delivery.code_valid_until is not None
        and now.timestamp() < delivery.code_valid_until
    )


def view(delivery: DeliveryModel, now: datetime) -> dict[str, Any]:
    live = code_is_live(delivery, now)
    return {
        "delivery_id": delivery.delivery_id,
        "status": delivery.status,
        "code_required": bool(delivery.code_required),
        "delivery_date": delivery.delivery_date,
        "code_valid_until": local_iso(delivery.code_valid_until, zone_of(delivery)) if live else None,
        "issue_number": int(delivery.issue_number or 0),
        "courier_id": delivery.assigned_courier,
        "email_undeliverable": bool(delivery.email_undeliverable),
        "delegates": delegates_view(delivery),
        "wrong_attempts_left": (
            policy.wrong_attempts_left(int(delivery.wrong_attempts), int(delivery.life_wrong_attempts))
            if delivery.code_required
            else None
        ),
    }


def delegates_view(delivery: DeliveryModel) -> list[dict[str, Any]]:
    """Who else may receive the parcel, in the order they were named (never their address or code)."""
    entries = delegate_entries(delivery)
    return [
        {
            "delegate_id": who,
            "name": readable(entries[who].get("name")),
            "status": "REVOKED" if entries[who].get("revoked_at") else "ACTIVE",
            "email_undeliverable": bool(entries[who].get("email_undeliverable")),
        }
        for who in sorted(entries, key=codes.delegate_number)
    ]


def load(delivery_id: str) -> DeliveryModel:
    # An id that could never have been registered is as unknown as one that was not.
    if not is_delivery_id(delivery_id):
        raise unknown_delivery(delivery_id)
    delivery = adapters().deliveries.get(delivery_id)
    if delivery is None:
        raise unknown_delivery(delivery_id)
    return delivery


def _issue_fields(delivery_id: str, issue_number: int, day: date, zone: ZoneInfo) -> dict[str, Any]:
    key = adapters().keys.key()
    nonce = codes.new_nonce()
    code = codes.derive_code(key, delivery_id, issue_number, nonce)
    valid_until = end_of_day(day, zone)
    return {
        "code_nonce": nonce,
        "code_mac": codes.code_mac(key, delivery_id, code),
        "code_valid_until": epoch(valid_until),
        "due_at": epoch(valid_until),
        "expires_at": _expiry(valid_until),
    }


# --- storefront -------------------------------------------------------------------------------


def register(body: dict[str, Any]) -> Answer:
    registration = parse_registration(body)
    now = adapters().clock.now()
    zone = ZoneInfo(registration.timezone)
    repository = adapters().deliveries

    _within_reach(registration.delivery_date, zone, now)
    if has_ended(registration.delivery_date, zone, now):
        # A storefront retrying yesterday's identical request still gets its delivery back.
        existing = repository.get(registration.delivery_id)
        if existing is not None:
            return _repeat(existing, registration.request_hash, now)
        raise DateAlreadyEnded(f"delivery_date: {registration.delivery_date} has already ended at the destination")

    required = policy.code_required(
        settings(),
        amount=Decimal(registration.amount),
        currency=registration.currency,
        country=registration.country,
        override=registration.require_code,
    )
    storefront = Actor(audit.STOREFRONT)
    delivery = DeliveryModel(
        delivery_key(registration.delivery_id),
        delivery_id=registration.delivery_id,
        order_id=registration.order_id,
        request_hash=registration.request_hash,
        status=SCHEDULED,
        code_required=required,
        delivery_date=registration.delivery_date.isoformat(),
        timezone=registration.timezone,
        country=registration.country,
        subdivision=registration.subdivision,
        postal_code=registration.postal_code,
        email=registration.email,
        recipient_name=registration.recipient_name,
        locale=registration.locale,
        amount=registration.amount,
        currency=registration.currency,
        created_at=now.isoformat(),
        issue_number=0,
        wrong_attempts=0,
        life_wrong_attempts=0,
        emailed_issue=0,
        events=[audit.event("REGISTERED", now, storefront)],
    )
    if required:
        fields = _issue_fields(registration.delivery_id, 1, registration.delivery_date, zone)
        delivery.issue_number = 1
        delivery.code_nonce = fields["code_nonce"]
        delivery.code_mac = fields["code_mac"]
        delivery.code_valid_until = fields["code_valid_until"]
        delivery.due_at = fields["due_at"]
        delivery.due_shard = _shard(registration.delivery_id)
        delivery.expires_at = fields["expires_at"]
        delivery.events.append(audit.event("CODE_ISSUED", now, Actor(audit.SYSTEM), issue_number=1))
    else:
        delivery.expires_at = _expiry(end_of_day(registration.delivery_date, zone))

    existing = repository.create(delivery)
    if existing is None:
        return Answer(201, view(delivery, now))
    return _repeat(existing, registration.request_hash, now)


def _within_reach(day: date, zone: ZoneInfo, now: datetime) -> None:
    """A day the caller sent is checked against the latest day allowed before anything computes its end:
    the last days of the calendar (9999-12-31, a common "no date") have no next day to end at."""
    if day > local_date(now, zone) + timedelta(days=settings().max_days_ahead):
        raise InvalidInput("delivery_date", f"must be within {settings().max_days_ahead} days from today")


def _repeat(existing: DeliveryModel, request_hash: str, now: datetime) -> Answer:
    if existing.request_hash != request_hash:
        raise Conflict(f"delivery {existing.delivery_id!r} is already registered with a different request")
    return Answer(200, view(existing, now))


def get_delivery(delivery_id: str) -> dict[str, Any]:
    return view(load(delivery_id), adapters().clock.now())


def current_code(delivery_id: str) -> dict[str, Any]:
    delivery = load(delivery_id)
    if not delivery.code_required:
        raise NotFound(f"delivery {delivery_id!r} needs no code")
    now = adapters().clock.now()
    if not code_is_live(delivery, now):
        raise Gone(f"delivery {delivery_id!r} has no valid code right now ({delivery.status.lower()})")
    code = codes.derive_code(
        adapters().keys.key(), delivery.delivery_id, int(delivery.issue_number), delivery.code_nonce or ""
    )
    return {
        "code": code,
        "valid_until": local_iso(delivery.code_valid_until, zone_of(delivery)),
        "delivery_date": delivery.delivery_date,
    }


def audit_trail(delivery_id: str) -> dict[str, Any]:
    return {"events": audit.as_json(load(delivery_id))}


def kill_code_actions(*, delegates: bool = True) -> list[Any]:
    """The live code dies, the delegates' with it. The verification keeps `delegate_macs` (it reads
    whose code it was from them in the same write; the status it sets keeps them from opening anything)."""
    actions = [
        DeliveryModel.code_valid_until.remove(),
        DeliveryModel.code_mac.remove(),
        DeliveryModel.code_nonce.remove(),
    ]
    return [*actions, DeliveryModel.delegate_macs.remove()] if delegates else actions


def leave_rotation_actions() -> list[Any]:
    return [DeliveryModel.due_shard.remove(), DeliveryModel.due_at.remove()]


def cancel(delivery_id: str) -> dict[str, Any]:
    if not is_delivery_id(delivery_id):
        raise unknown_delivery(delivery_id)
    now = adapters().clock.now()
    result = adapters().deliveries.update(
        delivery_id,
        [
            DeliveryModel.status.set(CANCELLED),
            *kill_code_actions(),
            *leave_rotation_actions(),
            audit.record(audit.event("CANCELLED", now, Actor(audit.STOREFRONT))),
        ],
        DeliveryModel.status.is_in(SCHEDULED, LOCKED, REQUEUED, ON_HOLD),
    )
    if result.item is None:
        raise unknown_delivery(delivery_id)
    if not result.applied and result.item.status == DELIVERED:
        raise Conflict(f"delivery {delivery_id!r} has already been delivered")
    return view(result.item, now)


def assign_courier(delivery_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Once assigned, only this courier may verify or report attempts; to others it does not exist."""
    courier_id = body.get("courier_id")
    if not isinstance(courier_id, str) or COURIER_ID.fullmatch(courier_id) is None:
        load(delivery_id)
        raise InvalidInput("courier_id", "must be 1 to 128 of A-Z, a-z, 0-9, '.', '_', '@', '+', '-'")
    if not is_delivery_id(delivery_id):
        raise unknown_delivery(delivery_id)
    now = adapters().clock.now()
    result = adapters().deliveries.update(
        delivery_id,
        [
            DeliveryModel.assigned_courier.set(courier_id),
            audit.record(audit.event("ASSIGNED", now, Actor(audit.STOREFRONT, courier_id=courier_id))),
        ],
        DeliveryModel.status.is_in(*OPEN_STATES),
    )
    if result.item is None:
        raise unknown_delivery(delivery_id)
    if not result.applied:
        raise Conflict(f"delivery {delivery_id!r} is {result.item.status.lower()}: it can no longer be assigned")
    return view(result.item, now)


def next_date(delivery: DeliveryModel, now: datetime) -> date:
    return next_delivery_date(
        day_of(delivery),
        country=delivery.country,
        subdivision=delivery.subdivision,
        zone=zone_of(delivery),
        weekdays=settings().weekdays(delivery.country),
        now=now,
    )


# --- the customer's controls (SPEC 6) ---------------------------------------------------------------

RESENDS_PER_DAY = 3
_MAX_WRITE_ROUNDS = 10


def _live_or_refuse(delivery: DeliveryModel, now: datetime) -> None:
    """The refusals of a request about the live code, as the code view gives them."""
    if not delivery.code_required:
        raise NotFound(f"delivery {delivery.delivery_id!r} needs no code")
    if delivery.status == LOCKED and not has_ended(day_of(delivery), zone_of(delivery), now):
        raise Locked(f"delivery {delivery.delivery_id!r} is locked for today after too many wrong codes")
    if not code_is_live(delivery, now):
        raise Gone(f"delivery {delivery.delivery_id!r} has no valid code right now ({delivery.status.lower()})")


def _write_on_fresh_state(
    delivery_id: str, plan: Callable[[DeliveryModel], tuple[list[Any], Any] | None]
) -> DeliveryModel:
    """Optimistic concurrency for the customer's controls: the write is built from the delivery as read
    and conditioned on that state; when another write got there first, it is built again from the item
    DynamoDB handed back with the refusal (no second read). `plan` raises the request's refusals, or
    returns None when there is nothing to write. Returns the delivery as it now is."""
    delivery = load(delivery_id)
    for _ in range(_MAX_WRITE_ROUNDS):
        planned = plan(delivery)
        if planned is None:
            return delivery
        result = adapters().deliveries.update(delivery_id, *planned)
        if result.item is None:
            raise unknown_delivery(delivery_id)
        if result.applied:
            return result.item
        delivery = result.item
    raise DependencyUnavailable("the delivery is changing too fast; try again")


def resend_code(delivery_id: str) -> dict[str, Any]:
    """Email the live code again, at most 3 times a (local) day: the email consumer sends one email per
    step of `resend_seq`."""
    now = adapters().clock.now()

    def plan(delivery: DeliveryModel) -> tuple[list[Any], Any]:
        _live_or_refuse(delivery, now)
        today = local_date(now, zone_of(delivery)).isoformat()
        sent_today = int(delivery.resends_today or 0) if delivery.resend_day == today else 0
        if sent_today >= RESENDS_PER_DAY:
            raise TooManyResends(f"the code was already resent {RESENDS_PER_DAY} times today")
        issue = int(delivery.issue_number)
        same_count = (
            (DeliveryModel.resend_day == today) & (DeliveryModel.resends_today == sent_today)
            if delivery.resend_day == today
            else (DeliveryModel.resend_day.does_not_exist() | (DeliveryModel.resend_day != today))
        )
        actions = [
            DeliveryModel.resend_day.set(today),
            DeliveryModel.resends_today.set(sent_today + 1),
            # Each resend its own number: the email consumer owes one email per number, never merged.
            DeliveryModel.resend_seq.add(1),
            audit.record(audit.event("CODE_RESENT", now, Actor(audit.STOREFRONT), issue_number=issue)),
        ]
        condition = (
            (DeliveryModel.issue_number == issue)
            & (DeliveryModel.status == SCHEDULED)
            & (DeliveryModel.code_valid_until > epoch(now))
            & same_count
        )
        return actions, condition

    resent = _write_on_fresh_state(delivery_id, plan)
    return {**view(resent, now), "resends_left_today": RESENDS_PER_DAY - int(resent.resends_today)}


def rotate_code(delivery_id: str) -> dict[str, Any]:
    """ "My code leaked": a new code for the same day now; the old one dies and the new one is emailed."""
    now = adapters().clock.now()
    delivery = load(delivery_id)
    _live_or_refuse(delivery, now)
    return _reissue(delivery, day_of(delivery), now, "ROTATED", "customer request", (SCHEDULED,))


def reschedule(delivery_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The customer picked another day: new date, new code (emailed); the old code dies."""
    day = parse_date(body.get("delivery_date"), "delivery_date")
    now = adapters().clock.now()
    delivery = load(delivery_id)
    zone = zone_of(delivery)
    _within_reach(day, zone, now)
    if has_ended(day, zone, now):
        raise DateAlreadyEnded(f"delivery_date: {day} has already ended at the destination")
    if delivery.status not in OPEN_STATES:
        raise Conflict(f"delivery {delivery_id!r} is {delivery.status.lower()}: it can no longer be rescheduled")
    if delivery.status == LOCKED and day == day_of(delivery):
        # Too many wrong codes today: a new code for the same day would hand out five more guesses.
        raise Locked(f"delivery {delivery_id!r} is locked for {day} after too many wrong codes; pick another day")
    already = delivery.status == SCHEDULED and (not delivery.code_required or code_is_live(delivery, now))
    if day == day_of(delivery) and already:
        return view(delivery, now)  # already that day, going out, with its code: nothing to do (PUT is idempotent)
    return _reissue(delivery, day, now, "RESCHEDULED", f"{delivery.delivery_date} -> {day}", OPEN_STATES)


def _reissue(
    delivery: DeliveryModel, day: date, now: datetime, event_type: str, outcome: str, states: tuple[str, ...]
) -> dict[str, Any]:
    """A new day and (when the delivery needs one) a new code, in one write conditional on the state read."""
    zone = zone_of(delivery)
    storefront = Actor(audit.STOREFRONT)
    issue = int(delivery.issue_number)
    actions: list[Any] = [DeliveryModel.delivery_date.set(day.isoformat())]
    # Like the night's rotation, the event names the issue it brings.
    events = [
        audit.event(
            event_type, now, storefront, issue_number=issue + 1 if delivery.code_required else None, outcome=outcome
        )
    ]
    if delivery.code_required:
        issue += 1
        fields = _issue_fields(delivery.delivery_id, issue, day, zone)
        actions += [
            DeliveryModel.issue_number.set(issue),
            DeliveryModel.status.set(SCHEDULED),
            DeliveryModel.wrong_attempts.set(0),
            DeliveryModel.code_nonce.set(fields["code_nonce"]),
            DeliveryModel.code_mac.set(fields["code_mac"]),
            DeliveryModel.code_valid_until.set(fields["code_valid_until"]),
            DeliveryModel.due_at.set(fields["due_at"]),
            DeliveryModel.due_shard.set(_shard(delivery.delivery_id)),
            DeliveryModel.expires_at.set(fields["expires_at"]),
            *delegate_code_actions(delivery, issue, fields["code_nonce"]),
        ]
        events.append(audit.event("CODE_ISSUED", now, storefront, issue_number=issue))
    else:
        actions += [DeliveryModel.status.set(SCHEDULED), DeliveryModel.expires_at.set(_expiry(end_of_day(day, zone)))]
    actions.append(audit.record(*events))
    result = adapters().deliveries.update(
        delivery.delivery_id,
        actions,
        (DeliveryModel.issue_number == int(delivery.issue_number))
        & (DeliveryModel.status == delivery.status)
        & DeliveryModel.status.is_in(*states)
        & (DeliveryModel.life_wrong_attempts < policy.WRONG_CODES_PER_LIFE)
        & same_delegates(delivery),
    )
    if not result.applied or result.item is None:
        raise Conflict(f"delivery {delivery.delivery_id!r} changed meanwhile; read it and try again")
    return view(result.item, now)


# A delegate's code is one more live code a guesser could hit: with 3 live delegates, 4 codes in 10^6
# open the parcel, and each code still has the delivery's 5 (and 10 per life) wrong guesses.
LIVE_DELEGATES = 3
# Each one named is an email sent; revoked ones count too, so naming and revoking cannot spam anyone.
DELEGATES_PER_DELIVERY = 10


def add_delegate(delivery_id: str, body: dict[str, Any]) -> Answer:
    """A trusted person gets a code of their own, by email; it opens the delivery like the recipient's.

    The delegate is named in one conditional write: its entry, its number, and (when the delivery has
    a live code) the MAC of its code for the current issue, conditioned on the issue and on the
    delegates as read, so a rotation or another change meanwhile makes it try again on fresh state.
    The stream sends the email (see `notifications`).
    """
    name, email, locale = parse_delegate(body)
    now = adapters().clock.now()

    def plan(delivery: DeliveryModel) -> tuple[list[Any], Any]:
        if not delivery.code_required:
            raise Conflict(f"delivery {delivery_id!r} needs no code: there is nothing to share with a delegate")
        if delivery.status not in OPEN_STATES:
            raise Conflict(f"delivery {delivery_id!r} is {delivery.status.lower()}: no delegate can be added")
        count = int(delivery.delegate_count or 0)
        if len(delivery.live_delegates or ()) >= LIVE_DELEGATES:
            raise TooManyDelegates(f"a delivery has at most {LIVE_DELEGATES} delegates at once: revoke one first")
        if count >= DELEGATES_PER_DELIVERY:
            raise TooManyDelegates(f"a delivery can have at most {DELEGATES_PER_DELIVERY} delegates in its life")
        who = codes.delegate_id(count + 1)
        entry = {"name": name, "email": email, "locale": locale or delivery.locale, "added_at": now.isoformat()}
        actions: list[Any] = [
            DeliveryModel.delegate_count.set(count + 1),
            DeliveryModel.live_delegates.add({who}),
            DeliveryModel.delegates_version.set(int(delivery.delegates_version or 0) + 1),
            audit.record(audit.event("DELEGATE_ADDED", now, Actor(audit.STOREFRONT), outcome=who)),
        ]
        condition = (
            (DeliveryModel.issue_number == int(delivery.issue_number))
            & (DeliveryModel.status == delivery.status)
            & same_delegates(delivery)
        )
        if delivery.delegates is None:
            actions.append(DeliveryModel.delegates.set({who: entry}))
        else:
            actions.append(DeliveryModel.delegates[who].set(entry))
        if code_is_live(delivery, now):
            key = adapters().keys.key()
            issue = int(delivery.issue_number)
            code = codes.delegate_codes(key, delivery_id, issue, delivery.code_nonce or "", count + 1)[who]
            mac = codes.code_mac(key, delivery_id, code)
            if delivery.delegate_macs is None:
                actions.append(DeliveryModel.delegate_macs.set({mac: who}))
                condition &= DeliveryModel.delegate_macs.does_not_exist()
            else:
                actions.append(DeliveryModel.delegate_macs[mac].set(who))
                condition &= DeliveryModel.delegate_macs.exists()
        # Otherwise (locked, requeued, the day over) the delegate's code comes with the next issue.
        return actions, condition

    named = _write_on_fresh_state(delivery_id, plan)
    who = codes.delegate_id(int(named.delegate_count))
    return Answer(201, {"delegate_id": who, "name": name, "status": "ACTIVE"})


def revoke_delegate(delivery_id: str, delegate: str) -> dict[str, Any]:
    """The delegate's code stops opening the parcel at once (its MAC leaves the item in this write);
    revoking again answers the same."""
    now = adapters().clock.now()

    def plan(delivery: DeliveryModel) -> tuple[list[Any], Any] | None:
        if delegate not in delegate_entries(delivery):
            raise NotFound(f"delivery {delivery_id!r} has no delegate {delegate!r}")
        if delegate not in (delivery.live_delegates or ()):
            return None
        actions: list[Any] = [
            DeliveryModel.delegates[delegate]["revoked_at"].set(now.isoformat()),
            DeliveryModel.live_delegates.delete({delegate}),
            DeliveryModel.delegates_version.set(int(delivery.delegates_version or 0) + 1),
            audit.record(audit.event("DELEGATE_REVOKED", now, Actor(audit.STOREFRONT), outcome=delegate)),
        ]
        condition = (DeliveryModel.issue_number == int(delivery.issue_number)) & same_delegates(delivery)
        macs = delivery.delegate_macs.as_dict() if delivery.delegate_macs is not None else {}
        own = [mac for mac, who in macs.items() if who == delegate]
        if own:
            actions += [DeliveryModel.delegate_macs[mac].remove() for mac in own]
            condition &= DeliveryModel.delegate_macs.exists()
        return actions, condition

    revoked = _write_on_fresh_state(delivery_id, plan)
    return {
        "delegate_id": delegate,
        "name": readable(delegate_entries(revoked)[delegate].get("name")),
        "status": "REVOKED",
    }


def mark_undeliverable(delivery_id: str, reason: str, addresses: list[str], delegate: str | None = None) -> bool:
    """SES reported a permanent bounce or a complaint: the delivery is marked (the storefront shows the
    code on its own page instead) and each address is suppressed. Repeated events change nothing more.
    A delegate's message marks only that delegate: the recipient's own email still arrives.
    False when the delivery is no longer known (expired by TTL): the addresses are suppressed anyway."""
    now = adapters().clock.now()
    repository = adapters().deliveries
    for address in addresses:
        adapters().suppression.suppress(address, reason, now.isoformat())
    if not is_delivery_id(delivery_id):
        return False
    outcome = reason if delegate is None else f"delegate:{delegate} {reason}"
    flag = (
        DeliveryModel.email_undeliverable
        if delegate is None
        else DeliveryModel.delegates[delegate]["email_undeliverable"]
    )
    condition = flag.does_not_exist()
    if delegate is not None:
        condition &= DeliveryModel.delegates[delegate].exists()
    result = repository.update(
        delivery_id,
        [flag.set(True), audit.record(audit.event("EMAIL_UNDELIVERABLE", now, Actor(audit.SYSTEM), outcome=outcome))],
        condition,
        want_new=False,
    )
    return result.applied or result.item is not None


# --- scheduler --------------------------------------------------------------------------------


def shards() -> list[str]:
    return [f"{n:02d}" for n in range(settings().rotation_shards)]


def rotate_due(now: datetime | None = None, only: Iterable[str] | None = None) -> dict[str, int]:
    """Give every delivery whose day has ended a new day and a new code, shard after shard.

    Decided per delivery from its own state (the sparse index holds only deliveries that may rotate,
    keyed by when their day ends), so a missed run is caught up by the next and a replayed or
    backdated run finds nothing it has not already done. In AWS the planner hands each shard to its
    own worker (`rotate_shard`) through a queue; this loop is the same work in one process.
    """
    now = now or adapters().clock.now()
    counts = {"rotated": 0, "skipped": 0}
    for shard in only or shards():
        for name, value in rotate_shard(shard, now).items():
            counts[name] += value
    return counts


# Conditional writes per TransactWriteItems: DynamoDB's limit. One write per delivery either way;
# batching saves round trips, and a refused condition only sends the rest again.
ROTATION_BATCH = 100
# Index entries are keys only: a page of 1,000 is ~100 KB, well under Query's 1 MB.
ROTATION_QUERY_PAGE = 1000


def rotate_shard(shard: str, now: datetime) -> dict[str, int]:
    """Rotate the due deliveries of one shard: a page of the index at a time, then 100 at a time read
    whole (one strongly consistent BatchGetItem) and written back rotated (one transaction), so a
    concurrent write has only that short window to make a put refuse, and a worker holds 100 items.

    Each is written back only if its `rev` is still the one read, so a delivery that changed meanwhile
    (delivered, cancelled, a wrong code) is left alone and looked at afresh by the next run. After a
    page with something new, the same page is read again: what was rotated has left the due range (its
    new day ends later), so what comes next is still due, with no cursor into the part of the index the
    writes themselves are changing. A delivery tried once is not tried twice in a run; the cursor steps
    past a page of those.
    """
    repository = adapters().deliveries
    counts = {"rotated": 0, "skipped": 0}
    tried: set[str] = set()
    start: dict[str, Any] | None = None
    while True:
        page, next_start = repository.due_page(shard, epoch(now), ROTATION_QUERY_PAGE, start)
        fresh = [delivery_id for delivery_id in page if delivery_id not in tried]
        tried.update(fresh)
        for batch_start in range(0, len(fresh), ROTATION_BATCH):
            batch = fresh[batch_start : batch_start + ROTATION_BATCH]
            found = repository.get_many(batch)
            writes = [d for d in (found.get(i) for i in batch) if d is not None and rotate(d, now)]
            applied = repository.replace_many(writes) if writes else []
            counts["rotated"] += sum(applied)
            counts["skipped"] += len(batch) - sum(applied)
        if next_start is None:
            return counts
        if not fresh:
            start = next_start  # a page of deliveries already tried: step past it


def rotate(delivery: DeliveryModel, now: datetime) -> bool:
    """Rotate the item in hand (its next working day, a new code, a fresh per-code budget, the audit
    events), or leave it untouched and answer False when it is not due. Only the caller's write makes it so."""
    zone = zone_of(delivery)
    if (
        delivery.status not in OPEN_STATES
        or not delivery.code_required
        or delivery.due_at is None
        or int(delivery.life_wrong_attempts) >= policy.WRONG_CODES_PER_LIFE
        or not has_ended(day_of(delivery), zone, now)
    ):
        return False
    new_day = next_date(delivery, now)
    issue = int(delivery.issue_number) + 1
    fields = _issue_fields(delivery.delivery_id, issue, new_day, zone)
    scheduler = Actor(audit.SCHEDULER)
    events = [
        audit.event("ROTATED", now, scheduler, issue_number=issue, outcome=f"{delivery.delivery_date} -> {new_day}"),
        audit.event("CODE_ISSUED", now, scheduler, issue_number=issue),
    ]
    delivery.delivery_date = new_day.isoformat()
    delivery.issue_number = issue
    delivery.status = SCHEDULED
    delivery.wrong_attempts = 0
    delivery.code_nonce = fields["code_nonce"]
    delivery.code_mac = fields["code_mac"]
    delivery.code_valid_until = fields["code_valid_until"]
    delivery.due_at = fields["due_at"]
    delivery.expires_at = fields["expires_at"]
    macs = delegate_macs(delivery, issue, fields["code_nonce"])
    if macs is not None:
        delivery.delegate_macs = macs
    delivery.events = [*delivery.events, *events]
    return True


def delegate_macs(delivery: DeliveryModel, issue: int, nonce: str) -> dict[str, str] | None:
    """The live delegates' codes of a new issue, as the MACs the verification matches (MAC -> delegate
    id); None when there are no live delegates (nothing to set, and nothing to remove: only live
    delegates hold a MAC, a revocation takes its MAC away)."""
    live = set(delivery.live_delegates or ())
    if not live:
        return None
    key = adapters().keys.key()
    every = codes.delegate_codes(key, delivery.delivery_id, issue, nonce, int(delivery.delegate_count or 0))
    return {codes.code_mac(key, delivery.delivery_id, code): who for who, code in every.items() if who in live}


def delegate_code_actions(delivery: DeliveryModel, issue: int, nonce: str) -> list[Any]:
    """`delegate_macs` as an update action (none for a delivery without live delegates)."""
    macs = delegate_macs(delivery, issue, nonce)
    return [] if macs is None else [DeliveryModel.delegate_macs.set(macs)]


def same_delegates(delivery: DeliveryModel) -> Any:
    """The delegates are still those this write was built from (a revoked one must not get a code back)."""
    if delivery.delegates_version is None:
        return DeliveryModel.delegates_version.does_not_exist()
    return DeliveryModel.delegates_version == int(delivery.delegates_version)
