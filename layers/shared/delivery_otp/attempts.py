"""The courier reports a failed attempt at the door: the code dies at once and the parcel waits for
its next working day (docs/behaviour.md, "A failed attempt").

Not on the door's critical path, so the delivery is read first: the audit names the code that died,
and the answer says when the parcel goes out again.
"""

from __future__ import annotations

from typing import Any

from delivery_otp import audit
from delivery_otp.audit import Actor
from delivery_otp.deliveries import assigned_to, code_dies, load, next_date, seen_by, write_on_fresh_state
from delivery_otp.errors import Conflict, InvalidInput, StaleAttempt, unknown_delivery
from delivery_otp.model import LOCKED, REQUEUED, SCHEDULED, DeliveryModel
from delivery_otp.validation import ATTEMPT_OUTCOMES, is_delivery_id, optional_id
from delivery_otp.wiring import adapters


def report_attempt(delivery_id: str, body: dict[str, Any], actor: Actor) -> dict[str, Any]:
    outcome = body.get("outcome")
    optional_id(body, "courier_id")
    optional_id(body, "device_id")
    if not is_delivery_id(delivery_id):
        raise unknown_delivery(delivery_id)
    if not isinstance(outcome, str) or outcome not in ATTEMPT_OUTCOMES:
        delivery = load(delivery_id)
        seen_by(delivery_id, delivery, actor)
        raise InvalidInput("outcome", f"must be one of {', '.join(sorted(ATTEMPT_OUTCOMES))}")
    made_against = _issue_number(body)
    now = adapters().clock.now()

    def plan(delivery: DeliveryModel) -> tuple[list[Any], Any] | None:
        delivery = seen_by(delivery_id, delivery, actor)
        if made_against is not None and made_against != int(delivery.issue_number):
            # Made offline against a code the night has replaced since: it must not kill the new one.
            raise StaleAttempt(
                f"delivery {delivery_id!r}: the attempt was made against issue {made_against},"
                f" the current one is {int(delivery.issue_number)}"
            )
        if delivery.status == REQUEUED:
            return None
        if delivery.status not in (SCHEDULED, LOCKED):
            raise Conflict(f"delivery {delivery_id!r} is {delivery.status.lower()}: no attempt can be reported")
        # Read first (attempts are not on the door's critical path) so the audit names the code that died.
        issue = int(delivery.issue_number)
        return [
            DeliveryModel.status.set(REQUEUED),
            # Counted towards the return to sender (an attempt counts when it requeued the delivery).
            DeliveryModel.failed_attempts.add(1),
            *code_dies(),
            audit.record(audit.event("ATTEMPT_FAILED", now, actor, issue_number=issue or None, outcome=outcome)),
        ], DeliveryModel.status.is_in(SCHEDULED, LOCKED) & (DeliveryModel.issue_number == issue) & assigned_to(actor)

    delivery = write_on_fresh_state(delivery_id, plan)
    return {"status": REQUEUED, "next_delivery_date": next_date(delivery, now).isoformat()}


def at_the_door(delivery_id: str, actor: Actor) -> dict[str, Any]:
    """What a courier's device keeps before knocking: the delivery's state and the issue its code is
    at, so that a failed attempt reported later from a dead spot names the code it was made against.
    Never a code; a delivery assigned to another courier is as unknown as an unregistered one."""
    delivery = seen_by(delivery_id, load(delivery_id), actor)
    return {
        "delivery_id": delivery.delivery_id,
        "status": delivery.status,
        "delivery_date": delivery.delivery_date,
        "issue_number": int(delivery.issue_number or 0),
    }


def _issue_number(body: dict[str, Any]) -> int | None:
    """The optional `issue_number` the attempt was made against: a whole number >= 0 when given."""
    value = body.get("issue_number")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("issue_number", "must be a whole number >= 0")
    return value
