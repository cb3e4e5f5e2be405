"""The delivery-code use cases: register, show, cancel, verify, report a failed attempt, rotate.

Handlers call these and shape nothing but the HTTP answer. Each state change is one conditional
write (see :mod:`delivery_otp.adapters.dynamo`) whose condition is the rule; when it does not apply,
the item as it was tells which rule stopped it, and the answer follows SPEC's order of judgement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
    NotFound,
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
    delivery_key,
)
from delivery_otp.validation import ATTEMPT_OUTCOMES, is_delivery_id, parse_registration
from delivery_otp.wiring import adapters

# Concurrent wrong codes on one delivery each retry on the fresh item; more rounds than the per-code
# budget is ample, and a request that still loses answers 503 rather than guessing.
_MAX_WRITE_ROUNDS = 40


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def _epoch(instant: datetime) -> int:
    return int(instant.timestamp())


def _zone(delivery: DeliveryModel) -> ZoneInfo:
    return ZoneInfo(delivery.timezone)


def _local_iso(epoch: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, zone).isoformat()


def _day(delivery: DeliveryModel) -> date:
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
        "code_valid_until": _local_iso(delivery.code_valid_until, _zone(delivery)) if live else None,
        "issue_number": int(delivery.issue_number or 0),
        "wrong_attempts_left": (
            policy.wrong_attempts_left(int(delivery.wrong_attempts), int(delivery.life_wrong_attempts))
            if delivery.code_required
            else None
        ),
    }


def _load(delivery_id: str) -> DeliveryModel:
    # An id that could never have been registered is as unknown as one that was not.
    if not is_delivery_id(delivery_id):
        raise NotFound(f"delivery {delivery_id!r} is not registered")
    delivery = adapters().deliveries.get(delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id!r} is not registered")
    return delivery


def _issue_fields(delivery_id: str, issue_number: int, day: date, zone: ZoneInfo) -> dict[str, Any]:
    key = adapters().keys.key()
    nonce = codes.new_nonce()
    code = codes.derive_code(key, delivery_id, issue_number, nonce)
    valid_until = end_of_day(day, zone)
    return {
        "code_nonce": nonce,
        "code_mac": codes.code_mac(key, delivery_id, code),
        "code_valid_until": _epoch(valid_until),
        "due_at": _epoch(valid_until),
        "expires_at": _expiry(valid_until),
    }


# --- storefront -------------------------------------------------------------------------------


def register(body: dict[str, Any]) -> Answer:
    registration = parse_registration(body)
    now = adapters().clock.now()
    zone = ZoneInfo(registration.timezone)
    repository = adapters().deliveries

    if has_ended(registration.delivery_date, zone, now):
        # A storefront retrying yesterday's identical request still gets its delivery back.
        existing = repository.get(registration.delivery_id)
        if existing is not None:
            return _repeat(existing, registration.request_hash, now)
        raise DateAlreadyEnded(f"delivery_date: {registration.delivery_date} has already ended at the destination")
    if registration.delivery_date > local_date(now, zone) + timedelta(days=settings().max_days_ahead):
        raise InvalidInput("delivery_date", f"must be within {settings().max_days_ahead} days from today")

    required = policy.code_required(
        settings(),
        amount=registration_amount(registration.amount),
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


def registration_amount(amount: str) -> Any:
    from decimal import Decimal

    return Decimal(amount)


def _repeat(existing: DeliveryModel, request_hash: str, now: datetime) -> Answer:
    if existing.request_hash != request_hash:
        raise Conflict(f"delivery {existing.delivery_id!r} is already registered with a different request")
    return Answer(200, view(existing, now))


def get_delivery(delivery_id: str) -> dict[str, Any]:
    return view(_load(delivery_id), adapters().clock.now())


def current_code(delivery_id: str) -> dict[str, Any]:
    delivery = _load(delivery_id)
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
        "valid_until": _local_iso(delivery.code_valid_until, _zone(delivery)),
        "delivery_date": delivery.delivery_date,
    }


def audit_trail(delivery_id: str) -> dict[str, Any]:
    return {"events": audit.as_json(_load(delivery_id))}


def _kill_code_actions() -> list[Any]:
    return [DeliveryModel.code_valid_until.remove(), DeliveryModel.code_mac.remove(), DeliveryModel.code_nonce.remove()]


def _leave_rotation_actions() -> list[Any]:
    return [DeliveryModel.due_shard.remove(), DeliveryModel.due_at.remove()]


def cancel(delivery_id: str) -> dict[str, Any]:
    if not is_delivery_id(delivery_id):
        raise NotFound(f"delivery {delivery_id!r} is not registered")
    now = adapters().clock.now()
    result = adapters().deliveries.update(
        delivery_id,
        [
            DeliveryModel.status.set(CANCELLED),
            *_kill_code_actions(),
            *_leave_rotation_actions(),
            audit.record(audit.event("CANCELLED", now, Actor(audit.STOREFRONT))),
        ],
        DeliveryModel.status.is_in(SCHEDULED, LOCKED, REQUEUED, ON_HOLD),
    )
    if result.item is None:
        raise NotFound(f"delivery {delivery_id!r} is not registered")
    if not result.applied and result.item.status == DELIVERED:
        raise Conflict(f"delivery {delivery_id!r} has already been delivered")
    return view(result.item, now)


# --- courier ----------------------------------------------------------------------------------


def _verification_event(now: datetime, actor: Actor, outcome: str, issue: int | None) -> Any:
    return audit.event("VERIFICATION", now, actor, issue_number=issue, outcome=outcome)


def _judge(delivery: DeliveryModel, now: datetime) -> str | None:
    """Why a delivery cannot take a code now, in SPEC's order; None when the code itself decides."""
    if delivery.status == DELIVERED:
        return "ALREADY_DELIVERED"
    if delivery.status in (CANCELLED, ON_HOLD, REQUEUED) or not delivery.code_required:
        return "EXPIRED"
    if has_ended(_day(delivery), _zone(delivery), now):
        return "EXPIRED"
    if delivery.status == LOCKED:
        return "LOCKED"
    if not code_is_live(delivery, now):
        return "EXPIRED"
    return None


