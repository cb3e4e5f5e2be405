"""Code emails, driven by the table's stream: a new issue number on a delivery means a new code to send.

The stream carries no code (only the nonce and a keyed MAC), so the sender re-derives it. Sending is
at-least-once per issue and guarded so it is never twice in practice: the items are re-read before
sending (a newer issue or an already-sent mark skips them) and each mark is a conditional write after
SES accepted the message. A stream batch is sent in bulk: 50 recipients per SES call. A send that
fails is reported, so its record is retried and, in the end, parked in the dead-letter queue: never
lost silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from delivery_otp import audit, codes
from delivery_otp.audit import Actor
from delivery_otp.email_render import render_code_email
from delivery_otp.errors import DependencyUnavailable
from delivery_otp.model import DeliveryModel, delegate_entries
from delivery_otp.service import ROTATION_BATCH, code_is_live
from delivery_otp.wiring import adapters


def _number(image: dict[str, Any], name: str) -> int:
    value = image.get(name, {})
    return int(value.get("N", "0")) if isinstance(value, dict) else 0


Target = tuple[str, int, int]  # (delivery id, issue number, resend sequence)
# One email to send: (delivery, issue, resend sequence, None for the recipient or a delegate id).
Message = tuple[DeliveryModel, int, int, str | None]


def issue_to_email(record: dict[str, Any]) -> Target | None:
    """What to email when this stream record issued a new code or asked for the live one again."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    change = record.get("dynamodb", {})
    new = change.get("NewImage") or {}
    old = change.get("OldImage") or {}
    if not new.get("pk", {}).get("S", "").startswith("D#"):
        return None
    issue = _number(new, "issue_number")
    resend = _number(new, "resend_seq")
    named = _number(new, "delegate_count") > _number(old, "delegate_count")  # a delegate to send the code to
    if issue == 0 or (issue <= _number(old, "issue_number") and resend <= _number(old, "resend_seq") and not named):
        return None
    return new["delivery_id"]["S"], issue, resend


def _mailable(item: DeliveryModel, suppressed: set[str]) -> bool:
    """Not an address that bounced or complained (SPEC 6): it is not mailed again."""
    return not item.email_undeliverable and item.email.strip().lower() not in suppressed


def _still_to_send(item: DeliveryModel, issue: int, resend: int, now: datetime) -> bool:
    if int(item.issue_number) != issue or not code_is_live(item, now):
        return False
    return int(item.emailed_issue or 0) < issue or int(item.emailed_resend or 0) < resend


def _rendered(found: DeliveryModel, issue: int, now: datetime, delegate: str | None = None) -> dict[str, str]:
    key = adapters().keys.key()
    nonce = found.code_nonce or ""
    entry: dict[str, Any] = {}
    if delegate is None:
        code = codes.derive_code(key, found.delivery_id, issue, nonce)
    else:
        code = codes.delegate_codes(key, found.delivery_id, issue, nonce, int(found.delegate_count or 0))[delegate]
        entry = delegate_entries(found)[delegate]
    zone = ZoneInfo(found.timezone)
    rendered = render_code_email(
        locale=entry.get("locale") or found.locale,
        code=code,
        recipient_name=entry.get("name") if delegate else found.recipient_name,
        delivery_id=found.delivery_id,
        order_id=found.order_id,
        delivery_date=datetime.fromisoformat(found.delivery_date).date(),
        valid_until=datetime.fromtimestamp(found.code_valid_until, zone),
        # A delegate named after the code was issued gets it as a first code, not as a replacement.
        reason="issued" if issue == 1 or (delegate is not None and not entry.get("emailed_issue")) else "rotated",
        delegate_of=(found.recipient_name or "") if delegate is not None else None,
    )
    # `sent_at` is not in the template: SES ignores it; the local mailbox shows it.
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html, "sent_at": now.isoformat()}


