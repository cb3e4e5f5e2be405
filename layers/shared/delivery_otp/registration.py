"""The storefront registers a delivery: once, with the same answer for the same request again.

Whether the parcel needs a code is decided here (see :mod:`delivery_otp.policy`), and with a code
the first issue goes out with the item: the item and its first code are one conditional put, so a
retried request finds the delivery it created and a different one under the same id is refused.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from delivery_otp import audit, links, policy
from delivery_otp.audit import Actor
from delivery_otp.calendar import has_ended
from delivery_otp.config import settings
from delivery_otp.deliveries import Answer, view, within_reach
from delivery_otp.errors import Conflict, DateAlreadyEnded
from delivery_otp.issuing import issue_code, retained_until
from delivery_otp.model import RECIPIENT, SCHEDULED, DeliveryModel, delivery_key
from delivery_otp.validation import parse_registration
from delivery_otp.wiring import adapters


def register(body: dict[str, Any], by: Actor = audit.UNSIGNED_STOREFRONT) -> Answer:
    registration = parse_registration(body)
    now = adapters().clock.now()
    zone = ZoneInfo(registration.timezone)
    repository = adapters().deliveries

    within_reach(registration.delivery_date, zone, now)
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
    delivery = DeliveryModel(
        delivery_key(registration.delivery_id),
        delivery_id=registration.delivery_id,
        order_id=registration.order_id,
        request_hash=registration.request_hash,
        status=SCHEDULED,
        code_required=required,
        delivery_date=registration.delivery_date.isoformat(),
        open_since=registration.delivery_date.isoformat(),
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
        events=[audit.event("REGISTERED", now, by)],
    )
    page_links = []
    if required:
        issue_code(delivery, 1, registration.delivery_date).apply(delivery)
        delivery.events.append(audit.event("CODE_ISSUED", now, Actor(audit.SYSTEM), issue_number=1))
        # The recipient's page link, whose lookup item is written with the delivery (one transaction).
        delivery.link_salt = links.new_salt()
        key = adapters().keys.key()
        page_links.append(
            links.lookup(key, registration.delivery_id, RECIPIENT, delivery.link_salt, delivery.expires_at)
        )
    else:
        delivery.expires_at = retained_until(registration.delivery_date, zone)

    existing = repository.create(delivery, page_links)
    if existing is None:
        return Answer(201, view(delivery, now))
    return _repeat(existing, registration.request_hash, now)


def _repeat(existing: DeliveryModel, request_hash: str, now: datetime) -> Answer:
    if existing.request_hash != request_hash:
        raise Conflict(f"delivery {existing.delivery_id!r} is already registered with a different request")
    return Answer(200, view(existing, now))
