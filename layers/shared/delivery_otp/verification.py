"""The courier at the door: verify a code (a failed attempt is :mod:`delivery_otp.attempts`).

A right code is one request: a transaction of the delivery's consuming update and a check that the
courier is not blocked (a plain conditional update when no courier is known). A wrong code is one
more: the delivery's counters with exact-value conditions and the courier's budget (see `budgets`)
in one transaction, so concurrent guesses serialise and no budget can pass its limit. Refusals are
judged from the items as they were, in the order docs/behaviour.md gives.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from delivery_otp import audit, budgets, codes, policy
from delivery_otp.adapters.courier_budgets import CourierGuard
from delivery_otp.adapters.deliveries import WriteResult
from delivery_otp.adapters.prepared import PreparedUpdate
from delivery_otp.audit import Actor
from delivery_otp.calendar import has_ended
from delivery_otp.deliveries import (
    Answer,
    assigned_to,
    code_dies,
    code_is_live,
    day_of,
    ends,
    epoch,
    erasure_due,
    life_limit_of,
    load,
    seen_by,
    zone_of,
)
from delivery_otp.errors import (
    DependencyUnavailable,
    InvalidInput,
    TooManyRequests,
    unknown_delivery,
)
from delivery_otp.model import (
    CANCELLED,
    DELIVERED,
    LOCKED,
    ON_HOLD,
    RECIPIENT,
    REQUEUED,
    RETURNED,
    SCHEDULED,
    CourierBudgetModel,
    DeliveryModel,
)
from delivery_otp.observability import count_courier_blocked
from delivery_otp.validation import is_delivery_id, optional_id
from delivery_otp.wiring import adapters

# Concurrent wrong codes each retry on the fresh item; more rounds than all budgets together is
# ample, and a request that still loses answers 503 rather than guessing.
_MAX_WRITE_ROUNDS = 40

_RESULT_STATUS = {"ALREADY_DELIVERED": 409, "EXPIRED": 410, "LOCKED": 423}
_RESULT_ERROR = {
    "ALREADY_DELIVERED": ("ALREADY_DELIVERED", "the parcel has already been delivered"),
    "EXPIRED": ("NO_LIVE_CODE", "the delivery has no live code"),
    "LOCKED": ("LOCKED", "too many wrong codes today: the delivery is locked until the next delivery day"),
}


# The right code at the door, as one conditional write whose expressions are written once (the
# courier's critical path: no expression is built per request). The condition is every rule a
# consuming verification must meet: the delivery exists and is SCHEDULED, needs a code, the code is
# live and is this one (the delivery's own code, or a delegate's: `#mac` is the MAC as a map key), the
# per-code and per-life wrong-code limits are not reached (the life's limit is the item's own `life_limit`
# once a release from hold has raised it, else the first 10), and the delivery is not assigned to another
# courier. It kills the code (delegates' MACs stay, for the receipt), records who received the parcel,
# leaves the rotation (waiting in its index for the erasure of the personal data) and records the audit.
_CONSUME_CONDITION = (
    "attribute_exists(pk) AND #status = :scheduled AND code_required = :true AND code_valid_until > :now"
    " AND (code_mac = :mac OR attribute_exists(delegate_macs.#mac))"
    " AND wrong_attempts < :per_code AND (life_wrong_attempts < :per_life OR life_wrong_attempts < life_limit)"
)
_CONSUME_CONSTANTS = {
    ":scheduled": SCHEDULED,
    ":true": True,
    ":per_code": policy.WRONG_CODES_PER_CODE,
    ":per_life": policy.WRONG_CODES_PER_LIFE,
    ":delivered": DELIVERED,
    ":recipient": RECIPIENT,
}
_CONSUME_UPDATE = (
    "SET #status = :delivered, delivered_at = :at, delivered_issue = issue_number,"
    " received_by = if_not_exists(delegate_macs.#mac, :recipient), events = list_append(events, :events),"
    " due_shard = :erase_shard, due_at = :erase_at"
    " REMOVE code_valid_until, code_mac, code_nonce"
)
_CONSUME_UNASSIGNED = PreparedUpdate(
    _CONSUME_CONDITION + " AND attribute_not_exists(assigned_courier)",
    _CONSUME_UPDATE,
    {"#status": "status"},
    _CONSUME_CONSTANTS,
)
_CONSUME_BY_COURIER = PreparedUpdate(
    _CONSUME_CONDITION + " AND (attribute_not_exists(assigned_courier) OR assigned_courier = :courier)",
    _CONSUME_UPDATE,
    {"#status": "status"},
    _CONSUME_CONSTANTS,
)
# The courier is not blocked: its 20th most recent wrong code is older than the window, or absent.
_COURIER_NOT_BLOCKED = PreparedUpdate(
    f"attribute_not_exists(wrong_log[{budgets.WRONG_CODES_PER_COURIER - 1}])"
    f" OR wrong_log[{budgets.WRONG_CODES_PER_COURIER - 1}] <= :window_start"
)


def _nth_recent_wrong(n: int) -> Any:
    return CourierBudgetModel.wrong_log[n - 1]


def _not_blocking(now: datetime) -> Any:
    """This wrong code would not be the 20th in 24 hours (the one that blocks: it takes the slow path)."""
    nineteenth = _nth_recent_wrong(budgets.WRONG_CODES_PER_COURIER - 1)
    return nineteenth.does_not_exist() | (nineteenth <= budgets.window_start(now.timestamp()))


def _is_right(delivery: DeliveryModel, mac: str) -> bool:
    """The code is the delivery's own or one a delegate was given (as the consuming condition has it)."""
    return delivery.code_mac == mac or (delivery.delegate_macs is not None and mac in delivery.delegate_macs.as_dict())


