"""Code emails, driven by the table's stream: a record only says which delivery to look at; what is owed
is read from the delivery itself (one strongly consistent BatchGetItem for the batch).

The stream carries no code (only the nonce and a keyed MAC), so the sender re-derives it. Owed:
- to the recipient, the live issue's email until `emailed_issue` reaches it, and one email for each
  resend until `emailed_resend` reaches `resend_seq`: each resend has its own number, so resends are
  never merged however close together. These are marked after SES took them (at least once: only a send
  whose mark was lost with SES's answer goes out again).
- to each live delegate, the live issue's email. It is claimed before it reaches SES: one conditional
  write per delivery, on condition that the delegate is still live and the issue number the one read,
  records its EMAIL_SENT and a lease (`sending_until`). A delegate revoked before that write is never
  mailed; one revoked after it was mailed before the revocation, as the trail says. Once SES took it,
  `emailed_issue` is set and the lease removed; a send SES refused releases its lease at once, and a
  lease left by a sender that died runs out, so the retried record sends it again.

Nothing is owed to a delivery whose personal data was erased (see `erasure`): it has no address left.

Wrong-code alerts go to the recipient once per code (`alerted_issue` marks it, after SES took it).

Both kinds run one pipeline (`_send`): read the batch's deliveries in one BatchGetItem and their
addresses' suppressions in another, plan what each is owed (a kind's own rule), claim what must be
claimed before SES (delegates' code emails only), render, send in bulk (50 recipients per SES call),
then mark in conditional writes of 100. A send that fails is reported, so its record is retried and,
in the end, parked in the dead-letter queue: never lost silently.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from delivery_otp import audit, codes, links
from delivery_otp.audit import Actor
from delivery_otp.config import settings
from delivery_otp.deliveries import code_is_live, epoch
from delivery_otp.email_render import render_code_email
from delivery_otp.errors import DependencyUnavailable
from delivery_otp.issuing import shards
from delivery_otp.model import RECIPIENT, SCHEDULED, WRITES_PER_TRANSACTION, DeliveryModel, delegate_entries
from delivery_otp.wiring import adapters

# A delegate's claimed send not confirmed within this long was abandoned by a sender that died (the
# email function's timeout is shorter, template.yaml), so another sender may take it over.
LEASE_SECONDS = 120
# Claims refused because the delivery changed between the read and the claim are planned again on a
# fresh read this many times; then the record is reported and retried.
CLAIM_ROUNDS = 3

Target = tuple[str, int, int]  # (delivery id, issue number, resend sequence) of a stream record
AlertTarget = tuple[str, int]  # (delivery id, issue number) of a stream record


@dataclass(frozen=True)
class Message:
    """One email: the recipient's (`resend` numbers a resend) or a delegate's (`delegate`)."""

    delivery_id: str
    issue: int
    delegate: str | None = None
    resend: int | None = None
    # A delegate's send claimed by an earlier sender that did not finish: claimed (and recorded) already.
    taken_over: bool = False


@dataclass(frozen=True)
class Plan:
    """What one delivery is owed, as read."""

    item: DeliveryModel
    recipient: list[Message] = field(default_factory=list)
    delegates: list[Message] = field(default_factory=list)
    # A delegate's send is leased by another sender still within its lease: look again later.
    waiting: bool = False
    lease: int | None = None  # the lease of this sender's claim, once made

    @property
    def messages(self) -> list[Message]:
        return [*self.recipient, *self.delegates]


# --- stream records -----------------------------------------------------------------------------------


def _changed_delivery(record: Mapping[str, Any]) -> tuple[DynamoDBRecordEventName, dict, dict] | None:
    """(event name, new image, old image) of a stream record that changed a delivery, the images as
    DynamoDB attribute values; None for any other record. Only a few numbers of the images are read, so
    they are not converted whole (a delivery's image holds its whole audit trail)."""
    parsed = DynamoDBRecord(dict(record))
    change = parsed.raw_event.get("dynamodb") or {}
    new, old = change.get("NewImage") or {}, change.get("OldImage") or {}
    if parsed.event_name is None or not new.get("pk", {}).get("S", "").startswith("D#"):
        return None
    return parsed.event_name, new, old


def _number(image: dict[str, Any], name: str) -> int:
    value = image.get(name)
    return int(value.get("N", "0")) if isinstance(value, dict) else 0


def issue_to_email(record: Mapping[str, Any]) -> Target | None:
    """What to email when this stream record issued a new code or asked for the live one again."""
    changed = _changed_delivery(record)
    if changed is None:
        return None
    event, new, old = changed
    if event not in (DynamoDBRecordEventName.INSERT, DynamoDBRecordEventName.MODIFY):
        return None
    issue = _number(new, "issue_number")
    resend = _number(new, "resend_seq")
    named = _number(new, "delegate_count") > _number(old, "delegate_count")  # a delegate to send the code to
    if issue == 0 or (issue <= _number(old, "issue_number") and resend <= _number(old, "resend_seq") and not named):
        return None
    return new["delivery_id"]["S"], issue, resend


def alert_to_send(record: Mapping[str, Any]) -> AlertTarget | None:
    """(delivery id, issue) when this record is the first wrong code entered against that code."""
    changed = _changed_delivery(record)
    if changed is None:
        return None
    event, new, old = changed
    if event is not DynamoDBRecordEventName.MODIFY:
        return None
    issue = _number(new, "wrong_alert_issue")
    if issue == 0 or issue <= _number(old, "wrong_alert_issue"):
        return None
    return new["delivery_id"]["S"], issue


# --- the pipeline both kinds run ----------------------------------------------------------------------


class _Kind(Protocol):
    """What differs between code emails and wrong-code alerts; `_send` does the rest."""

    def addresses(self, item: DeliveryModel) -> list[str]:
        """The addresses this kind may mail for the delivery: their suppressions are read."""
        ...

    def owed(self, item: DeliveryModel, suppressed: set[str], now: datetime) -> Plan:
        """What the delivery is owed now, as read."""
        ...

    def claim(self, plans: dict[str, Plan], now: datetime) -> tuple[dict[str, Plan], set[str]]:
        """The plans as claimed before SES, and the deliveries whose claim was refused (read again)."""
        ...

    def render(self, item: DeliveryModel, message: Message, now: datetime) -> dict[str, str]:
        """The template data of one message."""
        ...

    def mark(self, plans: list[Plan], accepted: dict[Message, bool], now: datetime) -> None:
        """Record, in conditional writes, what SES took (and release what it did not)."""
        ...


def _page_link(key: bytes, item: DeliveryModel, holder: str) -> str | None:
    """The holder's page link, derived again (the same for every email of the holder until a new salt)."""
    base = settings().public_base_url
    return links.holder_url(base, key, item, holder) if base else None


def _template_data(rendered: Any, now: datetime) -> dict[str, str]:
    # `sent_at` is not in the template: SES ignores it; the local mailbox shows it.
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html, "sent_at": now.isoformat()}


