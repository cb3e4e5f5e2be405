"""The courier reports a failed attempt at the door: the code dies at once and the parcel waits for
its next working day (docs/behaviour.md, "A failed attempt").

Not on the door's critical path, so the delivery is read first: the audit names the code that died,
and the answer says when the parcel goes out again.
"""

from __future__ import annotations

from typing import Any

from delivery_otp import audit
from delivery_otp.audit import Actor
from delivery_otp.deliveries import assigned_to, code_dies, load, next_date, seen_by
from delivery_otp.errors import Conflict, DependencyUnavailable, InvalidInput, unknown_delivery
from delivery_otp.model import LOCKED, REQUEUED, SCHEDULED, DeliveryModel
from delivery_otp.validation import ATTEMPT_OUTCOMES, is_delivery_id, optional_id
from delivery_otp.wiring import adapters

# A report that keeps losing races to other writes answers 503 rather than guessing.
_MAX_WRITE_ROUNDS = 40


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
    now = adapters().clock.now()
    repository = adapters().deliveries
    delivery = repository.get(delivery_id)
    for _ in range(_MAX_WRITE_ROUNDS):
        delivery = seen_by(delivery_id, delivery, actor)
        if delivery.status == REQUEUED:
            break
        if delivery.status not in (SCHEDULED, LOCKED):
            raise Conflict(f"delivery {delivery_id!r} is {delivery.status.lower()}: no attempt can be reported")
        # Read first (attempts are not on the door's critical path) so the audit names the code that died.
        issue = int(delivery.issue_number)
        result = repository.update(
            delivery_id,
            [
                DeliveryModel.status.set(REQUEUED),
                *code_dies(),
                audit.record(audit.event("ATTEMPT_FAILED", now, actor, issue_number=issue or None, outcome=outcome)),
            ],
            DeliveryModel.status.is_in(SCHEDULED, LOCKED) & (DeliveryModel.issue_number == issue) & assigned_to(actor),
        )
        if result.applied:
            break
        delivery = result.item
    else:
        raise DependencyUnavailable("the delivery is changing too fast; try again")
    return {"status": REQUEUED, "next_delivery_date": next_date(delivery, now).isoformat()}
