"""The storefront's say over where a parcel goes: cancel it, or assign it to one courier.

Each is one conditional write on the delivery's state: a delivered parcel cannot be cancelled, and
only an open one can be assigned. Once assigned, only that courier may verify or report attempts; to
any other the delivery does not exist (see :func:`delivery_otp.deliveries.seen_by`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from delivery_otp import audit
from delivery_otp.audit import Actor
from delivery_otp.deliveries import code_dies, ends, load, view
from delivery_otp.errors import Conflict, InvalidInput, unknown_delivery
from delivery_otp.model import (
    CANCELLED,
    DELIVERED,
    LOCKED,
    ON_HOLD,
    OPEN_STATES,
    REQUEUED,
    RETURNED,
    SCHEDULED,
    DeliveryModel,
)
from delivery_otp.validation import COURIER_ID, is_delivery_id
from delivery_otp.wiring import adapters


def cancel(delivery_id: str, by: Actor = audit.UNSIGNED_STOREFRONT) -> dict[str, Any]:
    """The code dies and the delivery leaves the rotation (its personal data waits there for erasure);
    cancelling again answers the same. A delivered or returned delivery cannot be cancelled."""
    if not is_delivery_id(delivery_id):
        raise unknown_delivery(delivery_id)
    now = adapters().clock.now()
    result = adapters().deliveries.update(
        delivery_id,
        [
            DeliveryModel.status.set(CANCELLED),
            *code_dies(),
            *ends(delivery_id, now),
            audit.record(audit.event("CANCELLED", now, by)),
        ],
        DeliveryModel.status.is_in(SCHEDULED, LOCKED, REQUEUED, ON_HOLD),
    )
    if result.item is None:
        raise unknown_delivery(delivery_id)
    if not result.applied and result.item.status == DELIVERED:
        raise Conflict(f"delivery {delivery_id!r} has already been delivered")
    if not result.applied and result.item.status == RETURNED:
        raise Conflict(f"delivery {delivery_id!r} has been returned to its sender")
    return view(result.item, now)


def assign_courier(delivery_id: str, body: dict[str, Any], by: Actor = audit.UNSIGNED_STOREFRONT) -> dict[str, Any]:
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
            audit.record(audit.event("ASSIGNED", now, replace(by, courier_id=courier_id))),
        ],
        DeliveryModel.status.is_in(*OPEN_STATES),
    )
    if result.item is None:
        raise unknown_delivery(delivery_id)
    if not result.applied:
        raise Conflict(f"delivery {delivery_id!r} is {result.item.status.lower()}: it can no longer be assigned")
    return view(result.item, now)