def _address(item: DeliveryModel, delegate: str | None) -> str:
    return str(item.email) if delegate is None else str(delegate_entries(item)[delegate]["email"])


def _mailable(item: DeliveryModel, suppressed: set[str]) -> bool:
    """Not an address that bounced or complained (it is not mailed again), nor one erased."""
    return (
        not item.personal_data_erased
        and item.email is not None
        and not item.email_undeliverable
        and item.email.strip().lower() not in suppressed
    )


def _addresses(item: DeliveryModel, delegates: bool) -> list[str]:
    """The addresses the delivery still holds (none once its personal data is erased)."""
    entries = delegate_entries(item).values() if delegates else ()
    return [a for a in (item.email, *(entry.get("email") for entry in entries)) if a]


def _planned(kind: _Kind, delivery_ids: list[str], now: datetime) -> tuple[list[Plan], set[str]]:
    """Each delivery's plan, claimed as its kind needs; and the deliveries whose claim could not be made
    (they changed under every try): what they owe waits for the record's retry."""
    repository = adapters().deliveries
    plans: dict[str, Plan] = {}
    pending = delivery_ids
    for _ in range(CLAIM_ROUNDS):
        found = repository.get_many(pending)
        addresses = [address for item in found.values() for address in kind.addresses(item)]
        suppressed = adapters().suppression.suppressed(addresses)
        claimed, refused = kind.claim(
            {delivery_id: kind.owed(item, suppressed, now) for delivery_id, item in found.items()}, now
        )
        plans |= claimed
        pending = sorted(refused)
        if not pending:
            break
    # In the records' order (the store answers in its own), so the messages go out in that order.
    return [plans[i] for i in delivery_ids if i in plans], set(pending)


