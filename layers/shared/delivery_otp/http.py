"""HTTP plumbing shared by the API functions: the resolver, JSON answers, and the one place where
domain errors become HTTP answers (`{"error": {"code", "message"}}`, never a stack trace)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from delivery_otp.errors import DomainError, MalformedRequest
from delivery_otp.observability import logger
from delivery_otp.validation import parse_json_object

JSON = "application/json"


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        headers=headers or {},
    )


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def make_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.exception_handler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        if exc.status >= 500:
            logger.warning(
                "dependency unavailable", extra={"reason": exc.message, "cause": type(exc.__cause__).__name__}
            )
        body = error_body(exc.code, exc.message)
        if exc.body:
            body.update(exc.body)
        return json_response(exc.status, body, exc.headers)

    @app.not_found
    def not_found(_: Exception) -> Response:
        return json_response(404, error_body("NOT_FOUND", "no such route"))

    return app


def raw_body(app: APIGatewayHttpResolver) -> str:
    """The body as text. API Gateway base64-encodes bodies that are not UTF-8: those are refused."""
    event = app.current_event
    if not event.is_base64_encoded:
        text = event.body or ""
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError as exc:  # an event handed in with unpaired surrogates in its text
                raise MalformedRequest("the request body is not UTF-8 text") from exc
        return text
    import base64
    import binascii

    try:
        return base64.b64decode(event.body or "").decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise MalformedRequest("the request body is not UTF-8 text") from exc


def idempotent(app: APIGatewayHttpResolver, run: Callable[[], Response], about: str | None = None) -> Response:
    """Answer a POST once per `Idempotency-Key`: a retry with the same key and body gets the first
    answer again. Without the header the request simply runs; the machinery (boto3 included) is only
    imported when a caller asks for it, to keep cold starts light. `about`: the delivery whose personal
    data the stored answer may hold (a delegate's name), so its erasure finds the record."""
    key = app.current_event.headers.get("idempotency-key")
    if key is None:
        return run()
    from delivery_otp import idempotency

    idempotency.check_key(key)  # a bad key is refused before the body is read
    return idempotency.answer_once(app, key, raw_body(app), run, about)


def request_json(app: APIGatewayHttpResolver) -> dict[str, Any]:
    return parse_json_object(raw_body(app))


def courier_actor(app: APIGatewayHttpResolver, body: dict[str, Any]) -> Any:
    """Who is at the door. Behind API Gateway's JWT authorizer the courier id is the token's
    `username`; a body `courier_id` that differs is refused. Without an authorizer (the local stack
    with LOCAL_AUTH=off) the body's ids are taken as given, and the actor says so."""
    from delivery_otp.audit import COURIER, Actor
    from delivery_otp.errors import Forbidden

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) else None

    claimed = text(body.get("courier_id"))
    authorizer = app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    courier_id = text(claims.get("username")) or text(claims.get("cognito:username"))
    if claims:
        if courier_id is None:
            raise Forbidden("the token names no courier")
        if claimed is not None and claimed != courier_id:
            raise Forbidden("courier_id differs from the courier the token was issued to")
    else:
        courier_id = claimed
    return Actor(COURIER, courier_id=courier_id, device_id=text(body.get("device_id")), self_declared=not authorizer)


def storefront_actor(app: APIGatewayHttpResolver) -> Any:
    """The storefront acting, with the IAM principal that signed the request (for the audit trail)."""
    from delivery_otp import audit

    return audit.storefront(audit.iam_principal(app.current_event.raw_event))