def _judge(delivery: DeliveryModel, now: datetime) -> str | None:
    """Why a delivery cannot take a code now, the first that applies of: delivered, no live code (not
    going out, no code needed, its day over), locked; None when the code itself decides."""
    if delivery.status == DELIVERED:
        return "ALREADY_DELIVERED"
    if delivery.status in (CANCELLED, ON_HOLD, REQUEUED, RETURNED) or not delivery.code_required:
        return "EXPIRED"
    if has_ended(day_of(delivery), zone_of(delivery), now):
        return "EXPIRED"
    if delivery.status == LOCKED:
        return "LOCKED"
    if not code_is_live(delivery, now):
        return "EXPIRED"
    return None


def _is_blocked(courier: CourierBudgetModel | None, now: datetime) -> bool:
    # A courier condition can also fail for another reason (the list is full, a concurrent guess):
    # those retry on the courier's item as it was.
    return courier is not None and budgets.blocked_until(list(courier.wrong_log), now.timestamp()) is not None


def _blocked(courier: CourierBudgetModel | None, now: datetime) -> TooManyRequests:
    """Raised, not answered: a refusal that depends on time must not be replayed by Idempotency-Key."""
    until = budgets.blocked_until(list(courier.wrong_log), now.timestamp()) if courier else None
    wait = budgets.retry_after(until or now.timestamp() + 1, now.timestamp())
    return TooManyRequests(f"too many wrong codes: try again in {wait} seconds", headers={"Retry-After": str(wait)})


def verify(delivery_id: str, body: dict[str, Any], actor: Actor) -> Answer:
    if not is_delivery_id(delivery_id):
        raise unknown_delivery(delivery_id)
    optional_id(body, "courier_id")
    optional_id(body, "device_id")
    candidate = body.get("code")
    repository = adapters().deliveries
    if not codes.is_well_formed(candidate):
        delivery = load(delivery_id)  # an unknown (or hidden) delivery answers 404 before malformed input
        seen_by(delivery_id, delivery, actor)
        raise InvalidInput("code", "must be exactly 6 digits 0-9")
    code: str = candidate  # type: ignore[assignment]

    now = adapters().clock.now()
    mac = codes.code_mac(adapters().keys.key(), delivery_id, code)
    at = now.isoformat()
    erase_shard, erase_at = erasure_due(delivery_id, now)
    values: dict[str, Any] = {
        ":now": epoch(now),
        ":erase_shard": erase_shard,
        ":erase_at": erase_at,
        ":mac": mac,
        ":at": at,
        ":events": [
            audit.fields("VERIFICATION", at, actor, outcome="ACCEPTED"),
            audit.fields("DELIVERED", at, actor),
        ],
    }
    prepared = _CONSUME_UNASSIGNED
    courier = None
    if actor.courier_id:
        prepared = _CONSUME_BY_COURIER
        values[":courier"] = actor.courier_id
        courier = (actor.courier_id, _COURIER_NOT_BLOCKED, {":window_start": budgets.window_start(now.timestamp())})

    def consume() -> WriteResult:
        return repository.update_prepared(delivery_id, prepared, values, {"#mac": mac}, courier)

    result = consume()
    delivery: DeliveryModel | None = None
    for _ in range(_MAX_WRITE_ROUNDS):
        if result.courier_refused and _is_blocked(result.courier, now):
            raise _blocked(result.courier, now)
        if result.applied:
            return Answer(200, {"result": "ACCEPTED", "delivered_at": now.astimezone(UTC).isoformat()})
        if not result.delivery_held:
            delivery = result.item
        elif delivery is None:  # the courier refused a right code before the delivery was ever seen
            delivery = repository.get(delivery_id)
        delivery = seen_by(delivery_id, delivery, actor)
        verdict = _judge(delivery, now)
        if verdict is not None:
            repository.update(
                delivery_id,
                [
                    audit.record(
                        audit.event(
                            "VERIFICATION", now, actor, issue_number=int(delivery.issue_number), outcome=verdict
                        )
                    )
                ],
                DeliveryModel.pk.exists(),
            )
            error_code, message = _RESULT_ERROR[verdict]
            return Answer(
                _RESULT_STATUS[verdict], {"result": verdict, "error": {"code": error_code, "message": message}}
            )
        if _is_right(delivery, mac):
            # The right code lost a race with another write (a counter moved): try again on fresh state.
            result = consume()
            continue
        result = _record_wrong_code(delivery, now, actor, result.courier if result.courier_refused else None)
        if result.applied:
            left = policy.wrong_attempts_left(
                int(delivery.wrong_attempts) + 1, int(delivery.life_wrong_attempts) + 1, life_limit_of(delivery)
            )
            return Answer(
                403,
                {
                    "result": "REJECTED",
                    "wrong_attempts_left": left,
                    "error": {"code": "WRONG_CODE", "message": "the code is not the delivery's code"},
                },
            )
    raise DependencyUnavailable("the delivery is changing too fast; try again")


