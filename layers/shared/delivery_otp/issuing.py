"""Issuing a code: the one step registration, the customer's controls and the night's rotation share.

A new issue of a code is a fresh nonce (the code is derived from it and never stored), the MAC the
verification compares against, validity to the end of the delivery day at the destination, a place in
the rotation's index (when that day ends, its shard), how long the item is kept, and the codes of the
live delegates as their MACs. :func:`issue_code` computes them once; each caller applies them in its
own form of write (the attributes of a new or rewritten item, or the actions of an update).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from delivery_otp import codes
from delivery_otp.calendar import end_of_day
from delivery_otp.config import settings
from delivery_otp.deliveries import epoch, shard_of, zone_of
from delivery_otp.model import DeliveryModel
from delivery_otp.wiring import adapters

__all__ = ["IssuedCode", "issue_code", "retained_until", "shard_of", "shards"]


@dataclass(frozen=True)
class IssuedCode:
    """What a new code sets on its delivery."""

    issue_number: int
    code_nonce: str
    code_mac: str
    code_valid_until: int
    due_at: int
    due_shard: str
    expires_at: datetime
    # MAC -> delegate id; None when no delegate is live (nothing to set).
    delegate_macs: dict[str, str] | None

    def attributes(self) -> dict[str, Any]:
        """As the item's attributes, by name."""
        fields = {
            "issue_number": self.issue_number,
            "code_nonce": self.code_nonce,
            "code_mac": self.code_mac,
            "code_valid_until": self.code_valid_until,
            "due_at": self.due_at,
            "due_shard": self.due_shard,
            "expires_at": self.expires_at,
        }
        return fields if self.delegate_macs is None else {**fields, "delegate_macs": self.delegate_macs}

    def apply(self, delivery: DeliveryModel) -> None:
        """Onto an item in hand that is then written whole (a new item, the rotation's put)."""
        for name, value in self.attributes().items():
            setattr(delivery, name, value)

    def actions(self) -> list[Any]:
        """As the SET actions of an update."""
        attributes = DeliveryModel.get_attributes()
        return [attributes[name].set(value) for name, value in self.attributes().items()]


def issue_code(delivery: DeliveryModel, issue_number: int, day: date) -> IssuedCode:
    """Issue `issue_number` of the delivery's code, valid until `day` ends at the destination."""
    zone = zone_of(delivery)
    key = adapters().keys.key()
    nonce = codes.new_nonce()
    code = codes.derive_code(key, delivery.delivery_id, issue_number, nonce)
    valid_until = end_of_day(day, zone)
    return IssuedCode(
        issue_number=issue_number,
        code_nonce=nonce,
        code_mac=codes.code_mac(key, delivery.delivery_id, code),
        code_valid_until=epoch(valid_until),
        due_at=epoch(valid_until),
        due_shard=shard_of(delivery.delivery_id),
        expires_at=_kept_until(valid_until),
        delegate_macs=delegate_macs(delivery, issue_number, nonce),
    )


def retained_until(day: date, zone: ZoneInfo) -> datetime:
    """When the item of a delivery whose day is `day` may leave the table (its TTL)."""
    return _kept_until(end_of_day(day, zone))


def _kept_until(day_ends: datetime) -> datetime:
    return day_ends + timedelta(days=settings().retention_days)


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


def same_delegates(delivery: DeliveryModel) -> Any:
    """The delegates are still those this write was built from (a revoked one must not get a code back)."""
    if delivery.delegates_version is None:
        return DeliveryModel.delegates_version.does_not_exist()
    return DeliveryModel.delegates_version == int(delivery.delegates_version)


def shards() -> list[str]:
    return [f"{n:02d}" for n in range(settings().rotation_shards)]
