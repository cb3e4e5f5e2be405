"""The table's items as a pynamodb model: one item per delivery, its audit trail inside it.

Keeping the trail in the delivery's own item lets a state change and its audit event be one
conditional UpdateItem (no transaction, one request on the verify path). Times are epoch seconds where
the table compares them in conditions, ISO 8601 where only people read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.constants import STRING
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

SCHEDULED = "SCHEDULED"
DELIVERED = "DELIVERED"
REQUEUED = "REQUEUED"
LOCKED = "LOCKED"
ON_HOLD = "ON_HOLD"
CANCELLED = "CANCELLED"
# Never handed over: after too many failed attempts or working days, or on the storefront's word.
RETURNED = "RETURNED"
# States in which the parcel still goes out and may be rotated to another day.
OPEN_STATES = (SCHEDULED, LOCKED, REQUEUED)
# States in which a delivery has ended: nothing more goes out, and its personal data is erased
# `PersonalDataRetentionDays` later (or at once on request). A new ending state is added here alone.
ENDED_STATES = (DELIVERED, CANCELLED, ON_HOLD, RETURNED)
# Conditional writes per TransactWriteItems (DynamoDB's limit): the batch of every bulk writer.
WRITES_PER_TRANSACTION = 100
# `received_by` when the recipient's own code opened the delivery (else a delegate id).
RECIPIENT = "recipient"


def delivery_key(delivery_id: str) -> str:
    return f"D#{delivery_id}"


@dataclass(frozen=True)
class Actor:
    kind: str
    courier_id: str | None = None
    device_id: str | None = None
    # Nothing but the request's body says who the courier is (no authorizer: the local stack with
    # authentication off). Never stored.
    self_declared: bool = field(default=False, compare=False)
    # The storefront caller's IAM principal (its user or role ARN), for the storefront's own actions.
    principal: str | None = None
    # The delegate acting through their own page (kind "delegate").
    delegate_id: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    type: str
    at: str  # ISO 8601, as people read it
    actor: Actor
    issue_number: int | None = None
    outcome: str | None = None


def encode_event(event: AuditEvent) -> str:
    """An event as one compact JSON array (trailing nulls left out): ["TYPE", at, issue, kind, courier, device,
    outcome, principal, delegate]. A trail of strings, not of nested maps, keeps the item small: DynamoDB bills
    every write by the whole item's size, attribute names inside maps included, and the trail grows with each
    event."""
    fields = [
        event.type,
        event.at,
        event.issue_number,
        event.actor.kind,
        event.actor.courier_id,
        event.actor.device_id,
        event.outcome,
        event.actor.principal,
        event.actor.delegate_id,
    ]
    while fields[-1] is None:
        fields.pop()
    return json.dumps(fields, separators=(",", ":"))


def readable(value: Any) -> Any:
    """Stored text as it can be sent back: UTF-8 cannot carry an unpaired surrogate (JSON can spell one,
    `"\\ud800"`), which earlier versions let into the audit trail from a courier's `device_id`; each reads
    as U+FFFD, so reading a trail (and signing its receipt) never fails. Anything but text is as it was."""
    if not isinstance(value, str) or value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        # Through UTF-16: a pair that was split across two escapes joins up, a lone half becomes U+FFFD.
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def decode_event(text: str) -> AuditEvent:
    stored = [readable(value) for value in json.loads(text)]
    kind, at, issue, actor, courier, device, outcome, principal, delegate = [*stored, *[None] * 7][:9]
    return AuditEvent(
        kind,
        at,
        Actor(actor, courier, device, principal=principal, delegate_id=delegate),
        int(issue) if issue is not None else None,
        outcome,
    )


def _event_from_map(value: dict[str, Any]) -> AuditEvent:
    """An event as earlier versions stored it (a map with a nested actor map), so their items still read."""

    def plain(attribute: dict[str, Any] | None) -> Any:
        if not attribute or "NULL" in attribute:
            return None
        (kind, raw), *_ = attribute.items()
        return int(raw) if kind == "N" else readable(raw)

    actor = value.get("actor", {}).get("M", {})
    return AuditEvent(
        plain(value.get("type")),
        plain(value.get("at")),
        Actor(plain(actor.get("kind")), plain(actor.get("courier_id")), plain(actor.get("device_id"))),
        plain(value.get("issue_number")),
        plain(value.get("outcome")),
    )


class AuditEventAttribute(Attribute[AuditEvent]):
    """One audit event, stored as `encode_event` writes it."""

    attr_type = STRING

    def serialize(self, value: AuditEvent) -> str:
        return encode_event(value)

    def get_value(self, value: dict[str, Any]) -> Any:
        return value["M"] if "M" in value else value[STRING]

    def deserialize(self, value: Any) -> AuditEvent:
        return _event_from_map(value) if isinstance(value, dict) else decode_event(value)


class DueIndex(GlobalSecondaryIndex["DeliveryModel"]):
    """Sparse and write-sharded: only deliveries the rotation may touch carry `due_shard`: an open one
    until its day ends (to roll it over), an ended one until its personal data is due for erasure.

    Keys only: the rotation reads the items themselves (strongly consistent, 100 a request) and
    writes each back whole, so the index needs nothing else, and no write to a delivery (a wrong code,
    an email mark) costs an index write unless it moves the delivery's due time."""

    class Meta:
        index_name = "due-index"
        projection = KeysOnlyProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


