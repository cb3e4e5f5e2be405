"""Getting events to the storefronts' webhook endpoints: fan-out, one send, retries, dead letters.

- **Fan-out.** Each event from the events queue becomes one message per subscribed endpoint on the
  delivery queue, so every (event, endpoint) is sent, retried and failed on its own: a slow or failing
  endpoint never holds back another, nor a later event.
- **One send** (the dispatcher): the endpoint's URL is checked again by the SSRF guard and the POST goes
  to the address that was checked, signed per Standard Webhooks 1.0: `webhook-id` is the event id (the
  same on every retry, so a receiver de-duplicates by it), `webhook-timestamp` the real clock's Unix
  seconds at this attempt (receivers compare it with their own clock, so a frozen local clock must not
  leak into it), `webhook-signature` one `v1,` signature per live secret, the newest first. Success is
  a 2xx within 10 seconds; redirects are not followed.
- **Retries.** After a failed attempt the message waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
  before the next, then goes to the dead letters. An SQS delay cannot exceed 15 minutes, so a waiting
  retry is an item of the table with its due time in the sparse due index, and a sweeper run every
  minute (the local stack: on `POST /local/schedules/run`) queues the ones that are due. Due times count
  from the product's clock when the attempt failed.
- **The attempt log** keeps, per endpoint, each attempt's event, number, time, status code or kind of
  failure and duration; never the receiver's answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from delivery_otp.adapters.webhook_http import SendResult
from delivery_otp.errors import InvalidInput
from delivery_otp.observability import logger
from delivery_otp.ssrf import check_url
from delivery_otp.webhooks import LOG_RETENTION_SECONDS, TEST_EVENT, signature_header
from delivery_otp.wiring import adapters

# The wait before attempt 2, 3, ... 8; after the 8th attempt fails, the message is dead.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def _settings() -> Any:
    from delivery_otp.config import settings

    return settings()


def subscribed(endpoint: dict[str, Any], event_type: str) -> bool:
    kinds = endpoint.get("event_types")
    return kinds is None or event_type in kinds


def fan_out(events: Sequence[dict[str, Any]]) -> int:
    """Queue one message per (event, subscribed endpoint); the number queued. Events of the test kind
    never come this way (they go to their one endpoint straight from the route)."""
    endpoints = adapters().webhooks.endpoints()
    messages = [
        {"event": event, "endpoint_id": endpoint["id"], "attempt": 1}
        for event in events
        if event.get("type") != TEST_EVENT
        for endpoint in endpoints
        if subscribed(endpoint, str(event.get("type")))
    ]
    if messages:
        adapters().queues.send(_settings().need("webhook_delivery_queue_url"), messages)
    return len(messages)


def _send(endpoint: dict[str, Any], event: dict[str, Any]) -> SendResult:
    try:
        target = check_url(
            endpoint["url"], resolver=adapters().resolver, allow_local_http=_settings().webhook_allow_local_http
        )
    except InvalidInput:
        return SendResult(None, "refused_url", 0)
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())  # the real clock, even when the product's clock is set
    headers = {
        "content-type": "application/json",
        "user-agent": "delivery-otp-webhooks/1",
        "webhook-id": str(event["id"]),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(endpoint, adapters().clock.now(), str(event["id"]), timestamp, body),
    }
    return adapters().webhook_sender.post(target, body, headers)


def dispatch(message: dict[str, Any]) -> str:
    """Make one attempt of one (event, endpoint): "sent", "retry", "dead" or "gone" (the endpoint was
    deleted meanwhile: nothing to send, nothing to keep)."""
    store = adapters().webhooks
    endpoint = store.endpoint(str(message["endpoint_id"]))
    if endpoint is None:
        return "gone"
    event, attempt = message["event"], int(message.get("attempt", 1))
    result = _send(endpoint, event)
    now = adapters().clock.now()
    store.log_attempt(
        endpoint["id"],
        {
            "event_id": str(event["id"]),
            "type": str(event.get("type")),
            "attempt": attempt,
            "at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "status_code": result.status_code,
            "error": result.error,
            "duration_ms": result.duration_ms,
        },
        int(now.timestamp()) + LOG_RETENTION_SECONDS,
    )
    log = {"endpoint_id": endpoint["id"], "event_id": event["id"], "attempt": attempt, "error": result.error}
    if result.ok:
        logger.info("webhook sent", extra={**log, "status_code": result.status_code})
        return "sent"
    if attempt >= MAX_ATTEMPTS:
        adapters().queues.send(_settings().need("webhook_dead_letter_queue_url"), [message])
        logger.warning("webhook failed for good", extra=log)
        return "dead"
    due = now + RETRY_DELAYS[attempt - 1]
    store.schedule_retry(endpoint["id"], {**message, "attempt": attempt + 1}, attempt + 1, int(due.timestamp()))
    logger.info("webhook retry scheduled", extra={**log, "due_at": due.isoformat()})
    return "retry"


def sweep_retries() -> int:
    """Queue every retry whose time has come by the product's clock; the number queued."""
    store = adapters().webhooks
    due = store.due_retries(int(adapters().clock.now().timestamp()))
    queue = _settings().need("webhook_delivery_queue_url")
    for retry in due:
        adapters().queues.send(queue, [retry["message"]])
        store.retry_sent(retry["key"], retry["attempt"])
    return len(due)


def events_of(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CloudEvents in the events queue's records: each body is EventBridge's envelope, whose
    `detail` is the event."""
    return [json.loads(record["body"])["detail"] for record in records]
