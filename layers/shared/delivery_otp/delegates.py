"""Delegates: people the recipient trusts to receive the parcel, each with a code of their own.

A delegate's code opens the delivery like the recipient's, so each one is one more live code a guesser
could hit: how many may be live at once, and how many a delivery may ever name, are limited here. A
delegate is named or revoked in one conditional write that carries the MAC of their code (added, or
taken away so it stops opening the parcel at once); the emails follow from the stream (see
:mod:`delivery_otp.notifications`).
"""

from __future__ import annotations

from typing import Any

from delivery_otp import audit, codes, links
from delivery_otp.audit import Actor
from delivery_otp.deliveries import Answer, code_is_live, write_on_fresh_state
from delivery_otp.errors import Conflict, NotFound, TooManyDelegates
from delivery_otp.issuing import same_delegates
from delivery_otp.model import OPEN_STATES, DeliveryModel, delegate_entries, readable
from delivery_otp.validation import parse_delegate
from delivery_otp.wiring import adapters

# A delegate's code is one more live code a guesser could hit: with 3 live delegates, 4 codes in 10^6
# open the parcel, and each code still has the delivery's 5 (and 10 per life) wrong guesses.
LIVE_DELEGATES = 3
# Each one named is an email sent; revoked ones count too, so naming and revoking cannot spam anyone.
DELEGATES_PER_DELIVERY = 10


def add_delegate(delivery_id: str, body: dict[str, Any], by: Actor = audit.UNSIGNED_STOREFRONT) -> Answer:
    """A trusted person gets a code of their own, by email; it opens the delivery like the recipient's.

    The delegate is named in one conditional write: its entry, its number, and (when the delivery has
    a live code) the MAC of its code for the current issue, conditioned on the issue and on the
    delegates as read, so a rotation or another change meanwhile makes it try again on fresh state.
    The stream sends the email (see `notifications`).
    """
    name, email, locale = parse_delegate(body)
    now = adapters().clock.now()
    # The id of the plan that was written (the write hands back no item: it is a transaction with the
    # delegate's page link, and a re-read could already show a delegate another request named meanwhile).
    planned: list[str] = []

    def plan(delivery: DeliveryModel) -> tuple[list[Any], Any, list[Any]]:
        if not delivery.code_required:
            raise Conflict(f"delivery {delivery_id!r} needs no code: there is nothing to share with a delegate")
        if delivery.status not in OPEN_STATES:
            raise Conflict(f"delivery {delivery_id!r} is {delivery.status.lower()}: no delegate can be added")
        count = int(delivery.delegate_count or 0)
        if len(delivery.live_delegates or ()) >= LIVE_DELEGATES:
            raise TooManyDelegates(f"a delivery has at most {LIVE_DELEGATES} delegates at once: revoke one first")
        if count >= DELEGATES_PER_DELIVERY:
            raise TooManyDelegates(f"a delivery can have at most {DELEGATES_PER_DELIVERY} delegates in its life")
        who = codes.delegate_id(count + 1)
        planned.append(who)
        salt = links.new_salt()
        entry = {
            "name": name,
            "email": email,
            "locale": locale or delivery.locale,
            "added_at": now.isoformat(),
            "link_salt": salt,
        }
        # The delegate's own page link: its lookup item goes in the same transaction as the naming.
        link = links.lookup(adapters().keys.key(), delivery_id, who, salt, delivery.expires_at)
        actions: list[Any] = [
            DeliveryModel.delegate_count.set(count + 1),
            DeliveryModel.live_delegates.add({who}),
            DeliveryModel.delegates_version.set(int(delivery.delegates_version or 0) + 1),
            audit.record(audit.event("DELEGATE_ADDED", now, by, outcome=who)),
        ]
        condition = (
            (DeliveryModel.issue_number == int(delivery.issue_number))
            & (DeliveryModel.status == delivery.status)
            & same_delegates(delivery)
        )
        if delivery.delegates is None:
            actions.append(DeliveryModel.delegates.set({who: entry}))
        else:
            actions.append(DeliveryModel.delegates[who].set(entry))
        if code_is_live(delivery, now):
            key = adapters().keys.key()
            issue = int(delivery.issue_number)
            code = codes.delegate_codes(key, delivery_id, issue, delivery.code_nonce or "", count + 1)[who]
            mac = codes.code_mac(key, delivery_id, code)
            if delivery.delegate_macs is None:
                actions.append(DeliveryModel.delegate_macs.set({mac: who}))
                condition &= DeliveryModel.delegate_macs.does_not_exist()
            else:
                actions.append(DeliveryModel.delegate_macs[mac].set(who))
                condition &= DeliveryModel.delegate_macs.exists()
        # Otherwise (locked, requeued, the day over) the delegate's code comes with the next issue.
        return actions, condition, [link]

    write_on_fresh_state(delivery_id, plan)
    return Answer(201, {"delegate_id": planned[-1], "name": name, "status": "ACTIVE"})


def revoke_delegate(delivery_id: str, delegate: str, by: Actor = audit.UNSIGNED_STOREFRONT) -> dict[str, Any]:
    """The delegate's code stops opening the parcel at once (its MAC leaves the item in this write);
    revoking again answers the same."""
    now = adapters().clock.now()

    def plan(delivery: DeliveryModel) -> tuple[list[Any], Any] | None:
        if delegate not in delegate_entries(delivery):
            raise NotFound(f"delivery {delivery_id!r} has no delegate {delegate!r}")
        if delegate not in (delivery.live_delegates or ()):
            return None
        actions: list[Any] = [
            DeliveryModel.delegates[delegate]["revoked_at"].set(now.isoformat()),
            DeliveryModel.live_delegates.delete({delegate}),
            DeliveryModel.delegates_version.set(int(delivery.delegates_version or 0) + 1),
            audit.record(audit.event("DELEGATE_REVOKED", now, by, outcome=delegate)),
        ]
        condition = (DeliveryModel.issue_number == int(delivery.issue_number)) & same_delegates(delivery)
        macs = delivery.delegate_macs.as_dict() if delivery.delegate_macs is not None else {}
        own = [mac for mac, who in macs.items() if who == delegate]
        if own:
            actions += [DeliveryModel.delegate_macs[mac].remove() for mac in own]
            condition &= DeliveryModel.delegate_macs.exists()
        return actions, condition

    revoked = write_on_fresh_state(delivery_id, plan)
    return {
        "delegate_id": delegate,
        "name": readable(delegate_entries(revoked)[delegate].get("name")),
        "status": "REVOKED",
    }
