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