def _delegates_to_send(item: DeliveryModel, suppressed: set[str], now: datetime) -> list[str]:
    """The live delegates who have not yet been sent the current issue's code (none when it is not live)."""
    entries = delegate_entries(item)
    if not code_is_live(item, now) or not entries:
        return []
    issue = int(item.issue_number)
    return [
        who
        for who in sorted(item.live_delegates or (), key=codes.delegate_number)
        if who in entries
        and int(entries[who].get("emailed_issue") or 0) < issue
        and not entries[who].get("email_undeliverable")
        and str(entries[who].get("email", "")).strip().lower() not in suppressed
    ]


def send_code_emails(targets: list[Target]) -> list[Target]:
    """Email each (delivery, issue) whose code is still the live one and not yet sent, in bulk.

    One BatchGetItem for the items, SendBulkTemplatedEmail for 50 recipients a call, one transaction
    of conditional marks per 100. Returns the targets whose email could not be sent (to retry);
    raises when a store is unreachable, so the whole batch is retried and nothing is marked unsent.
    """
    import os

    if not targets:
        return []
    repository = adapters().deliveries
    # One email per delivery however many of its records the batch holds (a new code and a resend
    # of it just after are one email): the latest issue and resend, and one mark.
    latest: dict[str, tuple[int, int]] = {}
    for delivery_id, issue, resend in targets:
        latest[delivery_id] = max(latest.get(delivery_id, (0, 0)), (issue, resend))
    found = repository.get_many(list(latest))
    now = adapters().clock.now()
    addresses = [item.email for item in found.values()]
    for item in found.values():
        addresses += [str(entry.get("email", "")) for entry in delegate_entries(item).values()]
    suppressed = adapters().suppression.suppressed(addresses)
    due: list[Message] = []
    for delivery_id, (issue, resend) in latest.items():
        item = found.get(delivery_id)
        if item is None:
            continue
        if _mailable(item, suppressed) and _still_to_send(item, issue, resend, now):
            due.append((item, issue, resend, None))
        current = int(item.issue_number)
        due += [(item, current, 0, who) for who in _delegates_to_send(item, suppressed, now)]
    if not due:
        return []
    accepted = adapters().mailer.send_bulk(
        os.environ["CODE_EMAIL_TEMPLATE"],
        [(_address(item, who), _rendered(item, issue, now, who)) for item, issue, _, who in due],
        [{"delivery": item.delivery_id, **({"delegate": who} if who else {})} for item, _, _, who in due],
    )
    sent = [target for target, ok in zip(due, accepted, strict=True) if ok]
    marks = [_marks(item_sent) for item_sent in _by_delivery(sent)]
    for start in range(0, len(marks), ROTATION_BATCH):
        repository.update_many(marks[start : start + ROTATION_BATCH])
    failed = {
        (item.delivery_id, issue, resend) for (item, issue, resend, _), ok in zip(due, accepted, strict=True) if not ok
    }
    return sorted(failed)


def _address(item: DeliveryModel, delegate: str | None) -> str:
    return item.email if delegate is None else str(delegate_entries(item)[delegate]["email"])


def _by_delivery(
    sent: list[Message],
) -> list[list[Message]]:
    groups: dict[str, list[Message]] = {}
    for target in sent:
        groups.setdefault(target[0].delivery_id, []).append(target)
    return list(groups.values())


def _marks(sent: list[Message]) -> tuple[str, list[Any], Any]:
    """One conditional write per delivery (a transaction may touch an item once) marking every message
    of it that SES took: the recipient's mark and each delegate's, with an EMAIL_SENT event each."""
    item = sent[0][0]
    now = adapters().clock.now()
    system = Actor(audit.SYSTEM)
    actions: list[Any] = []
    events = []
    condition = DeliveryModel.issue_number == int(item.issue_number)
    for _, issue, resend, who in sent:
        if who is None:
            actions += [DeliveryModel.emailed_issue.set(issue), DeliveryModel.emailed_resend.set(resend)]
            condition &= (
                (DeliveryModel.emailed_issue < issue)
                | DeliveryModel.emailed_resend.does_not_exist()
                | (DeliveryModel.emailed_resend < resend)
            )
            events.append(audit.event("EMAIL_SENT", now, system, issue_number=issue))
        else:
            # Only this field: a revocation meanwhile must keep its own mark on the entry.
            actions.append(DeliveryModel.delegates[who]["emailed_issue"].set(issue))
            condition &= DeliveryModel.delegates[who].exists()
            events.append(audit.event("EMAIL_SENT", now, system, issue_number=issue, outcome=f"delegate:{who}"))
    return item.delivery_id, [*actions, audit.record(*events)], condition


