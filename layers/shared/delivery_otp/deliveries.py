"""What every use case knows about a delivery: how to read it, how to show it, and the few writes and
rules they share.

It sits below the use cases (registration, the storefront's reads and controls, delegates, the
courier at the door, the night's rotation) so none of them imports another; the verify path imports
it too, so it takes nothing that path does not already need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from delivery_otp import codes, policy
from delivery_otp.audit import Actor
from delivery_otp.calendar import has_ended, local_date, next_delivery_date
from delivery_otp.config import settings
from delivery_otp.errors import DateAlreadyEnded, DependencyUnavailable, InvalidInput, NotFound, unknown_delivery
from delivery_otp.model import SCHEDULED, DeliveryModel, delegate_entries, readable
from delivery_otp.validation import is_delivery_id
from delivery_otp.wiring import adapters


@dataclass(frozen=True)
class Answer:
    """A use case's answer when its HTTP status depends on what happened (201 new, 200 again, ...)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def epoch(instant: datetime) -> int:
    return int(instant.timestamp())


def shard_of(delivery_id: str) -> str:
    """The rotation's index is split in shards, each rotated by its own worker; a delivery's is fixed by
    its id."""
    digest = hashlib.sha256(delivery_id.encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % settings().rotation_shards:02d}"


def zone_of(delivery: DeliveryModel) -> ZoneInfo:
    return ZoneInfo(delivery.timezone)