def _send(kind: _Kind, delivery_ids: list[str]) -> set[str]:
    """Mail what these deliveries are owed, in bulk; the deliveries to report (SES did not take all of
    theirs, a claim could not be made, or another sender's lease still runs). Raises when a store or SES
    is unreachable, so the whole batch is retried (its claims released first)."""
    now = adapters().clock.now()
    plans, unclaimed = _planned(kind, delivery_ids, now)
    due = [(plan.item, message) for plan in plans for message in plan.messages]
    accepted: dict[Message, bool] = {}
    if due:
        try:  # the code key is needed to render a code: unreachable, it fails the batch like SES
            took = adapters().mailer.send_bulk(
                settings().need("code_email_template"),
                [(_address(item, m.delegate), kind.render(item, m, now)) for item, m in due],
                [{"delivery": m.delivery_id, **({"delegate": m.delegate} if m.delegate else {})} for _, m in due],
            )
        except DependencyUnavailable:
            _release(kind, plans, now)
            raise
        accepted = {message: ok for (_, message), ok in zip(due, took, strict=True)}
        kind.mark(plans, accepted, now)
    failed = unclaimed | {plan.item.delivery_id for plan in plans if plan.waiting}
    return failed | {message.delivery_id for message, ok in accepted.items() if not ok}


def _release(kind: _Kind, plans: list[Plan], now: datetime) -> None:
    """SES could not be reached: the batch is settled as if SES took nothing, so claims are released and
    the retry sends at once (best effort: a claim that cannot be released runs out)."""
    try:
        kind.mark(plans, {message: False for plan in plans for message in plan.messages}, now)
    except DependencyUnavailable:
        pass


# --- code emails ----------------------------------------------------------------------------------------


def _and(condition: Any, more: Any) -> Any:
    if condition is None or more is None:
        return more if condition is None else condition
    return condition & more


@dataclass
class _Write:
    """Update actions, audit events and a condition on one delivery, to merge into one UpdateItem."""

    actions: list[Any] = field(default_factory=list)
    events: list[audit.AuditEvent] = field(default_factory=list)
    condition: Any = None

    def __bool__(self) -> bool:
        return bool(self.actions)

    def request(self, delivery_id: str) -> tuple[str, list[Any], Any]:
        actions = [*self.actions, audit.record(*self.events)] if self.events else list(self.actions)
        return delivery_id, actions, self.condition


def _claim(plan: Plan, lease: int, now: datetime) -> _Write:
    """The delegates' sends claimed and recorded: only while each is live and the issue number is the one read."""
    item = plan.item
    issue = int(item.issue_number)
    write = _Write(
        condition=(DeliveryModel.issue_number == issue)
        & (DeliveryModel.status == SCHEDULED)
        & (DeliveryModel.code_valid_until > epoch(now))
    )
    entries = delegate_entries(item)
    system = Actor(audit.SYSTEM)
    for message in plan.delegates:
        who = message.delegate
        assert who is not None
        entry = DeliveryModel.delegates[who]
        write.condition &= DeliveryModel.live_delegates.contains(who)
        if message.taken_over:
            write.condition &= entry["sending_until"] == int(entries[who]["sending_until"])
        else:
            read = entries[who].get("sending_issue")
            write.condition &= (
                entry["sending_issue"].does_not_exist() if read is None else entry["sending_issue"] == int(read)
            )
            write.actions.append(entry["sending_issue"].set(issue))
            write.events.append(audit.event("EMAIL_SENT", now, system, issue_number=issue, outcome=f"delegate:{who}"))
        write.actions.append(entry["sending_until"].set(lease))
    return write


