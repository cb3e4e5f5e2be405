"""What the storefront reads: a delivery's state, its live code (to show the customer), its audit trail.

Reads change nothing. The code is derived again from the secret key and the stored nonce each time it
is shown; it is never stored.
"""

from __future__ import annotations

from typing import Any

from delivery_otp import audit, codes
from delivery_otp.deliveries import code_is_live, load, local_iso, view, zone_of
from delivery_otp.errors import Gone, NotFound
from delivery_otp.wiring import adapters


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