class DeliveryModel(Model):
    class Meta:
        table_name = "deliveries"
        region = "eu-south-1"  # replaced by the function's own region when the table is bound (`bind`)
        max_retry_attempts = 2

    pk = UnicodeAttribute(hash_key=True)
    delivery_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    request_hash = UnicodeAttribute()
    status = UnicodeAttribute()
    code_required = BooleanAttribute()
    delivery_date = UnicodeAttribute()
    timezone = UnicodeAttribute()
    country = UnicodeAttribute()
    subdivision = UnicodeAttribute(null=True)
    # The recipient's personal data (and each delegate's name and address in `delegates`): removed by
    # the erasure, which sets `personal_data_erased` (see `erasure`).
    postal_code = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    recipient_name = UnicodeAttribute(null=True)
    locale = UnicodeAttribute()
    amount = UnicodeAttribute()
    currency = UnicodeAttribute()
    created_at = UnicodeAttribute()

    issue_number = NumberAttribute(default=0)
    code_nonce = UnicodeAttribute(null=True)
    code_mac = UnicodeAttribute(null=True)
    code_valid_until = NumberAttribute(null=True)
    wrong_attempts = NumberAttribute(default=0)
    life_wrong_attempts = NumberAttribute(default=0)
    # Releases from hold so far (at most 2), and the wrong codes the delivery's life may take: 10 more per
    # release (absent: never released, the first 10).
    releases = NumberAttribute(null=True)
    life_limit = NumberAttribute(null=True)
    # Failed attempts that requeued the delivery, and the first day of the working days it may stay open
    # (its first delivery date; a reschedule or a release starts the count again): past either limit the
    # rotation returns it to the sender.
    failed_attempts = NumberAttribute(null=True)
    open_since = UnicodeAttribute(null=True)
    emailed_issue = NumberAttribute(default=0)
    # Resends of the live code: a counter the email consumer follows (one email per step up to it from
    # `emailed_resend`), and today's count (3 a day).
    resend_seq = NumberAttribute(null=True)
    emailed_resend = NumberAttribute(null=True)
    resend_day = UnicodeAttribute(null=True)
    resends_today = NumberAttribute(null=True)
    # The code (issue) a wrong guess was last made against, and the last one its owner was alerted of.
    # SES reported a permanent bounce or a complaint for this delivery's address: never mailed again.
    email_undeliverable = BooleanAttribute(null=True)
    wrong_alert_issue = NumberAttribute(null=True)
    alerted_issue = NumberAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    delivered_issue = NumberAttribute(null=True)
    assigned_courier = UnicodeAttribute(null=True)

    # The recipient's page: the salt of the recipient's link (see `links`); a new salt ends every earlier
    # link of the recipient. Each delegate's salt is `link_salt` in its entry of `delegates`.
    link_salt = UnicodeAttribute(null=True)

    # Delegates: people the customer trusts to receive the parcel, each with a code of their
    # own. `delegates` maps an id to {name, email, locale, added_at, revoked_at, emailed_issue,
    # sending_issue, sending_until}: the last issue SES took for them, the last one whose send was
    # claimed (and recorded), and that claim's lease until SES answers (0: released for a retry);
    # `delegate_count` numbers them; `live_delegates` are those not revoked; `delegates_version`
    # moves with every change, so a write built from an older view of them is refused.
    delegates = MapAttribute(null=True)  # type: ignore[var-annotated]
    delegate_count = NumberAttribute(null=True)
    live_delegates = UnicodeSetAttribute(null=True)
    delegates_version = NumberAttribute(null=True)
    # Keyed MAC of each live delegate code of the current issue -> delegate id: the verification's one
    # conditional write checks `code_mac = :m OR attribute_exists(delegate_macs.#m)` and records whose
    # code it was (`received_by`: "recipient" or a delegate id) in the same request.
    delegate_macs = MapAttribute(null=True)  # type: ignore[var-annotated]
    received_by = UnicodeAttribute(null=True)

    personal_data_erased = BooleanAttribute(null=True)
    # The keys of the idempotency records whose stored answers this delivery's requests left (an answer
    # may name a delegate): the erasure deletes them by key, without a scan.
    idempotency_records = UnicodeSetAttribute(null=True)

    due_shard = UnicodeAttribute(null=True)
    due_at = NumberAttribute(null=True)
    due_index = DueIndex()

    # Moves with every write (the repository adds it to each one): the rotation writes an item back
    # whole on condition that `rev` is still what it read, so nothing written meanwhile is lost.
    rev = NumberAttribute(null=True)

    events = ListAttribute(of=AuditEventAttribute, default=list)
    expires_at = TTLAttribute(null=True)


