"""Integration events: what a storefront acts on, as CloudEvents 1.0, derived from the audit trail.

The trail is the outbox. Every state change writes its audit entries in the same conditional write,
so the table's stream carries each committed entry exactly once in a record whose new image holds it
beyond the old image's trail; a failed write leaves no entry and so no event. Each event comes from
one entry, and an entry yields at most one event (entries no storefront acts on, such as an
assignment or an alert email, yield none).

- `data.sequence` is the entry's 1-based position in the delivery's trail: it grows strictly with each
  event of one delivery (with gaps where an entry yields no event).
- `id` is a UUIDv5 of the delivery id, its registration instant and that position, so a stream record
  delivered again yields the very same events (same ids, same bodies), and a delivery id registered
  again after the first one expired never repeats an old id.
- `data.status` is the delivery's status after the write that recorded the entry (the new image).
- Nothing personal or secret is copied: no code, nonce, MAC, name, email address or postal code. A
  delivered event's receipt names a delegate by id only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from delivery_otp import audit, policy
from delivery_otp.deliveries import next_date
from delivery_otp.model import RECIPIENT, DeliveryModel
from delivery_otp.receipts import signed

SOURCE = "delivery-otp"
SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
# Fixed for good: changing it would give every past event a new id.
_ID_NAMESPACE = uuid.UUID("6f1c1e0a-4b7e-5d2a-9c1e-0d5e1a7b3c42")

# Amazon Shipping's tracking detail codes for our failed-attempt outcomes and for a handover.
DETAIL_CODES = {
    "RECIPIENT_UNAVAILABLE": "CustomerUnavailable",
    "CODE_NOT_PROVIDED": "OtpNotAvailable",
    "ACCESS_PROBLEM": "UnableToAccess",
}
DELIVERED_DETAIL_CODE = "DeliveredWithOTP"

# Why a code was issued, from the trail entry written just before its CODE_ISSUED.
_REASONS = {"REGISTERED": "REGISTERED", "ROTATED": "ROTATED", "RESCHEDULED": "RESCHEDULED", "RELEASED": "RELEASED"}
# The outcome a ROTATED entry has when the customer replaced a leaked code (the night's says "day -> day").
_REPLACED_OUTCOME = "customer request"

Entry = dict[str, Any]  # an audit entry as `audit.as_json` reads it


class _Trail:
    """A delivery (the new image) and its trail, read once, with what the mapping asks of both."""

    def __init__(self, delivery: DeliveryModel) -> None:
        self.delivery = delivery
        self.entries = audit.as_json(delivery)

    def wrong_attempts_left(self, position: int, issue: int | None) -> int:
        """What was left for the code and the delivery's life once the entry at `position` was written:
        counted from the trail itself, so a replay of an old record gives the same answer."""
        rejected = [
            e for e in self.entries[: position + 1] if e["type"] == "VERIFICATION" and e["outcome"] == "REJECTED"
        ]
        for_code = sum(1 for e in rejected if e["issue_number"] == issue)
        return policy.wrong_attempts_left(for_code, len(rejected))

    def reason(self, position: int) -> str | None:
        if position == 0:
            return None
        before = self.entries[position - 1]
        if before["type"] == "ROTATED" and before["outcome"] == _REPLACED_OUTCOME:
            return "REPLACED"
        return _REASONS.get(before["type"])


def _utc(at: str | None) -> str | None:
    if not at:
        return None
    instant = datetime.fromisoformat(at)
    return (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _epoch_utc(seconds: Any) -> str | None:
    return datetime.fromtimestamp(int(seconds), UTC).isoformat() if seconds is not None else None


def _to(outcome: str | None) -> str:
    """Whom an email was for: "recipient" or "delegate:<id>" (a bounce's outcome adds its reason after a space)."""
    first = (outcome or "").split(" ", 1)[0]
    return first if first.startswith("delegate:") else "recipient"


def _new_day(outcome: str | None, trail: _Trail) -> str:
    """The day a RESCHEDULED entry moved to ("2026-12-01 -> 2026-12-03"), else the image's."""
    _, arrow, day = (outcome or "").partition(" -> ")
    return day.strip() if arrow else trail.delivery.delivery_date


# --- each kind of entry: (event type, its extra data), or None for an entry that yields no event --------


def _registered(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
    return "delivery.registered", {
        "code_required": bool(trail.delivery.code_required),
        "delivery_date": trail.delivery.delivery_date,
    }


def _code_issued(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
    delivery = trail.delivery
    current = delivery.issue_number is not None and int(delivery.issue_number) == entry["issue_number"]
    return "delivery.code_issued", {
        "issue_number": entry["issue_number"],
        "delivery_date": delivery.delivery_date,
        "valid_until": _epoch_utc(delivery.code_valid_until) if current else None,
        "reason": trail.reason(position),
    }


def _code_sent(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
    return "delivery.code_sent", {
        "issue_number": entry["issue_number"],
        "to": _to(entry["outcome"]),
        "resend": entry["outcome"] == "resend",
    }


def _undeliverable(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
    return "delivery.email_undeliverable", {"to": _to(entry["outcome"])}


def _verification(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]] | None:
    """A wrong code; any other verdict (a right code is its DELIVERED entry's event, a refusal changes
    nothing) yields none."""
    if entry["outcome"] != "REJECTED":
        return None
    return "delivery.wrong_code", {
        "wrong_attempts_left": trail.wrong_attempts_left(position, entry["issue_number"]),
        "courier_id": entry["actor"]["courier_id"],
        "device_id": entry["actor"]["device_id"],
    }


def _locked(kind: str) -> Callable[[_Trail, Entry, int], tuple[str, dict[str, Any]]]:
    def mapped(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
        return kind, {"wrong_attempts_left": trail.wrong_attempts_left(position, entry["issue_number"])}

    return mapped


def _attempt_failed(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
    at = datetime.fromisoformat(entry["at"])
    return "delivery.attempt_failed", {
        "outcome": entry["outcome"],
        "next_delivery_date": next_date(trail.delivery, at).isoformat(),
        "courier_id": entry["actor"]["courier_id"],
        "detail_code": DETAIL_CODES.get(entry["outcome"] or ""),
    }


def _rescheduled(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
    return "delivery.rescheduled", {"delivery_date": _new_day(entry["outcome"], trail)}


def _delivered(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
    delivery = trail.delivery
    # Issued at the handover itself, so the receipt (and the event) is the same however often it is derived.
    issued_at = int(datetime.fromisoformat(delivery.delivered_at or entry["at"]).timestamp())
    return "delivery.delivered", {
        "courier_id": entry["actor"]["courier_id"],
        "device_id": entry["actor"]["device_id"],
        "received_by": entry["outcome"] or RECIPIENT,
        "receipt": signed(delivery, issued_at)["receipt"],
        "detail_code": DELIVERED_DETAIL_CODE,
    }


def _plain(kind: str) -> Callable[[_Trail, Entry, int], tuple[str, dict[str, Any]]]:
    def mapped(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
        return kind, {}

    return mapped


def _delegate(kind: str) -> Callable[[_Trail, Entry, int], tuple[str, dict[str, Any]]]:
    def mapped(trail: _Trail, entry: Entry, position: int) -> tuple[str, dict[str, Any]]:
        return kind, {"delegate_id": entry["outcome"]}

    return mapped


MAPPERS: dict[str, Callable[[_Trail, Entry, int], tuple[str, dict[str, Any]] | None]] = {
    "REGISTERED": _registered,
    "CODE_ISSUED": _code_issued,
    "EMAIL_SENT": _code_sent,
    "EMAIL_UNDELIVERABLE": _undeliverable,
    "VERIFICATION": _verification,
    "LOCKED": _locked("delivery.locked"),
    "ON_HOLD": _locked("delivery.on_hold"),
    "ATTEMPT_FAILED": _attempt_failed,
    "RESCHEDULED": _rescheduled,
    "DELIVERED": _delivered,
    "CANCELLED": _plain("delivery.cancelled"),
    "RELEASED": _plain("delivery.released"),
    "RETURNED": _plain("delivery.returned"),
    "PERSONAL_DATA_ERASED": _plain("delivery.personal_data_erased"),
    "DELEGATE_ADDED": _delegate("delivery.delegate_added"),
    "DELEGATE_REVOKED": _delegate("delivery.delegate_revoked"),
    # COURIER_BLOCKED is `courier.blocked` (its own shape, below). No event: ASSIGNED, ALERT_SENT,
    # CODE_RESENT (its email is the `code_sent` with `resend`), ROTATED (its code's `code_issued` says so).
}
# Every type an entry can yield (`webhook.test` is not one: it never comes from the trail).
EVENT_TYPES = (
    "delivery.registered",
    "delivery.code_issued",
    "delivery.code_sent",
    "delivery.email_undeliverable",
    "delivery.wrong_code",
    "delivery.locked",
    "delivery.on_hold",
    "delivery.attempt_failed",
    "delivery.rescheduled",
    "delivery.delivered",
    "delivery.cancelled",
    "delivery.released",
    "delivery.returned",
    "delivery.personal_data_erased",
    "delivery.delegate_added",
    "delivery.delegate_revoked",
    "courier.blocked",
)


def event_id(delivery: DeliveryModel, position: int) -> str:
    """The id of the event from the entry at 0-based `position` of this delivery's trail."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{delivery.delivery_id}\n{delivery.created_at}\n{position + 1}"))


def _cloud_event(delivery: DeliveryModel, position: int, kind: str, subject: str, at: str, data: dict) -> dict:
    return {
        "specversion": SPECVERSION,
        "id": event_id(delivery, position),
        "source": SOURCE,
        "type": kind,
        "time": _utc(at),
        "subject": subject,
        "datacontenttype": CONTENT_TYPE,
        "data": data,
    }


def entry_event(trail: _Trail, position: int) -> dict[str, Any] | None:
    """The event of the entry at 0-based `position`, or None when a storefront has nothing to act on."""
    entry = trail.entries[position]
    delivery = trail.delivery
    if entry["type"] == "COURIER_BLOCKED":
        courier = entry["actor"]["courier_id"]
        data = {"courier_id": courier, "until": _utc(entry["outcome"]), "delivery_id": delivery.delivery_id}
        return _cloud_event(delivery, position, "courier.blocked", courier, entry["at"], data)
    mapper = MAPPERS.get(entry["type"])
    mapped = mapper(trail, entry, position) if mapper is not None else None
    if mapped is None:
        return None
    kind, extra = mapped
    data = {
        "delivery_id": delivery.delivery_id,
        "order_id": delivery.order_id,
        "status": delivery.status,
        "sequence": position + 1,
        **extra,
    }
    return _cloud_event(delivery, position, kind, delivery.delivery_id, entry["at"], data)


def events_of_delivery(delivery: DeliveryModel, first: int = 0) -> list[dict[str, Any]]:
    """The events of the entries from 0-based position `first` on (the ones a write added)."""
    trail = _Trail(delivery)
    return [e for position in range(first, len(trail.entries)) if (e := entry_event(trail, position)) is not None]


def events_of_record(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events of a stream record: one per audit entry its new image holds beyond its old image's
    trail, oldest first; none for a record of anything but a delivery, or one that added no entry."""
    change = record.get("dynamodb") or {}
    new = change.get("NewImage")
    if not new or not str(new.get("pk", {}).get("S", "")).startswith("D#"):
        return []
    old = change.get("OldImage") or {}
    before = len(old.get("events", {}).get("L", []))
    if len(new.get("events", {}).get("L", [])) <= before:
        return []
    return events_of_delivery(DeliveryModel.from_raw_data(dict(new)), before)
