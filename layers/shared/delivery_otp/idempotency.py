"""Idempotency-Key for the POST routes, with Powertools idempotency on the deliveries table.

Powertools stores MD5 hashes of the idempotency key and of the payload it validates, and the answer
itself. A verification body holds a code, and an MD5 of it could be brute-forced over 10^6 candidates,
so what Powertools sees is a keyed fingerprint of the body (HMAC with the code key), never the body;
the stored answers of POST routes never hold a code. The key is scoped to the route, the path and the
authenticated caller, so one caller's key never replays another's answer.

An answer about a delivery may hold personal data (a delegate's name): before its record is first
written, the record's key is kept on the delivery's item (`idempotency_records`), so erasing the
delivery's personal data finds and deletes its stored answers by key, without a scan.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from delivery_otp.audit import iam_principal
from delivery_otp.config import settings
from delivery_otp.errors import DependencyUnavailable, IdempotencyKeyReused, MalformedRequest, RequestInProgress
from delivery_otp.wiring import adapters

MAX_KEY_LENGTH = 255
# Long enough for a courier's app to retry after a dead zone, short enough not to pile up.
RETENTION_SECONDS = 24 * 3600


# The delivery whose answer the request being answered stores (None: an answer with no personal data).
_answer_about: ContextVar[str | None] = ContextVar("answer_about", default=None)


class _KeptRecords(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB store that first keeps each new record's key on the delivery it answers about."""

    def _put_record(self, data_record: DataRecord) -> None:
        delivery_id = _answer_about.get()
        if delivery_id is not None:
            adapters().deliveries.keep_record(delivery_id, data_record.idempotency_key)
        super()._put_record(data_record)


@cache
def _persistence() -> DynamoDBPersistenceLayer:
    from delivery_otp.adapters.clients import client

    return _KeptRecords(
        table_name=settings().table_name, key_attr="pk", expiry_attr="expires_at", boto3_client=client("dynamodb")
    )


@cache
def _config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="request",
        payload_validation_jmespath="fingerprint",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RETENTION_SECONDS,
    )


def _caller(raw_event: dict[str, Any]) -> str:
    authorizer = raw_event.get("requestContext", {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    return str(claims.get("username") or iam_principal(raw_event) or "anonymous")


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise MalformedRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")


def answer_once(
    app: APIGatewayHttpResolver, key: str, body: str, run: Callable[[], Response], about: str | None = None
) -> Response:
    """`run`'s answer, or the answer stored for `key` when this request was answered before; `body` is
    the request's body as text, which a reused key must match (the key was checked, `check_key`, before
    the body was read). `about`: the delivery whose personal data the answer may hold (its record's key
    is kept on it)."""
    event = app.current_event
    route = event.raw_event.get("routeKey", "")
    fingerprint = hmac.new(
        adapters().keys.key(), f"idempotency\x1f{route}\x1f{event.path}\x1f{body}".encode(), hashlib.sha256
    ).hexdigest()
    request = {"key": key, "route": route, "path": event.path, "caller": _caller(event.raw_event)}

    # In-progress records expire with the invocation, so a timed-out attempt does not block retries.
    _config().register_lambda_context(app.lambda_context)

    @idempotent_function(data_keyword_argument="data", persistence_store=_persistence(), config=_config())
    def once(data: dict[str, Any]) -> dict[str, Any]:
        response = run()
        return {"status": response.status_code, "headers": dict(response.headers), "body": response.body}

    about_token = _answer_about.set(about)
    try:
        stored = once(data={"request": request, "fingerprint": fingerprint})
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body") from exc
    except (IdempotencyAlreadyInProgressError, IdempotencyItemAlreadyExistsError) as exc:
        raise RequestInProgress("a request with this Idempotency-Key is still in progress") from exc
    except IdempotencyPersistenceLayerError as exc:
        raise DependencyUnavailable("the idempotency store is unavailable") from exc
    finally:
        _answer_about.reset(about_token)
    headers = {k: v for k, v in stored["headers"].items() if k.lower() != "content-type"}
    return Response(
        status_code=int(stored["status"]), content_type="application/json", body=stored["body"], headers=headers
    )
