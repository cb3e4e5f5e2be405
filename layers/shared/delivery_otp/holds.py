"""The storefront's last word on a parcel that went wrong: release a held one, or return it to its
sender (docs/behaviour.md, "Held parcels and returns").

A release is the shop's decision after checking the customer: an `ON_HOLD` or `LOCKED` delivery gets
fresh budgets (5 for the new code, 10 more for its life), a new code for the working day the shop picked
and its email, and so do its live delegates, at most twice in its life. A return ends it for good: no
code, no email, no rotation. Each is one conditional write on the state read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from delivery_otp import audit, policy
from delivery_otp.audit import Actor
from delivery_otp.calendar import is_working_day
from delivery_otp.config import settings
from delivery_otp.deliveries import check_day_picked, code_dies, ends, load, view
from delivery_otp.errors import (
    Conflict,
    InvalidInput,
    PersonalDataErased,
    ReleaseLimit,
    unknown_delivery,
)
from delivery_otp.issuing import issue_code, same_delegates
from delivery_otp.model import (
    CANCELLED,
    DELIVERED,
    LOCKED,
    ON_HOLD,
    REQUEUED,
    RETURNED,
    SCHEDULED,
    DeliveryModel,
)
from delivery_otp.validation import is_delivery_id, parse_date
from delivery_otp.wiring import adapters


def release(delivery_id: str, body: dict[str, Any], by: Actor = audit.UNSIGNED_STOREFRONT) -> dict[str, Any]:
    """Release a held (or locked) parcel for `delivery_date`: fresh budgets and a new code, emailed to the
    recipient and to each live delegate. Audited RELEASED with the caller."""
    day = parse_date(body.get("delivery_date"), "delivery_date")
    now = adapters().clock.now()
    delivery = load(delivery_id)
    check_day_picked(day, delivery, now)
    if not is_working_day(day, delivery.country, delivery.subdivision, settings().weekdays(delivery.country)):
        raise InvalidInput("delivery_date", f"{day} is not a working day at the destination")
    if delivery.status not in (ON_HOLD, LOCKED) or not delivery.code_required:
        raise Conflict(f"delivery {delivery_id!r} is {delivery.status.lower()}: only a held or locked one is released")
    if delivery.personal_data_erased:
        # Nobody is left to send the new code to.
        raise PersonalDataErased(f"delivery {delivery_id!r} has had its personal data erased: it cannot be released")
    releases = int(delivery.releases or 0)
    if releases >= policy.RELEASES_PER_DELIVERY:
        raise ReleaseLimit(f"delivery {delivery_id!r} was already released {releases} times")

    issue = int(delivery.issue_number) + 1
    issued = issue_code(delivery, issue, day)
    actions: list[Any] = [
        DeliveryModel.status.set(SCHEDULED),
        DeliveryModel.delivery_date.set(day.isoformat()),
        DeliveryModel.open_since.set(day.isoformat()),
        DeliveryModel.wrong_attempts.set(0),
        DeliveryModel.releases.set(releases + 1),
        DeliveryModel.life_limit.set(policy.life_limit(releases + 1)),
        *issued.actions(),
        audit.record(
            audit.event(
                "RELEASED", now, by, issue_number=issue, outcome=f"{releases + 1} of {policy.RELEASES_PER_DELIVERY}"
            ),
            audit.event("CODE_ISSUED", now, by, issue_number=issue),
        ),
    ]
    if issued.delegate_macs is None:
        actions.append(DeliveryModel.delegate_macs.remove())
    read_releases = (
        DeliveryModel.releases.does_not_exist() if delivery.releases is None else DeliveryModel.releases == releases
    )
    result = adapters().deliveries.update(
        delivery_id,
        actions,
        (DeliveryModel.status == delivery.status)
        & DeliveryModel.personal_data_erased.does_not_exist()
        & (DeliveryModel.issue_number == issue - 1)
        & read_releases
        & same_delegates(delivery),
    )
    if not result.applied or result.item is None:
        raise Conflict(f"delivery {delivery_id!r} changed meanwhile; read it and try again")
    return view(result.item, now)


def return_to_sender(delivery_id: str, by: Actor = audit.UNSIGNED_STOREFRONT) -> dict[str, Any]:
    """The storefront ends the delivery as returned: the code dies and it leaves the rotation; returning
    again answers the same; a delivered or cancelled one cannot be returned (409)."""
    if not is_delivery_id(delivery_id):
        raise unknown_delivery(delivery_id)
    now = adapters().clock.now()
    result = adapters().deliveries.update(
        delivery_id,
        returned(delivery_id, now, audit.event("RETURNED", now, by, outcome="storefront")),
        DeliveryModel.status.is_in(SCHEDULED, LOCKED, REQUEUED, ON_HOLD),
    )
    if result.item is None:
        raise unknown_delivery(delivery_id)
    if not result.applied and result.item.status in (DELIVERED, CANCELLED):
        raise Conflict(f"delivery {delivery_id!r} is {result.item.status.lower()}: it cannot be returned")
    return view(result.item, now)


def returned(delivery_id: str, now: datetime, *events: audit.AuditEvent) -> list[Any]:
    """The update actions that end a delivery as returned to its sender (its personal data then waits in
    the rotation's index for erasure)."""
    return [DeliveryModel.status.set(RETURNED), *code_dies(), *ends(delivery_id, now), audit.record(*events)]
