"""One example of every integration event type, made by the product's own mapping
(delivery_otp.integration_events) from a made-up delivery's history, write by write as the table's
stream would carry it. docs/events.md quotes the output; a test keeps it current.

Run: python scripts/event_examples.py. Prints Markdown. The receipt in the delivered example is signed
with a key made up for this page, not the service's: check real ones against /.well-known/jwks.json.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START = datetime.fromisoformat("2026-11-23T09:00:00+01:00")
COURIER = ("courier-17", "device-3")


class _ExampleKey:
    def key(self) -> bytes:
        return b"an example key for docs/events.md, never a real one"


def _setup() -> None:
    sys.path.insert(0, str(ROOT / "layers" / "shared"))
    for name, value in {"TABLE_NAME": "deliveries", "CODE_KEY_SECRET_ID": "-", "EMAIL_SENDER": "a@example.com"}.items():
        os.environ.setdefault(name, value)
    from delivery_otp import wiring

    wiring.reset()
    wiring.override(receipt_keys=_ExampleKey())


def _history(delivery_id: str, steps: list[tuple[list[tuple], dict[str, Any]]]) -> list[dict[str, Any]]:
    """The events of each write in turn: (entries it adds, the item's attributes after it)."""
    from delivery_otp import audit, integration_events
    from delivery_otp.audit import Actor
    from delivery_otp.model import DeliveryModel

    item = DeliveryModel(
        f"D#{delivery_id}",
        delivery_id=delivery_id,
        order_id="402-1234567-1234567",
        request_hash="-",
        status="SCHEDULED",
        code_required=True,
        delivery_date="2026-11-23",
        timezone="Europe/Rome",
        country="IT",
        email="-",
        locale="it",
        amount="450.00",
        currency="EUR",
        created_at=START.isoformat(),
        events=[],
    )
    actors = {
        "storefront": Actor(audit.STOREFRONT),
        "system": Actor(audit.SYSTEM),
        "scheduler": Actor(audit.SCHEDULER),
        "courier": Actor(audit.COURIER, *COURIER),
    }
    found: list[dict[str, Any]] = []
    clock = START
    for entries, given in steps:
        state = dict(given)
        before = len(item.events)
        # A write's entries share its instant: the one given, else 7 minutes after the last write.
        clock = datetime.fromisoformat(state.pop("at")) if "at" in state else clock + timedelta(minutes=7)
        at = clock.isoformat()
        item.events = [*item.events, *(audit.AuditEvent(k, at, actors[a], i, o) for k, a, i, o in entries)]
        for name, value in state.items():
            setattr(item, name, value if value != "<at>" else at)
        found += integration_events.events_of_delivery(item, before)
    return found


def _valid_until(day: str) -> int:
    from zoneinfo import ZoneInfo

    end = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo("Europe/Rome")) + timedelta(days=1)
    return int(end.timestamp())