def _recipient_marks(plan: Plan, accepted: dict[Message, bool], now: datetime) -> _Write:
    """The recipient's emails SES took: the issue's, and the resends up to the first it did not take."""
    write = _Write()
    system = Actor(audit.SYSTEM)
    issued = [m for m in plan.recipient if m.resend is None and accepted[m]]
    for message in issued:
        write.actions.append(DeliveryModel.emailed_issue.set(message.issue))
        write.condition = _and(
            write.condition,
            DeliveryModel.emailed_issue.does_not_exist() | (DeliveryModel.emailed_issue < message.issue),
        )
        write.events.append(audit.event("EMAIL_SENT", now, system, issue_number=message.issue))
    resends = [m for m in plan.recipient if m.resend is not None]
    sent = list(itertools.takewhile(lambda m: accepted[m], resends))
    if sent:
        read = plan.item.emailed_resend
        write.actions.append(DeliveryModel.emailed_resend.set(sent[-1].resend))
        write.condition = _and(
            write.condition,
            DeliveryModel.emailed_resend.does_not_exist()
            if read is None
            else DeliveryModel.emailed_resend == int(read),
        )
        write.events += [audit.event("EMAIL_SENT", now, system, issue_number=m.issue, outcome="resend") for m in sent]
    return write


def _settled_claims(plan: Plan, accepted: dict[Message, bool]) -> _Write:
    """Each claimed send confirmed (SES took it) or released for the retry (SES did not), if still ours."""
    write = _Write()
    for message in plan.delegates:
        entry = DeliveryModel.delegates[message.delegate]
        write.condition = _and(write.condition, entry["sending_until"] == plan.lease)
        if accepted[message]:
            write.actions += [entry["emailed_issue"].set(message.issue), entry["sending_until"].remove()]
        else:
            write.actions.append(entry["sending_until"].set(0))
    return write