def local_iso(seconds: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(seconds, zone).isoformat()


def day_of(delivery: DeliveryModel) -> date:
    return date.fromisoformat(delivery.delivery_date)


def life_limit_of(delivery: DeliveryModel) -> int:
    """The wrong codes this delivery's life may take (10, and 10 more per release from hold)."""
    return int(delivery.life_limit or policy.WRONG_CODES_PER_LIFE)


def code_is_live(delivery: DeliveryModel, now: datetime) -> bool:
    return bool(
        delivery.code_required
        and delivery.status == SCHEDULED
        and delivery.code_valid_until is not None
        and now.timestamp() < delivery.code_valid_until
    )


def next_date(delivery: DeliveryModel, now: datetime) -> date:
    """The next working day the parcel can go out (after a failed attempt, or when its day has ended)."""
    return next_delivery_date(
        day_of(delivery),
        country=delivery.country,
        subdivision=delivery.subdivision,
        zone=zone_of(delivery),
        weekdays=settings().weekdays(delivery.country),
        now=now,
    )


def within_reach(day: date, zone: ZoneInfo, now: datetime) -> None:
    """A day the caller sent is no further ahead than allowed (a year): checked first, so a far-off
    sentinel such as 9999-12-31 is refused as too far rather than judged by its end (which the calendar
    caps at the end of time)."""
    if day > local_date(now, zone) + timedelta(days=settings().max_days_ahead):
        raise InvalidInput("delivery_date", f"must be within {settings().max_days_ahead} days from today")


def check_day_picked(day: date, delivery: DeliveryModel, now: datetime) -> None:
    """A day a caller picked for a registered delivery (another day, a release): within reach, and not
    already ended at the destination."""
    zone = zone_of(delivery)
    within_reach(day, zone, now)
    if has_ended(day, zone, now):
        raise DateAlreadyEnded(f"delivery_date: {day} has already ended at the destination")


# --- reading and showing ----------------------------------------------------------------------


def load(delivery_id: str) -> DeliveryModel:
    # An id that could never have been registered is as unknown as one that was not.
    if not is_delivery_id(delivery_id):
        raise unknown_delivery(delivery_id)
    delivery = adapters().deliveries.get(delivery_id)
    if delivery is None:
        raise unknown_delivery(delivery_id)
    return delivery


def view(delivery: DeliveryModel, now: datetime) -> dict[str, Any]:
    """The delivery as the storefront sees it (never a code, an address or a MAC)."""
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
        "personal_data_erased": bool(delivery.personal_data_erased),
        "delegates": delegates_view(delivery),
        "wrong_attempts_left": (
            policy.wrong_attempts_left(
                int(delivery.wrong_attempts), int(delivery.life_wrong_attempts), life_limit_of(delivery)
            )
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


# --- who may see it: a delivery assigned to a courier does not exist for any other ------------


def hidden_from(delivery: DeliveryModel, actor: Actor) -> bool:
    """An assigned delivery does not exist for any other courier: same 404 as an unknown id."""
    return delivery.assigned_courier is not None and delivery.assigned_courier != actor.courier_id


def seen_by(delivery_id: str, delivery: DeliveryModel | None, actor: Actor) -> DeliveryModel:
    """The delivery, when this courier may see it. Otherwise the answer is byte for byte an unknown
    id's, so ids cannot be probed; only where nothing proves who the courier is (no authorizer: the
    local stack with authentication off, where anybody may name any courier) does it say why."""
    if delivery is not None and not hidden_from(delivery, actor):
        return delivery
    if delivery is None or not actor.self_declared:
        raise unknown_delivery(delivery_id)
    named = f"names courier {actor.courier_id!r}" if actor.courier_id else "names no courier"
    raise NotFound(
        f"delivery {delivery_id!r} is not registered for this courier: it may be assigned to a courier, and"
        f" this request {named} (without sign-in, the body's courier_id names the courier)"
    )


def assigned_to(actor: Actor) -> Any:
    """The write's condition for the same rule: unassigned, or assigned to this courier."""
    unassigned = DeliveryModel.assigned_courier.does_not_exist()
    return unassigned | (DeliveryModel.assigned_courier == actor.courier_id) if actor.courier_id else unassigned


# --- the writes several use cases say alike ---------------------------------------------------


def code_dies(*, delegates: bool = True) -> list[Any]:
    """The live code dies, the delegates' with it. The verification keeps `delegate_macs` (it reads
    whose code it was from them in the same write; the status it sets keeps them from opening anything)."""
    actions = [
        DeliveryModel.code_valid_until.remove(),
        DeliveryModel.code_mac.remove(),
        DeliveryModel.code_nonce.remove(),
    ]
    return [*actions, DeliveryModel.delegate_macs.remove()] if delegates else actions


def erasure_due(delivery_id: str, now: datetime) -> tuple[str, int]:
    """(shard, epoch) under which a delivery that ends now waits in the rotation's index for the erasure
    of its personal data, `PersonalDataRetentionDays` later."""
    return shard_of(delivery_id), epoch(now + timedelta(days=settings().personal_data_retention_days))


def ends(delivery_id: str, now: datetime) -> list[Any]:
    """The actions of a write that ends a delivery (its status one of `ENDED_STATES`): no night gives it a
    new day or code any more; the rotation's index keeps it only until its personal data is due for erasure."""
    shard, erase_at = erasure_due(delivery_id, now)
    return [DeliveryModel.due_shard.set(shard), DeliveryModel.due_at.set(erase_at)]


_MAX_WRITE_ROUNDS = 10


def write_on_fresh_state(delivery_id: str, plan: Callable[[DeliveryModel], tuple[Any, ...] | None]) -> DeliveryModel:
    """Optimistic concurrency for the customer's controls and the delegates: the write is built from the
    delivery as read and conditioned on that state; when another write got there first, it is built again
    from the item DynamoDB handed back with the refusal (no second read). `plan` raises the request's
    refusals, or returns None when there is nothing to write, else (actions, condition) or (actions,
    condition, page links' lookup items to put in the same transaction). Returns the delivery as it now is."""
    delivery = load(delivery_id)
    for _ in range(_MAX_WRITE_ROUNDS):
        planned = plan(delivery)
        if planned is None:
            return delivery
        actions, condition, *links = planned
        result = adapters().deliveries.update(delivery_id, actions, condition, links=links[0] if links else ())
        if result.applied:
            return result.item if result.item is not None else load(delivery_id)
        if result.item is None:
            raise unknown_delivery(delivery_id)
        delivery = result.item
    raise DependencyUnavailable("the delivery is changing too fast; try again")
