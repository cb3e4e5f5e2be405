"""Factories for request bodies, so each test states only what matters to it."""

from __future__ import annotations

import copy
import itertools
from typing import Any

_ids = itertools.count(1)


def delivery_id(prefix: str = "IT") -> str:
    import os

    return f"{prefix}-{os.getpid()}-{next(_ids):06d}"


def registration(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "delivery_id": delivery_id(),
        "order_id": "402-1234567-1234567",
        "recipient": {"email": "maria@example.com", "name": "Maria Rossi", "locale": "it-IT"},
        "destination": {"country": "IT", "subdivision": "IT-RM", "postal_code": "00184", "timezone": "Europe/Rome"},
        "order_value": {"amount": "349.90", "currency": "EUR"},
        "delivery_date": "2026-11-23",
    }
    for path, value in overrides.items():
        target = body
        keys = path.split("__")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if value is _DELETE:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = copy.deepcopy(value)
    return body


class _Delete:
    pass


_DELETE = _Delete()
DELETE = _DELETE


def new_code_record(delivery_id: str, sequence: int = 1) -> dict[str, Any]:
    """A stream record of a delivery that was issued its first code, as the email consumer receives it
    (only the keys it reads: the record names the delivery; what is owed is read from the item)."""
    return {
        "eventID": str(sequence),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:aws:dynamodb:eu-south-1:123456789012:table/deliveries/stream/x",
        "dynamodb": {
            "SequenceNumber": str(sequence),
            "NewImage": {
                "pk": {"S": f"D#{delivery_id}"},
                "delivery_id": {"S": delivery_id},
                "issue_number": {"N": "1"},
            },
        },
    }


def registered_in_one_shard(monkeypatch: Any, count: int) -> tuple[str, list[str]]:
    """`count` deliveries registered into a rotation shard of the calling test's own (the table is shared
    with other tests): the shard and the delivery ids."""
    import uuid

    from delivery_otp import issuing
    from delivery_otp import registration as registering

    shard = f"t-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(issuing, "shard_of", lambda _delivery_id: shard)
    ids = []
    for _ in range(count):
        body = registration()
        assert registering.register(body).status == 201
        ids.append(body["delivery_id"])
    return shard, ids