class _CodeEmails:
    """The live code to the recipient (the issue's email and each resend) and to each live delegate."""

    def addresses(self, item: DeliveryModel) -> list[str]:
        return _addresses(item, delegates=True)

    def owed(self, item: DeliveryModel, suppressed: set[str], now: datetime) -> Plan:
        """Every email the delivery is owed now (none while no code is live: a resend asked for
        meanwhile goes out with the next live code), and none once its personal data is erased."""
        if item.personal_data_erased or not code_is_live(item, now):
            return Plan(item)
        issue = int(item.issue_number)
        recipient: list[Message] = []
        if _mailable(item, suppressed):
            if int(item.emailed_issue or 0) < issue:
                recipient.append(Message(item.delivery_id, issue))
            done, asked = int(item.emailed_resend or 0), int(item.resend_seq or 0)
            recipient += [Message(item.delivery_id, issue, resend=n) for n in range(done + 1, asked + 1)]
        delegates: list[Message] = []
        waiting = False
        entries = delegate_entries(item)
        for who in sorted(item.live_delegates or (), key=codes.delegate_number):
            entry = entries.get(who)
            if (
                entry is None
                or entry.get("email_undeliverable")
                or str(entry.get("email", "")).strip().lower() in suppressed
                or int(entry.get("emailed_issue") or 0) >= issue
            ):
                continue
            lease = entry.get("sending_until")
            if int(entry.get("sending_issue") or 0) < issue:
                delegates.append(Message(item.delivery_id, issue, who))
            elif lease is not None and int(lease) <= epoch(now):
                delegates.append(Message(item.delivery_id, issue, who, taken_over=True))
            elif lease is not None:
                waiting = True
        return Plan(item, recipient, delegates, waiting)

    def claim(self, plans: dict[str, Plan], now: datetime) -> tuple[dict[str, Plan], set[str]]:
        """The delegates' sends claimed, one conditional write per delivery in transactions of 100. A
        refused claim keeps the recipient's emails; the delegates' wait for a fresh read."""
        repository = adapters().deliveries
        lease = epoch(now) + LEASE_SECONDS
        claims = [(delivery_id, plan) for delivery_id, plan in plans.items() if plan.delegates]
        applied = repository.update_many([_claim(plan, lease, now).request(i) for i, plan in claims])
        refused = {delivery_id for (delivery_id, _), ok in zip(claims, applied, strict=True) if not ok}
        claimed = {
            delivery_id: replace(plan, delegates=[]) if delivery_id in refused else replace(plan, lease=lease)
            for delivery_id, plan in plans.items()
        }
        return claimed, refused

    def render(self, item: DeliveryModel, message: Message, now: datetime) -> dict[str, str]:
        key = adapters().keys.key()
        nonce = item.code_nonce or ""
        issue, delegate = message.issue, message.delegate
        entry: dict[str, Any] = {}
        if delegate is None:
            code = codes.derive_code(key, item.delivery_id, issue, nonce)
        else:
            code = codes.delegate_codes(key, item.delivery_id, issue, nonce, int(item.delegate_count or 0))[delegate]
            entry = delegate_entries(item)[delegate]
        zone = ZoneInfo(item.timezone)
        rendered = render_code_email(
            locale=entry.get("locale") or item.locale,
            code=code,
            recipient_name=entry.get("name") if delegate else item.recipient_name,
            delivery_id=item.delivery_id,
            order_id=item.order_id,
            delivery_date=datetime.fromisoformat(item.delivery_date).date(),
            valid_until=datetime.fromtimestamp(item.code_valid_until, zone),
            # A delegate who never got a code gets this one as a first code, not as a replacement.
            reason="issued" if issue == 1 or (delegate is not None and not entry.get("emailed_issue")) else "rotated",
            delegate_of=(item.recipient_name or "") if delegate is not None else None,
            page_link=_page_link(key, item, delegate or RECIPIENT),
        )
        return _template_data(rendered, now)

    def mark(self, plans: list[Plan], accepted: dict[Message, bool], now: datetime) -> None:
        """One conditional write per delivery (its marks and its claims settled); when the marks'
        condition fails (another sender marked them), the claims are settled alone."""
        repository = adapters().deliveries
        parts = [
            (plan.item.delivery_id, _recipient_marks(plan, accepted, now), _settled_claims(plan, accepted))
            for plan in plans
        ]
        writes = []
        for delivery_id, marks, claims in parts:
            if marks or claims:
                merged = _Write(marks.actions + claims.actions, marks.events, _and(marks.condition, claims.condition))
                writes.append((delivery_id, merged, claims if marks and claims else None))
        applied = repository.update_many([merged.request(i) for i, merged, _ in writes])
        alone = [claims.request(i) for (i, _, claims), ok in zip(writes, applied, strict=True) if not ok and claims]
        if alone:
            repository.update_many(alone)


def send_code_emails(targets: list[Target]) -> list[Target]:
    """Email what each delivery of these records is owed, in bulk.

    One BatchGetItem for the items, a transaction of delegate claims per 100 deliveries when delegates
    are owed an email, SendBulkTemplatedEmail for 50 recipients a call, one transaction of conditional
    marks per 100. Returns the targets whose emails could not all be sent (to retry); raises when a
    store or SES is unreachable, so the whole batch is retried (its claims released first).
    """
    if not targets:
        return []
    failed = _send(_CodeEmails(), list(dict.fromkeys(delivery_id for delivery_id, _, _ in targets)))
    return sorted({target for target in targets if target[0] in failed})


def send_code_email(delivery_id: str, issue: int) -> bool:
    """Email what the delivery is owed if `issue` is still its live one. True when something was sent."""
    found = adapters().deliveries.get(delivery_id)
    now = adapters().clock.now()
    if found is None or int(found.issue_number) != issue:
        return False
    if not _CodeEmails().owed(found, set(), now).messages:
        return False
    if send_code_emails([(delivery_id, issue, int(found.resend_seq or 0))]):
        raise DependencyUnavailable("the mail service did not accept the message")
    return True


