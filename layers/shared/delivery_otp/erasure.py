"""Erasing a delivery's personal data: the recipient's name, email address and postal code, and each
delegate's name and email address, wherever we keep them for the delivery.

A delivery that has ended (`ENDED_STATES`) waits in the rotation's sharded index until its personal data
is due (`PersonalDataRetentionDays` after it ended, see `deliveries.ends`): the rotation erases it then,
so nothing scans the table. The storefront may erase it at once (`DELETE .../personal-data`). Either
way the delivery is changed in hand and written back whole in one conditional write (on the `rev` it was
read with), after the idempotency records its requests left (whose stored answers may name a delegate)
are deleted by the keys the item keeps. What remains, the state, the trail and the receipts, holds
none of it and stays readable and verifiable; no email goes out for an erased delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from delivery_otp import audit
from delivery_otp.audit import Actor
from delivery_otp.deliveries import load, view
from delivery_otp.errors import DeliveryStillOpen, DependencyUnavailable
from delivery_otp.model import ENDED_STATES, AuditEvent, DeliveryModel, delegate_entries
from delivery_otp.wiring import adapters

ERASED = "PERSONAL_DATA_ERASED"
# What an audit event's text said where it quoted an erased value.
_REDACTED = "[erased]"
_DELEGATE_FIELDS = ("name", "email")
_WRITE_ROUNDS = 5


def erase_now(delivery_id: str) -> dict[str, Any]:
    """The storefront's erasure: 200 with the delivery's view, again 200 once erased; 409 while the
    delivery is still open."""
    now = adapters().clock.now()
    for _ in range(_WRITE_ROUNDS):
        delivery = load(delivery_id)
        if delivery.personal_data_erased:
            return view(delivery, now)
        if delivery.status not in ENDED_STATES:
            raise DeliveryStillOpen(
                f"delivery {delivery_id!r} is {delivery.status.lower()}: its personal data is needed until it ends"
            )
        _forget_answers(delivery)
        erase(delivery, now, Actor(audit.STOREFRONT))
        if adapters().deliveries.replace_many([delivery])[0]:
            return view(delivery, now)
    raise DependencyUnavailable("the delivery is changing too fast; try again")


def erase_due(delivery: DeliveryModel, now: datetime) -> bool:
    """The rotation's part: erase the item in hand when it has ended and its time has come (its idempotency
    records go first), or answer False and leave it untouched. Only the caller's write makes it so."""
    if delivery.status not in ENDED_STATES or delivery.due_at is None or int(delivery.due_at) > now.timestamp():
        return False
    _forget_answers(delivery)
    erase(delivery, now, Actor(audit.SCHEDULER))
    return True


def erase(delivery: DeliveryModel, now: datetime, actor: Actor) -> None:
    """The item in hand without its personal data, out of the rotation's index, the erasure audited (with
    no erased value in it). Erasing an erased delivery again only takes it out of the index."""
    delivery.due_shard = None
    delivery.due_at = None
    if delivery.personal_data_erased:
        return
    erased = personal_data(delivery)
    delivery.email = None
    delivery.recipient_name = None
    delivery.postal_code = None
    entries = delegate_entries(delivery)
    if entries:
        delivery.delegates = {  # type: ignore[assignment]
            who: {k: v for k, v in entry.items() if k not in _DELEGATE_FIELDS} for who, entry in entries.items()
        }
    delivery.idempotency_records = None
    # The registration's fingerprint is a hash over its body, names and address included: a repeat of
    # that registration now answers 409 instead of confirming a guess of them.
    delivery.request_hash = ERASED
    delivery.personal_data_erased = True
    delivery.events = [*(_scrubbed(e, erased) for e in delivery.events), audit.event(ERASED, now, actor)]


def personal_data(delivery: DeliveryModel) -> list[str]:
    """Every personal value the delivery holds (what the erasure removes)."""
    values = [delivery.email, delivery.recipient_name, delivery.postal_code]
    for entry in delegate_entries(delivery).values():
        values += [entry.get(name) for name in _DELEGATE_FIELDS]
    return [str(v) for v in values if v]


def _scrubbed(event: AuditEvent, erased: list[str]) -> AuditEvent:
    """No trail entry quotes an erased value (a mail service's bounce reason may quote the address)."""
    text = event.outcome
    if not text:
        return event
    folded = text.casefold()
    if not any(value.casefold() in folded for value in erased):
        return event
    return AuditEvent(event.type, event.at, event.actor, event.issue_number, _REDACTED)


def _forget_answers(delivery: DeliveryModel) -> None:
    """The stored answers of this delivery's requests may name a delegate: deleted by key, before the
    write that erases the rest (a retry of an erasure deletes them again, changing nothing)."""
    keys = sorted(delivery.idempotency_records or ())
    if keys:
        adapters().deliveries.delete_records(keys)