_RESULT_STATUS = {"ALREADY_DELIVERED": 409, "EXPIRED": 410, "LOCKED": 423}
_RESULT_ERROR = {
    "ALREADY_DELIVERED": ("ALREADY_DELIVERED", "the parcel has already been delivered"),
    "EXPIRED": ("NO_LIVE_CODE", "the delivery has no live code"),
    "LOCKED": ("LOCKED", "too many wrong codes today: the delivery is locked until the next delivery day"),
}


def verify(delivery_id: str, body: dict[str, Any], actor: Actor) -> Answer:
    from delivery_otp.validation import optional_id

    if not is_delivery_id(delivery_id):
        raise NotFound(f"delivery {delivery_id!r} is not registered")
    optional_id(body, "courier_id")
    optional_id(body, "device_id")
    candidate = body.get("code")
    repository = adapters().deliveries
    if not codes.is_well_formed(candidate):
        _load(delivery_id)  # unknown delivery answers 404 before malformed input
        raise InvalidInput("code", "must be exactly 6 digits 0-9")
    code: str = candidate  # type: ignore[assignment]

    now = adapters().clock.now()
    mac = codes.code_mac(adapters().keys.key(), delivery_id, code)
    now_epoch = _epoch(now)

    def consume() -> Any:
        return repository.update(
            delivery_id,
            [
                DeliveryModel.status.set(DELIVERED),
                DeliveryModel.delivered_at.set(now.isoformat()),
                DeliveryModel.delivered_issue.set(DeliveryModel.issue_number),
                *_kill_code_actions(),
                *_leave_rotation_actions(),
                audit.record(_verification_event(now, actor, "ACCEPTED", None), audit.event("DELIVERED", now, actor)),
            ],
            (DeliveryModel.status == SCHEDULED)
            & (DeliveryModel.code_required == True)  # noqa: E712 - a pynamodb condition, not a test
            & (DeliveryModel.code_valid_until > now_epoch)
            & (DeliveryModel.code_mac == mac)
            & (DeliveryModel.wrong_attempts < policy.WRONG_CODES_PER_CODE)
            & (DeliveryModel.life_wrong_attempts < policy.WRONG_CODES_PER_LIFE),
        )

    result = consume()
    for _ in range(_MAX_WRITE_ROUNDS):
        if result.applied:
            return Answer(200, {"result": "ACCEPTED", "delivered_at": _local_iso(now.timestamp(), _zone(result.item))})
        delivery = result.item
        if delivery is None:
            raise NotFound(f"delivery {delivery_id!r} is not registered")
        verdict = _judge(delivery, now)
        if verdict is not None:
            repository.update(
                delivery_id,
                [audit.record(_verification_event(now, actor, verdict, int(delivery.issue_number)))],
                DeliveryModel.pk.exists(),
            )
            error_code, message = _RESULT_ERROR[verdict]
            return Answer(
                _RESULT_STATUS[verdict], {"result": verdict, "error": {"code": error_code, "message": message}}
            )
        if delivery.code_mac == mac:
            # The right code lost a race with another write (a counter moved): try again on fresh state.
            result = consume()
            continue
        result = _record_wrong_code(delivery, now, actor)
        if result.applied:
            left = policy.wrong_attempts_left(int(result.item.wrong_attempts), int(result.item.life_wrong_attempts))
            return Answer(
                403,
                {
                    "result": "REJECTED",
                    "wrong_attempts_left": left,
                    "error": {"code": "WRONG_CODE", "message": "the code is not the delivery's code"},
                },
            )
    raise DependencyUnavailable("the delivery is changing too fast; try again")


