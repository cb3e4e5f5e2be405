"""Audit events: the evidence a storefront shows in a delivery dispute. Never holds a code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from delivery_otp.model import RECIPIENT, Actor, AuditEvent, DeliveryModel, encode_event

__all__ = ["RECIPIENT", "Actor", "AuditEvent"]

STOREFRONT = "storefront"
COURIER = "courier"
SCHEDULER = "scheduler"
SYSTEM = "system"
# The people at the door, acting through their own page (see `recipient_page`): the recipient (actor kind
# `RECIPIENT`, the same word as whose code opened a parcel) or one of their delegates.
DELEGATE = "delegate"


def iam_principal(raw_event: dict[str, Any]) -> str | None:
    """The IAM principal that signed a storefront request (API Gateway's IAM authorizer: its user or role
    ARN, else its access key); None when nothing signed it (the local stack's tests call without one)."""
    iam = (raw_event.get("requestContext", {}).get("authorizer") or {}).get("iam") or {}
    principal = iam.get("userArn") or iam.get("accessKey")
    return str(principal) if principal else None


# The storefront when no IAM principal signed the call (the functions called directly, in tests).
UNSIGNED_STOREFRONT = Actor(STOREFRONT)


def storefront(principal: str | None = None) -> Actor:
    """The storefront acting, as the caller it authenticated as."""
    return Actor(STOREFRONT, principal=principal)


def event(
    kind: str, at: datetime, actor: Actor, *, issue_number: int | None = None, outcome: str | None = None
) -> AuditEvent:
    return AuditEvent(kind, at.isoformat(), actor, issue_number, outcome)


def fields(kind: str, at: str, actor: Actor, *, issue_number: int | None = None, outcome: str | None = None) -> str:
    """The same event as stored (`at` already in ISO 8601), for a write prepared without pynamodb."""
    return encode_event(AuditEvent(kind, at, actor, issue_number, outcome))


def as_json(delivery: DeliveryModel) -> list[dict[str, Any]]:
    """Oldest first, as recorded. An accepted verification is written in the same request that
    checks the code, before its issue number and whose code it was are known, so those are read from
    `delivered_issue` and `received_by` (the DELIVERED event's outcome names the recipient or delegate)."""
    events = []
    for ev in delivery.events or []:
        issue = ev.issue_number
        if issue is None and ev.type in ("VERIFICATION", "DELIVERED") and delivery.delivered_issue:
            issue = delivery.delivered_issue
        outcome = ev.outcome
        if ev.type == "DELIVERED" and outcome is None and delivery.received_by:
            outcome = received_by_text(delivery.received_by)
        events.append(
            {
                "type": ev.type,
                "at": ev.at,
                "issue_number": int(issue) if issue is not None else None,
                "actor": {
                    "kind": ev.actor.kind,
                    "courier_id": ev.actor.courier_id,
                    "device_id": ev.actor.device_id,
                    "principal": ev.actor.principal,
                    "delegate_id": ev.actor.delegate_id,
                },
                "outcome": outcome,
            }
        )
    return events


def received_by_text(received_by: str) -> str:
    """Whose code opened the parcel, as the trail says it: "recipient" or "delegate:<id>"."""
    return received_by if received_by == RECIPIENT else f"delegate:{received_by}"


def record(*events: AuditEvent) -> Any:
    """The update action that appends events to the delivery's trail in the same write."""
    return DeliveryModel.events.set(DeliveryModel.events.append(list(events)))