def examples() -> list[dict[str, Any]]:
    _setup()
    wrong = ("VERIFICATION", "courier", None, "REJECTED")

    def wrongs(issue: int, count: int) -> list[tuple]:
        return [(wrong[0], wrong[1], issue, wrong[3])] * count

    first = _history(
        "IT-2026-000123",
        [
            (
                [("REGISTERED", "storefront", None, None), ("CODE_ISSUED", "system", 1, None)],
                {"issue_number": 1, "code_valid_until": _valid_until("2026-11-23")},
            ),
            ([("EMAIL_SENT", "system", 1, None)], {}),
            ([("DELEGATE_ADDED", "storefront", None, "dlg-1")], {}),
            ([("EMAIL_SENT", "system", 1, "delegate:dlg-1")], {}),
            ([("CODE_RESENT", "storefront", 1, None)], {}),
            ([("EMAIL_SENT", "system", 1, "resend")], {}),
            *[([entry], {}) for entry in wrongs(1, 4)],
            ([*wrongs(1, 1), ("LOCKED", "system", 1, None)], {"status": "LOCKED", "code_valid_until": None}),
            (
                [
                    ("ROTATED", "scheduler", 2, "2026-11-23 -> 2026-11-24"),
                    ("CODE_ISSUED", "scheduler", 2, None),
                ],
                {
                    "at": "2026-11-23T23:15:00+00:00",
                    "status": "SCHEDULED",
                    "issue_number": 2,
                    "delivery_date": "2026-11-24",
                    "code_valid_until": _valid_until("2026-11-24"),
                },
            ),
            (
                [
                    ("RESCHEDULED", "storefront", 3, "2026-11-24 -> 2026-11-25"),
                    ("CODE_ISSUED", "storefront", 3, None),
                ],
                {"issue_number": 3, "delivery_date": "2026-11-25", "code_valid_until": _valid_until("2026-11-25")},
            ),
            ([("DELEGATE_REVOKED", "storefront", None, "dlg-1")], {}),
            (
                [("ATTEMPT_FAILED", "courier", 3, "RECIPIENT_UNAVAILABLE")],
                {"at": "2026-11-25T14:02:00+00:00", "status": "REQUEUED", "code_valid_until": None},
            ),
            (
                [
                    ("ROTATED", "scheduler", 4, "2026-11-25 -> 2026-11-26"),
                    ("CODE_ISSUED", "scheduler", 4, None),
                ],
                {
                    "at": "2026-11-25T23:15:00+00:00",
                    "status": "SCHEDULED",
                    "issue_number": 4,
                    "delivery_date": "2026-11-26",
                    "code_valid_until": _valid_until("2026-11-26"),
                },
            ),
            (
                [("VERIFICATION", "courier", None, "ACCEPTED"), ("DELIVERED", "courier", None, None)],
                {
                    "at": "2026-11-26T10:41:00+00:00",
                    "status": "DELIVERED",
                    "delivered_at": "<at>",
                    "delivered_issue": 4,
                    "received_by": "recipient",
                    "code_valid_until": None,
                },
            ),
        ],
    )
    second = _history(
        "IT-2026-000124",
        [
            (
                [("REGISTERED", "storefront", None, None), ("CODE_ISSUED", "system", 1, None)],
                {"issue_number": 1, "code_valid_until": _valid_until("2026-11-23")},
            ),
            ([("EMAIL_UNDELIVERABLE", "system", None, "Permanent")], {"email_undeliverable": True}),
            ([*wrongs(1, 5), ("LOCKED", "system", 1, None)], {"status": "LOCKED"}),
            (
                [("ROTATED", "scheduler", 2, "2026-11-23 -> 2026-11-24"), ("CODE_ISSUED", "scheduler", 2, None)],
                {
                    "at": "2026-11-24T07:30:00+00:00",
                    "status": "SCHEDULED",
                    "issue_number": 2,
                    "delivery_date": "2026-11-24",
                },
            ),
            ([*wrongs(2, 4)], {}),
            (
                [
                    *wrongs(2, 1),
                    ("ON_HOLD", "system", 2, None),
                    ("COURIER_BLOCKED", "courier", 2, "2026-11-25T08:14:00+00:00"),
                ],
                {"status": "ON_HOLD", "code_valid_until": None},
            ),
        ],
    )
    third = _history(
        "IT-2026-000125",
        [
            ([("REGISTERED", "storefront", None, None), ("CODE_ISSUED", "system", 1, None)], {"issue_number": 1}),
            ([("CANCELLED", "storefront", None, None)], {"status": "CANCELLED", "code_valid_until": None}),
        ],
    )
    # Kinds of entry no route records yet; their events are ready for when one does.
    reserved = _history(
        "IT-2026-000126",
        [
            ([("REGISTERED", "storefront", None, None)], {}),
            ([("RELEASED", "storefront", None, None)], {}),
            ([("RETURNED", "system", None, None)], {}),
            ([("PERSONAL_DATA_ERASED", "system", None, None)], {}),
        ],
    )
    return [*first, *second, *third, *reserved]


def report() -> str:
    every = examples()
    from delivery_otp.integration_events import EVENT_TYPES

    lines: list[str] = []
    for kind in EVENT_TYPES:
        example = next(e for e in every if e["type"] == kind)
        lines += [f"### `{kind}`", "", "```json", json.dumps(example, indent=2), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(), end="")