def send_code_email(delivery_id: str, issue: int) -> bool:
    """Email the code of `issue` if it is still the live one and not yet sent. True when sent."""
    found = adapters().deliveries.get(delivery_id)
    now = adapters().clock.now()
    resend = int(found.resend_seq or 0) if found is not None else 0
    if found is None or not _still_to_send(found, issue, resend, now):
        return False
    if send_code_emails([(delivery_id, issue, resend)]):
        raise DependencyUnavailable("the mail service did not accept the message")
    return True


# --- wrong-code alerts (SPEC 6) ---------------------------------------------------------------------


def alert_to_send(record: dict[str, Any]) -> tuple[str, int] | None:
    """(delivery id, issue) when this record is the first wrong code entered against that code."""
    if record.get("eventName") != "MODIFY":
        return None
    change = record.get("dynamodb", {})
    new, old = change.get("NewImage") or {}, change.get("OldImage") or {}
    if not new.get("pk", {}).get("S", "").startswith("D#"):
        return None
    issue = _number(new, "wrong_alert_issue")
    if issue == 0 or issue <= _number(old, "wrong_alert_issue"):
        return None
    return new["delivery_id"]["S"], issue


def send_wrong_code_alerts(targets: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Alert each recipient once per code; returns the targets SES did not take (to retry)."""
    import os

    from delivery_otp.alert_render import render_wrong_code_alert

    if not targets:
        return []
    latest: dict[str, int] = {}
    for delivery_id, issue in targets:
        latest[delivery_id] = max(latest.get(delivery_id, 0), issue)
    repository = adapters().deliveries
    found = repository.get_many(list(latest))
    now = adapters().clock.now()
    suppressed = adapters().suppression.suppressed([item.email for item in found.values()])
    due = []
    for delivery_id, issue in latest.items():
        item = found.get(delivery_id)
        if (
            item is not None
            and _mailable(item, suppressed)
            and int(item.alerted_issue or 0) < issue <= int(item.wrong_alert_issue or 0)
        ):
            due.append((item, issue))
    if not due:
        return []
    messages = []
    for item, _ in due:
        zone = ZoneInfo(item.timezone)
        rejected = [e.at for e in item.events if e.type == "VERIFICATION" and e.outcome == "REJECTED"]
        attempted = datetime.fromisoformat(rejected[-1]) if rejected else now
        rendered = render_wrong_code_alert(
            locale=item.locale,
            recipient_name=item.recipient_name,
            delivery_id=item.delivery_id,
            order_id=item.order_id,
            delivery_date=datetime.fromisoformat(item.delivery_date).date(),
            attempted_at=attempted.astimezone(zone),
        )
        data = {"subject": rendered.subject, "text": rendered.text, "html": rendered.html, "sent_at": now.isoformat()}
        messages.append((item.email, data))
    accepted = adapters().mailer.send_bulk(
        os.environ["CODE_EMAIL_TEMPLATE"], messages, [{"delivery": item.delivery_id} for item, _ in due]
    )
    sent = [target for target, ok in zip(due, accepted, strict=True) if ok]
    system = Actor(audit.SYSTEM)
    for start in range(0, len(sent), ROTATION_BATCH):
        repository.update_many(
            [
                (
                    item.delivery_id,
                    [
                        DeliveryModel.alerted_issue.set(issue),
                        audit.record(audit.event("ALERT_SENT", now, system, issue_number=issue)),
                    ],
                    DeliveryModel.alerted_issue.does_not_exist() | (DeliveryModel.alerted_issue < issue),
                )
                for item, issue in sent[start : start + ROTATION_BATCH]
            ]
        )
    return [(item.delivery_id, issue) for (item, issue), ok in zip(due, accepted, strict=True) if not ok]