def _record_wrong_code(delivery: DeliveryModel, now: datetime, actor: Actor) -> Any:
    issue = int(delivery.issue_number)
    wrong = int(delivery.wrong_attempts) + 1
    life = int(delivery.life_wrong_attempts) + 1
    events = [_verification_event(now, actor, "REJECTED", issue)]
    actions: list[Any] = [
        DeliveryModel.wrong_attempts.set(wrong),
        DeliveryModel.life_wrong_attempts.set(life),
    ]
    if life >= policy.WRONG_CODES_PER_LIFE:
        actions += [DeliveryModel.status.set(ON_HOLD), *_kill_code_actions(), *_leave_rotation_actions()]
        events.append(audit.event("ON_HOLD", now, Actor(audit.SYSTEM), issue_number=issue))
    elif wrong >= policy.WRONG_CODES_PER_CODE:
        actions += [DeliveryModel.status.set(LOCKED), *_kill_code_actions()]
        events.append(audit.event("LOCKED", now, Actor(audit.SYSTEM), issue_number=issue))
    actions.append(audit.record(*events))
    # Exact counters in the condition: concurrent wrong codes serialise, none is lost or double-counted,
    # and the write that reaches the limit is the one that locks.
    return adapters().deliveries.update(
        delivery.delivery_id,
        actions,
        (DeliveryModel.status == SCHEDULED)
        & (DeliveryModel.issue_number == issue)
        & (DeliveryModel.wrong_attempts == wrong - 1)
        & (DeliveryModel.life_wrong_attempts == life - 1)
        & (DeliveryModel.code_valid_until > _epoch(now)),
    )


def _next_date(delivery: DeliveryModel, now: datetime) -> date:
    return next_delivery_date(
        _day(delivery),
        country=delivery.country,
        subdivision=delivery.subdivision,
        zone=_zone(delivery),
        weekdays=settings().weekdays(delivery.country),
        now=now,
    )


