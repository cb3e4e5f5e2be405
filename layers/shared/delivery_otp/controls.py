"""The customer's controls, through the storefront: resend the code, replace a leaked code, pick
another day (docs/behaviour.md, "The customer's controls").

Each is one conditional write built from the delivery as read; a write that lost a race is built
again on the state that won (see :func:`delivery_otp.deliveries.write_on_fresh_state`). The emails
follow from the writes (see :mod:`delivery_otp.notifications`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from delivery_otp import audit, links
from delivery_otp.audit import Actor
from delivery_otp.calendar import has_ended, local_date
from delivery_otp.deliveries import (
    check_day_picked,
    code_is_live,
    day_of,
    epoch,
    life_limit_of,
    load,
    view,
    write_on_fresh_state,
    zone_of,
)
from delivery_otp.errors import Conflict, Gone, Locked, NotFound, TooManyResends
from delivery_otp.issuing import issue_code, retained_until, same_delegates
from delivery_otp.model import LOCKED, OPEN_STATES, RECIPIENT, SCHEDULED, DeliveryModel
from delivery_otp.validation import parse_date
from delivery_otp.wiring import adapters

RESENDS_PER_DAY = 3


def resend_code(delivery_id: str, by: Actor = audit.UNSIGNED_STOREFRONT) -> dict[str, Any]:
    """Email the live code again, at most 3 times a (local) day: the email consumer sends one email per
    step of `resend_seq`."""
    now = adapters().clock.now()

    def plan(delivery: DeliveryModel) -> tuple[list[Any], Any]:
        _live_or_refuse(delivery, now)
        today = local_date(now, zone_of(delivery)).isoformat()
        sent_today = int(delivery.resends_today or 0) if delivery.resend_day == today else 0
        if sent_today >= RESENDS_PER_DAY:
            raise TooManyResends(f"the code was already resent {RESENDS_PER_DAY} times today")
        issue = int(delivery.issue_number)
        same_count = (
            (DeliveryModel.resend_day == today) & (DeliveryModel.resends_today == sent_today)
            if delivery.resend_day == today
            else (DeliveryModel.resend_day.does_not_exist() | (DeliveryModel.resend_day != today))
        )
        actions = [
            DeliveryModel.resend_day.set(today),
            DeliveryModel.resends_today.set(sent_today + 1),
            # Each resend its own number: the email consumer owes one email per number, never merged.
            DeliveryModel.resend_seq.add(1),
            audit.record(audit.event("CODE_RESENT", now, by, issue_number=issue)),
        ]
        condition = (
            (DeliveryModel.issue_number == issue)
            & (DeliveryModel.status == SCHEDULED)
            & (DeliveryModel.code_valid_until > epoch(now))
            & same_count
        )
        return actions, condition

    resent = write_on_fresh_state(delivery_id, plan)
    return {**view(resent, now), "resends_left_today": RESENDS_PER_DAY - int(resent.resends_today)}


def replace_code(delivery_id: str, by: Actor = audit.UNSIGNED_STOREFRONT) -> dict[str, Any]:
    """ "My code leaked": a new code for the same day now; the old one dies and the new one is emailed.
    Audited as ROTATED, by whoever asked. The recipient's page link is renewed in the same write: whoever
    saw the code may have seen the link too, so every earlier link of the recipient ends."""
    now = adapters().clock.now()
    delivery = load(delivery_id)
    _live_or_refuse(delivery, now)
    return _reissue(delivery, day_of(delivery), now, "ROTATED", "customer request", (SCHEDULED,), by, relink=True)


def reschedule(delivery_id: str, body: dict[str, Any], by: Actor = audit.UNSIGNED_STOREFRONT) -> dict[str, Any]:
    """The customer picked another day: new date, new code (emailed); the old code dies."""
    day = parse_date(body.get("delivery_date"), "delivery_date")
    now = adapters().clock.now()
    delivery = load(delivery_id)
    check_day_picked(day, delivery, now)
    if delivery.status not in OPEN_STATES:
        raise Conflict(f"delivery {delivery_id!r} is {delivery.status.lower()}: it can no longer be rescheduled")
    if delivery.status == LOCKED and day == day_of(delivery):
        # Too many wrong codes today: a new code for the same day would hand out five more guesses.
        raise Locked(f"delivery {delivery_id!r} is locked for {day} after too many wrong codes; pick another day")
    already = delivery.status == SCHEDULED and (not delivery.code_required or code_is_live(delivery, now))
    if day == day_of(delivery) and already:
        return view(delivery, now)  # already that day, going out, with its code: nothing to do (PUT is idempotent)
    return _reissue(delivery, day, now, "RESCHEDULED", f"{delivery.delivery_date} -> {day}", OPEN_STATES, by, True)


def _live_or_refuse(delivery: DeliveryModel, now: datetime) -> None:
    """The refusals of a request about the live code, as the code view gives them."""
    if not delivery.code_required:
        raise NotFound(f"delivery {delivery.delivery_id!r} needs no code")
    if delivery.status == LOCKED and not has_ended(day_of(delivery), zone_of(delivery), now):
        raise Locked(f"delivery {delivery.delivery_id!r} is locked for today after too many wrong codes")
    if not code_is_live(delivery, now):
        raise Gone(f"delivery {delivery.delivery_id!r} has no valid code right now ({delivery.status.lower()})")


def _reissue(
    delivery: DeliveryModel,
    day: date,
    now: datetime,
    event_type: str,
    outcome: str,
    states: tuple[str, ...],
    storefront: Actor,
    new_day: bool = False,
    *,
    relink: bool = False,
) -> dict[str, Any]:
    """A new day and (when the delivery needs one) a new code, in one write conditional on the state read.
    A `new_day` the customer picked starts the count of working days before a return to sender again.
    `relink`: the recipient gets a new page link salt (and its lookup item, in the same transaction)."""
    issue = int(delivery.issue_number)
    actions: list[Any] = [DeliveryModel.delivery_date.set(day.isoformat()), DeliveryModel.status.set(SCHEDULED)]
    if new_day:
        actions.append(DeliveryModel.open_since.set(day.isoformat()))
    # Like the night's rotation, the event names the issue it brings.
    events = [
        audit.event(
            event_type, now, storefront, issue_number=issue + 1 if delivery.code_required else None, outcome=outcome
        )
    ]
    page_links = []
    if delivery.code_required:
        issued = issue_code(delivery, issue + 1, day)
        actions += [DeliveryModel.wrong_attempts.set(0), *issued.actions()]
        events.append(audit.event("CODE_ISSUED", now, storefront, issue_number=issue + 1))
        if relink:
            salt = links.new_salt()
            actions.append(DeliveryModel.link_salt.set(salt))
            key = adapters().keys.key()
            page_links.append(links.lookup(key, delivery.delivery_id, RECIPIENT, salt, issued.expires_at))
    else:
        actions.append(DeliveryModel.expires_at.set(retained_until(day, zone_of(delivery))))
    actions.append(audit.record(*events))
    result = adapters().deliveries.update(
        delivery.delivery_id,
        actions,
        (DeliveryModel.issue_number == issue)
        & (DeliveryModel.status == delivery.status)
        & DeliveryModel.status.is_in(*states)
        & (DeliveryModel.life_wrong_attempts < life_limit_of(delivery))
        & same_delegates(delivery),
        links=page_links,
    )
    if not result.applied:
        raise Conflict(f"delivery {delivery.delivery_id!r} changed meanwhile; read it and try again")
    return view(result.item if result.item is not None else load(delivery.delivery_id), now)
