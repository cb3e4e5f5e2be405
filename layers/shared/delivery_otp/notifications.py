"""Code emails, driven by the table's stream: a new issue number on a delivery means a new code to send.

The stream carries no code (only the nonce and a keyed MAC), so the sender re-derives it. Sending is
at-least-once per issue and guarded so it is never twice in practice: the item is re-read before
sending (a newer issue or an already-sent mark skips it) and the mark is one conditional write after
SES accepted the message. A send that fails raises, so the record is retried and, in the end, parked in
the dead-letter queue: never lost silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from delivery_otp import audit, codes
from delivery_otp.audit import Actor
from delivery_otp.email_render import build_mime, render_code_email
from delivery_otp.model import DeliveryModel
from delivery_otp.service import code_is_live
from delivery_otp.wiring import adapters


def _number(image: dict[str, Any], name: str) -> int:
    value = image.get(name, {})
    return int(value.get("N", "0")) if isinstance(value, dict) else 0


def issue_to_email(record: dict[str, Any]) -> tuple[str, int] | None:
    """(delivery id, issue number) when this stream record issued a new code, else None."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    change = record.get("dynamodb", {})
    new = change.get("NewImage") or {}
    old = change.get("OldImage") or {}
    if not new.get("pk", {}).get("S", "").startswith("D#"):
        return None
    issue = _number(new, "issue_number")
    if issue == 0 or issue <= _number(old, "issue_number"):
        return None
    return new["delivery_id"]["S"], issue


def send_code_email(delivery_id: str, issue: int) -> bool:
    """Email the code of `issue` if it is still the live one and not yet sent. True when sent."""
    found = adapters().deliveries.get(delivery_id)
    now = adapters().clock.now()
    if (
        found is None
        or int(found.issue_number) != issue
        or int(found.emailed_issue or 0) >= issue
        or not code_is_live(found, now)
    ):
        return False
    code = codes.derive_code(adapters().keys.key(), delivery_id, issue, found.code_nonce or "")
    zone = ZoneInfo(found.timezone)
    rendered = render_code_email(
        locale=found.locale,
        code=code,
        recipient_name=found.recipient_name,
        delivery_id=found.delivery_id,
        order_id=found.order_id,
        delivery_date=datetime.fromisoformat(found.delivery_date).date(),
        valid_until=datetime.fromtimestamp(found.code_valid_until, zone),
        reason="issued" if issue == 1 else "rotated",
    )
    mailer = adapters().mailer
    mailer.send(found.email, build_mime(sender=mailer.sender, to=found.email, email=rendered, sent_at=now))
    adapters().deliveries.update(
        delivery_id,
        [
            DeliveryModel.emailed_issue.set(issue),
            audit.record(audit.event("EMAIL_SENT", now, Actor(audit.SYSTEM), issue_number=issue)),
        ],
        (DeliveryModel.emailed_issue < issue) & (DeliveryModel.issue_number == issue),
    )
    return True