def _record_wrong_code(
    delivery: DeliveryModel, now: datetime, actor: Actor, courier_seen: CourierBudgetModel | None
) -> WriteResult:
    """Count a wrong code on the delivery and, with a courier, on the courier's budget: one request.

    The courier's part is a blind prepend guarded by the budget's own condition. When that condition
    failed before (`courier_seen` is the courier's item as it was then: the list is full, or this
    code blocks the courier), the list is replaced as computed here, guarded by equality with it.
    """
    issue = int(delivery.issue_number)
    wrong = int(delivery.wrong_attempts) + 1
    life = int(delivery.life_wrong_attempts) + 1
    events = [audit.event("VERIFICATION", now, actor, issue_number=issue, outcome="REJECTED")]
    actions: list[Any] = [
        DeliveryModel.wrong_attempts.set(wrong),
        DeliveryModel.life_wrong_attempts.set(life),
        # The stream consumer alerts the recipient once per code (same value again: no new alert).
        DeliveryModel.wrong_alert_issue.set(issue),
    ]
    if life >= life_limit_of(delivery):
        actions += [DeliveryModel.status.set(ON_HOLD), *code_dies(), *ends(delivery.delivery_id, now)]
        events.append(audit.event("ON_HOLD", now, Actor(audit.SYSTEM), issue_number=issue))
    elif wrong >= policy.WRONG_CODES_PER_CODE:
        actions += [DeliveryModel.status.set(LOCKED), *code_dies()]
        events.append(audit.event("LOCKED", now, Actor(audit.SYSTEM), issue_number=issue))

    guard = None
    blocks = False
    if actor.courier_id:
        expires = CourierBudgetModel.expires_at.set(
            datetime.fromtimestamp(now.timestamp() + 2 * budgets.WINDOW_SECONDS, UTC)
        )
        if courier_seen is None:
            guard = CourierGuard(
                actor.courier_id,
                _not_blocking(now) & _nth_recent_wrong(budgets.KEPT).does_not_exist(),
                [
                    CourierBudgetModel.courier_id.set(actor.courier_id),
                    CourierBudgetModel.wrong_log.set((CourierBudgetModel.wrong_log | []).prepend([epoch(now)])),
                    expires,
                ],
            )
        else:
            old_log = [int(t) for t in courier_seen.wrong_log]
            log, until = budgets.after_wrong_code(old_log, now.timestamp())
            blocks = until is not None
            if until is not None:
                # The trail says until when: the block's integration event tells the storefront.
                blocked_until = datetime.fromtimestamp(until, UTC).isoformat()
                events.append(audit.event("COURIER_BLOCKED", now, actor, issue_number=issue, outcome=blocked_until))
            guard = CourierGuard(
                actor.courier_id,
                CourierBudgetModel.wrong_log == old_log,
                [CourierBudgetModel.wrong_log.set(log), expires],
            )

    actions.append(audit.record(*events))
    # Exact counters in the condition: concurrent wrong codes serialise, none is lost or double-counted,
    # and the write that reaches the limit is the one that locks.
    result = adapters().deliveries.update(
        delivery.delivery_id,
        actions,
        (DeliveryModel.status == SCHEDULED)
        & (DeliveryModel.issue_number == issue)
        & (DeliveryModel.wrong_attempts == wrong - 1)
        & (DeliveryModel.life_wrong_attempts == life - 1)
        & (DeliveryModel.code_valid_until > epoch(now))
        & assigned_to(actor),
        guard,
    )
    if result.applied and blocks:
        count_courier_blocked()
    return result
