"""Webhook endpoints as a storefront manages them, and their signing secrets.

A secret is never stored: it is derived when needed, an HMAC under a key kept in Secrets Manager
(`WebhookSecretKey`) over the endpoint's id and its secret generation. The table keeps only the
generation, so neither the table, its stream, an idempotency record nor a log can sign. Rotating moves
the endpoint to the next generation; the previous one keeps signing beside it until `keep_old_seconds`
have passed (0 ends it at once).

Answers that show a secret (registration, rotation) leave this module with a marker in its place
(`SECRET_MARKER`: the endpoint and generation), which the route swaps for the derived secret on the way
out: a stored idempotent answer holds the marker, and a replay derives the same secret again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any

from delivery_otp import integration_events
from delivery_otp.errors import Conflict, InvalidInput, NotFound
from delivery_otp.ssrf import check_url
from delivery_otp.wiring import adapters

MAX_ENDPOINTS = 10
MAX_DESCRIPTION = 256
MAX_KEEP_OLD_SECONDS = 86400
LOG_RETENTION_SECONDS = 30 * 86400
SECRET_MARKER = "secret_of"  # noqa: S105 - the name of a field, not a secret
TEST_EVENT = "webhook.test"

# What a storefront may subscribe to (no list: all of them): every type the trail can yield.
EVENT_TYPES = frozenset(integration_events.EVENT_TYPES)


class TooManyWebhooks(Conflict):
    code = "TOO_MANY_WEBHOOKS"


def unknown_endpoint(endpoint_id: str) -> NotFound:
    return NotFound(f"webhook {endpoint_id!r} is not registered")


# --- secrets and signatures ----------------------------------------------------------------------------


def secret_bytes(endpoint_id: str, generation: int) -> bytes:
    key = adapters().webhook_keys.key()
    return hmac.new(key, f"webhook-secret\x1f{endpoint_id}\x1f{generation}".encode(), hashlib.sha256).digest()


def secret(endpoint_id: str, generation: int) -> str:
    return "whsec_" + base64.b64encode(secret_bytes(endpoint_id, generation)).decode()


def signing_generations(endpoint: dict[str, Any], now: datetime) -> list[int]:
    """The generations that sign a message now, the current one first."""
    generations = [int(endpoint["generation"])]
    previous, until = endpoint.get("previous_generation"), endpoint.get("previous_until")
    if previous is not None and until is not None and now.timestamp() < int(until):
        generations.append(int(previous))
    return generations


def signature_header(endpoint: dict[str, Any], now: datetime, message_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per signing secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_bytes(endpoint["id"], g), signed, hashlib.sha256).digest()).decode()
        for g in signing_generations(endpoint, now)
    )


def reveal(body: dict[str, Any]) -> dict[str, Any]:
    """An answer with its secret marker replaced by the secret it stands for."""
    marker = body.get(SECRET_MARKER)
    if not isinstance(marker, dict):
        return body
    shown = {k: v for k, v in body.items() if k != SECRET_MARKER}
    shown["secret"] = secret(str(marker["endpoint"]), int(marker["generation"]))
    return shown


# --- the storefront's routes -------------------------------------------------------------------------------


def _public(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": endpoint["id"],
        "url": endpoint["url"],
        "event_types": endpoint.get("event_types"),
        "description": endpoint.get("description"),
        "created_at": endpoint["created_at"],
    }


def _event_types(value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidInput("event_types", "a non-empty list of event types, or left out for all of them")
    for index, kind in enumerate(value):
        if not isinstance(kind, str) or kind not in EVENT_TYPES:
            raise InvalidInput(f"event_types[{index}]", f"unknown event type {kind!r}")
    return sorted(set(value))


def _description(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise InvalidInput("description", f"text of at most {MAX_DESCRIPTION} characters")
    return value


def register(body: dict[str, Any]) -> dict[str, Any]:
    from delivery_otp.config import settings

    url = body.get("url")
    event_types = _event_types(body.get("event_types"))
    description = _description(body.get("description"))
    check_url(url, resolver=adapters().resolver, allow_local_http=settings().webhook_allow_local_http)
    endpoint = {
        "id": "wh_" + uuid.UUID(bytes=secrets.token_bytes(16)).hex,
        "url": url,
        "event_types": event_types,
        "description": description,
        "created_at": adapters().clock.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generation": 1,
    }
    if not adapters().webhooks.add(endpoint, MAX_ENDPOINTS):
        raise TooManyWebhooks(f"at most {MAX_ENDPOINTS} webhooks may be registered")
    answer = _public(endpoint)
    answer[SECRET_MARKER] = {"endpoint": endpoint["id"], "generation": 1}
    return answer


def list_endpoints() -> dict[str, Any]:
    return {"webhooks": [_public(e) for e in adapters().webhooks.endpoints()]}


def delete(endpoint_id: str) -> dict[str, Any]:
    if not adapters().webhooks.remove(endpoint_id):
        raise unknown_endpoint(endpoint_id)
    return {"id": endpoint_id, "deleted": True}


def rotate_secret(endpoint_id: str, body: dict[str, Any]) -> dict[str, Any]:
    keep = body.get("keep_old_seconds", MAX_KEEP_OLD_SECONDS)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 0 <= keep <= MAX_KEEP_OLD_SECONDS:
        raise InvalidInput("keep_old_seconds", f"a whole number of seconds from 0 to {MAX_KEEP_OLD_SECONDS}")
    until = int(adapters().clock.now().timestamp()) + keep
    generation = adapters().webhooks.rotate(endpoint_id, until)
    if generation is None:
        raise unknown_endpoint(endpoint_id)
    return {SECRET_MARKER: {"endpoint": endpoint_id, "generation": generation}}


def send_test(endpoint_id: str) -> dict[str, Any]:
    """Queue a `webhook.test` event for this endpoint only (never on the bus)."""
    from delivery_otp.config import settings

    if adapters().webhooks.endpoint(endpoint_id) is None:
        raise unknown_endpoint(endpoint_id)
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "delivery-otp",
        "type": TEST_EVENT,
        "time": adapters().clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "subject": endpoint_id,
        "datacontenttype": "application/json",
        "data": {"endpoint_id": endpoint_id},
    }
    message = {"event": event, "endpoint_id": endpoint_id, "attempt": 1}
    adapters().queues.send(settings().need("webhook_delivery_queue_url"), [message])
    return {"event_id": event["id"], "type": TEST_EVENT}


def attempts(endpoint_id: str) -> dict[str, Any]:
    if adapters().webhooks.endpoint(endpoint_id) is None:
        raise unknown_endpoint(endpoint_id)
    logged = adapters().webhooks.attempts(endpoint_id)
    fields = ("event_id", "type", "attempt", "at", "status_code", "error", "duration_ms")
    return {"attempts": [{f: entry.get(f) for f in fields} for entry in logged[:100]]}