def report_attempt(delivery_id: str, body: dict[str, Any], actor: Actor) -> dict[str, Any]:
    from delivery_otp.validation import optional_id

    outcome = body.get("outcome")
    optional_id(body, "courier_id")
    optional_id(body, "device_id")
    if not isinstance(outcome, str) or outcome not in ATTEMPT_OUTCOMES:
        _load(delivery_id)
        raise InvalidInput("outcome", f"must be one of {', '.join(sorted(ATTEMPT_OUTCOMES))}")
    if not is_delivery_id(delivery_id):
        raise NotFound(f"delivery {delivery_id!r} is not registered")
    now = adapters().clock.now()
    result = adapters().deliveries.update(
        delivery_id,
        [
            DeliveryModel.status.set(REQUEUED),
            *_kill_code_actions(),
            audit.record(audit.event("ATTEMPT_FAILED", now, actor, issue_number=None, outcome=outcome)),
        ],
        DeliveryModel.status.is_in(SCHEDULED, LOCKED),
    )
    delivery = result.item
    if delivery is None:
        raise NotFound(f"delivery {delivery_id!r} is not registered")
    if not result.applied and delivery.status != REQUEUED:
        raise Conflict(f"delivery {delivery_id!r} is {delivery.status.lower()}: no attempt can be reported")
    return {"status": REQUEUED, "next_delivery_date": _next_date(delivery, now).isoformat()}


# --- scheduler --------------------------------------------------------------------------------


def rotate_due(now: datetime | None = None, shards: Iterable[str] | None = None) -> dict[str, int]:
    """Give every delivery whose day has ended a new day and a new code.

    Decided per delivery from its own state (the sparse index holds only deliveries that may rotate,
    keyed by when their day ends), so a missed run is caught up by the next and a replayed or
    backdated run finds nothing it has not already done.
    """
    now = now or adapters().clock.now()
    repository = adapters().deliveries
    counts = {"rotated": 0, "skipped": 0}
    for shard in shards or [f"{n:02d}" for n in range(settings().rotation_shards)]:
        for delivery in repository.due(shard, _epoch(now)):
            counts["rotated" if rotate_one(delivery, now) else "skipped"] += 1
    return counts


def rotate_one(delivery: DeliveryModel, now: datetime) -> bool:
    zone = _zone(delivery)
    if (
        delivery.status not in OPEN_STATES
        or not delivery.code_required
        or delivery.due_at is None
        or not has_ended(_day(delivery), zone, now)
    ):
        return False
    new_day = _next_date(delivery, now)
    issue = int(delivery.issue_number) + 1
    fields = _issue_fields(delivery.delivery_id, issue, new_day, zone)
    scheduler = Actor(audit.SCHEDULER)
    result = adapters().deliveries.update(
        delivery.delivery_id,
        [
            DeliveryModel.delivery_date.set(new_day.isoformat()),
            DeliveryModel.issue_number.set(issue),
            DeliveryModel.status.set(SCHEDULED),
            DeliveryModel.wrong_attempts.set(0),
            DeliveryModel.code_nonce.set(fields["code_nonce"]),
            DeliveryModel.code_mac.set(fields["code_mac"]),
            DeliveryModel.code_valid_until.set(fields["code_valid_until"]),
            DeliveryModel.due_at.set(fields["due_at"]),
            DeliveryModel.expires_at.set(fields["expires_at"]),
            audit.record(
                *[
                    audit.event(
                        "ROTATED",
                        now,
                        scheduler,
                        issue_number=issue,
                        outcome=f"{delivery.delivery_date} -> {new_day.isoformat()}",
                    ),
                    audit.event("CODE_ISSUED", now, scheduler, issue_number=issue),
                ]
            ),
        ],
        (DeliveryModel.issue_number == int(delivery.issue_number))
        & (DeliveryModel.due_at == int(delivery.due_at))
        & DeliveryModel.status.is_in(*OPEN_STATES)
        & (DeliveryModel.code_required == True)  # noqa: E712 - a pynamodb condition
        & (DeliveryModel.life_wrong_attempts < policy.WRONG_CODES_PER_LIFE),
    )
    return result.applied
