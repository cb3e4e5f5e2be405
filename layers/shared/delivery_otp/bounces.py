"""Bounces and complaints: an address that cannot (or must not) be mailed again.

The mail service's reports arrive through a queue (functions/bounces). Every address reported is
suppressed for good, so no later email goes to it; the delivery is marked so the storefront knows to
show the code on its own page instead.
"""

from __future__ import annotations

from delivery_otp import audit
from delivery_otp.audit import Actor
from delivery_otp.model import DeliveryModel
from delivery_otp.validation import is_delivery_id
from delivery_otp.wiring import adapters


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