def send_owed_code_emails(only: list[str] | None = None, page_size: int = 1000) -> dict[str, int]:
    """Email every delivery whose live code is still owed an email (to the recipient, a resend or a
    delegate), found from the table alone: the re-drive of the email stream, whose dead letters only
    point at stream records gone after 24 hours. Each delivery's own marks say what it is owed, so a
    second run, or a run beside the stream consumer, sends nothing twice (delegates' sends are claimed).

    Walks the sparse index of deliveries with a day still ahead (`only`: just these shards), 100
    deliveries a batch as the stream consumer does. Returns how many deliveries were looked at and how
    many still owe an email SES did not take (run again once the cause is fixed)."""
    repository = adapters().deliveries
    counts = {"deliveries": 0, "unsent": 0}
    after = epoch(adapters().clock.now())
    for shard in only or shards():
        start: dict[str, Any] | None = None
        while True:
            page, start = repository.live_page(shard, after, page_size, start)
            for batch_start in range(0, len(page), WRITES_PER_TRANSACTION):
                batch = page[batch_start : batch_start + WRITES_PER_TRANSACTION]
                counts["deliveries"] += len(batch)
                counts["unsent"] += len(send_code_emails([(delivery_id, 0, 0) for delivery_id in batch]))
            if start is None:
                break
    return counts


# --- wrong-code alerts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WrongCodeAlerts:
    """One alert to the recipient per code that met a wrong guess; no code in it, nothing to claim."""

    latest: dict[str, int]  # the latest issue asked for, by delivery

    def addresses(self, item: DeliveryModel) -> list[str]:
        return _addresses(item, delegates=False)

    def owed(self, item: DeliveryModel, suppressed: set[str], now: datetime) -> Plan:
        issue = self.latest[item.delivery_id]
        if _mailable(item, suppressed) and int(item.alerted_issue or 0) < issue <= int(item.wrong_alert_issue or 0):
            return Plan(item, recipient=[Message(item.delivery_id, issue)])
        return Plan(item)

    def claim(self, plans: dict[str, Plan], now: datetime) -> tuple[dict[str, Plan], set[str]]:
        return plans, set()

    def render(self, item: DeliveryModel, message: Message, now: datetime) -> dict[str, str]:
        from delivery_otp.alert_render import render_wrong_code_alert

        rejected = [e.at for e in item.events if e.type == "VERIFICATION" and e.outcome == "REJECTED"]
        attempted = datetime.fromisoformat(rejected[-1]) if rejected else now
        rendered = render_wrong_code_alert(
            locale=item.locale,
            recipient_name=item.recipient_name,
            delivery_id=item.delivery_id,
            order_id=item.order_id,
            delivery_date=datetime.fromisoformat(item.delivery_date).date(),
            attempted_at=attempted.astimezone(ZoneInfo(item.timezone)),
        )
        return _template_data(rendered, now)

    def mark(self, plans: list[Plan], accepted: dict[Message, bool], now: datetime) -> None:
        """`alerted_issue` set for each alert SES took, unless an alert for this code or a later one was
        marked already; in transactions of 100."""
        repository = adapters().deliveries
        system = Actor(audit.SYSTEM)
        sent = [m for plan in plans for m in plan.recipient if accepted[m]]
        repository.update_many(
            [
                (
                    m.delivery_id,
                    [
                        DeliveryModel.alerted_issue.set(m.issue),
                        audit.record(audit.event("ALERT_SENT", now, system, issue_number=m.issue)),
                    ],
                    DeliveryModel.alerted_issue.does_not_exist() | (DeliveryModel.alerted_issue < m.issue),
                )
                for m in sent
            ]
        )


def send_wrong_code_alerts(targets: list[AlertTarget]) -> list[AlertTarget]:
    """Alert each recipient once per code; returns the targets SES did not take (to retry), one per
    delivery, at the latest issue asked for."""
    if not targets:
        return []
    latest: dict[str, int] = {}
    for delivery_id, issue in targets:
        latest[delivery_id] = max(latest.get(delivery_id, 0), issue)
    failed = _send(_WrongCodeAlerts(latest), list(latest))
    return [(delivery_id, issue) for delivery_id, issue in latest.items() if delivery_id in failed]