def link_key(token_hash: str) -> str:
    return f"L#{token_hash}"


class LinkModel(Model):
    """The way from a page link to its delivery: keyed by the SHA-256 of the link's token (never the token),
    naming the delivery and the holder (`recipient` or a delegate id). The holder's current salt on the
    delivery says whether the link still works (see `links`). Same table as the deliveries."""

    class Meta:
        table_name = "deliveries"
        region = DeliveryModel.Meta.region
        max_retry_attempts = 2

    pk = UnicodeAttribute(hash_key=True)
    delivery_id = UnicodeAttribute()
    holder = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


def courier_key(courier_id: str) -> str:
    return f"C#{courier_id}"


def delegate_entries(delivery: DeliveryModel) -> dict[str, dict[str, Any]]:
    """Each delegate ever named, by id: {name, email, locale, added_at, revoked_at, emailed_issue, ...}."""
    return delivery.delegates.as_dict() if delivery.delegates is not None else {}


class CourierBudgetModel(Model):
    """One item per courier: the instants of its recent wrong codes, newest first (see `budgets`).
    Same table as the deliveries."""

    class Meta:
        table_name = "deliveries"
        region = DeliveryModel.Meta.region
        max_retry_attempts = 2

    pk = UnicodeAttribute(hash_key=True)
    courier_id = UnicodeAttribute()
    wrong_log = ListAttribute(of=NumberAttribute, default=list)
    expires_at = TTLAttribute(null=True)


def bind(table_name: str, host: str | None, region: str | None) -> None:
    """Point the table's models at this table, endpoint (None: AWS's own) and region (None: as it is).

    pynamodb reads a model's Meta only when it builds the model's connection, which it then keeps; the
    repository serialises every request through that connection and makes its own client from the same
    Meta. So the table is bound here, once, before either is made (wiring does it when it builds the
    table), and a connection built for other settings is dropped. Binding again to the same place
    changes nothing."""
    for model in (DeliveryModel, CourierBudgetModel, LinkModel):
        wanted = {"table_name": table_name, "host": host, "region": region or model.Meta.region}
        if any(getattr(model.Meta, name, None) != value for name, value in wanted.items()):
            for name, value in wanted.items():
                setattr(model.Meta, name, value)
            model._connection = None  # built from the old settings: pynamodb builds it afresh on next use


def normal_address(email: str) -> str:
    return email.strip().lower()


def suppression_key(key: bytes, email: str) -> str:
    """An address that bounced or complained: one item, keyed by a keyed MAC of it (not the address,
    nor a plain hash a dictionary of addresses reverses). `key` is the suppression list's own key."""
    import hashlib
    import hmac

    return "S#M#" + hmac.new(key, normal_address(email).encode(), hashlib.sha256).hexdigest()


def legacy_suppression_key(email: str) -> str:
    """How earlier versions keyed an address (a plain SHA-256): still read, never written."""
    import hashlib

    return "S#" + hashlib.sha256(normal_address(email).encode()).hexdigest()
