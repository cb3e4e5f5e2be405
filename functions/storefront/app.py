"""The storefront's reads and its changes: state, code for the tracking page, audit trail, cancel,
assignment, the customer's controls (resend, rotate, reschedule, delegates), releasing a held parcel or
returning it to its sender, erasing personal data, signed handover receipts, and its webhook endpoints."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import controls, delegates, dispatch, holds, reads
from delivery_otp.http import idempotent, json_response, make_app, request_json, storefront_actor
from delivery_otp.observability import logger

app = make_app()


@app.get("/deliveries/<id>")
def get_delivery(id: str) -> Any:
    return json_response(200, reads.get_delivery(id))


@app.get("/deliveries/<id>/code")
def get_code(id: str) -> Any:
    # The code must not linger in any cache between the storefront and the customer.
    return json_response(200, reads.current_code(id), {"Cache-Control": "no-store"})


@app.post("/deliveries/<id>/cancel")
def cancel(id: str) -> Any:
    return idempotent(app, lambda: _cancel(id), about=id)


def _cancel(delivery_id: str) -> Any:
    body = dispatch.cancel(delivery_id, storefront_actor(app))
    logger.info("delivery cancelled", extra={"delivery_id": delivery_id})
    return json_response(200, body)


@app.put("/deliveries/<id>/courier")
def assign_courier(id: str) -> Any:
    body = dispatch.assign_courier(id, request_json(app), storefront_actor(app))
    logger.info("delivery assigned", extra={"delivery_id": id})
    return json_response(200, body)


@app.post("/deliveries/<id>/code/resend")
def resend(id: str) -> Any:
    return idempotent(
        app, lambda: _changed("code resent", id, controls.resend_code(id, storefront_actor(app))), about=id
    )


@app.post("/deliveries/<id>/code/rotate")
def rotate(id: str) -> Any:
    return idempotent(
        app, lambda: _changed("code rotated", id, controls.replace_code(id, storefront_actor(app))), about=id
    )


@app.put("/deliveries/<id>/schedule")
def reschedule(id: str) -> Any:
    return _changed("delivery rescheduled", id, controls.reschedule(id, request_json(app), storefront_actor(app)))


@app.post("/deliveries/<id>/delegates")
def add_delegate(id: str) -> Any:
    return idempotent(app, lambda: _delegate_added(id), about=id)


def _delegate_added(delivery_id: str) -> Any:
    answer = delegates.add_delegate(delivery_id, request_json(app), storefront_actor(app))
    logger.info("delegate added", extra={"delivery_id": delivery_id, "delegate_id": answer.body["delegate_id"]})
    return json_response(answer.status, answer.body)


@app.delete("/deliveries/<id>/delegates/<delegate_id>")
def revoke_delegate(id: str, delegate_id: str) -> Any:
    body = delegates.revoke_delegate(id, delegate_id, storefront_actor(app))
    logger.info("delegate revoked", extra={"delivery_id": id, "delegate_id": delegate_id})
    return json_response(200, body)


@app.post("/deliveries/<id>/release")
def release(id: str) -> Any:
    return idempotent(
        app, lambda: _changed("delivery released", id, holds.release(id, request_json(app), storefront_actor(app)))
    )


@app.post("/deliveries/<id>/return")
def return_to_sender(id: str) -> Any:
    return idempotent(app, lambda: _changed("delivery returned", id, holds.return_to_sender(id, storefront_actor(app))))


def _changed(what: str, delivery_id: str, body: dict[str, Any]) -> Any:
    logger.info(what, extra={"delivery_id": delivery_id, "issue_number": body.get("issue_number")})
    return json_response(200, body)


@app.delete("/deliveries/<id>/personal-data")
def erase_personal_data(id: str) -> Any:
    from delivery_otp import erasure

    body = erasure.erase_now(id)
    logger.info("personal data erased", extra={"delivery_id": id})
    return json_response(200, body)


@app.get("/deliveries/<id>/receipt")
def receipt(id: str) -> Any:
    from delivery_otp import receipts  # only this route needs the signing key and cryptography

    return json_response(200, receipts.receipt(id))


@app.get("/.well-known/jwks.json")
def receipt_keys() -> Any:
    from delivery_otp import receipts

    # Public and stable: caches may keep it for an hour (a rotated key is published beside the old one).
    return json_response(200, receipts.jwks(), {"Cache-Control": "public, max-age=3600"})


@app.get("/deliveries/<id>/events")
def events(id: str) -> Any:
    return json_response(200, reads.audit_trail(id))


@app.post("/webhooks")
def register_webhook() -> Any:
    return _revealed(idempotent(app, lambda: _webhook_registered()))


def _webhook_registered() -> Any:
    from delivery_otp import webhooks

    body = webhooks.register(request_json(app))
    logger.info("webhook registered", extra={"endpoint_id": body["id"]})
    return json_response(201, body)


@app.get("/webhooks")
def list_webhooks() -> Any:
    from delivery_otp import webhooks

    return json_response(200, webhooks.list_endpoints())


@app.delete("/webhooks/<endpoint_id>")
def delete_webhook(endpoint_id: str) -> Any:
    from delivery_otp import webhooks

    body = webhooks.delete(endpoint_id)
    logger.info("webhook deleted", extra={"endpoint_id": endpoint_id})
    return json_response(200, body)


@app.post("/webhooks/<endpoint_id>/secret/rotate")
def rotate_webhook_secret(endpoint_id: str) -> Any:
    from delivery_otp import webhooks

    def rotate() -> Any:
        body = webhooks.rotate_secret(endpoint_id, request_json(app) if app.current_event.body else {})
        logger.info("webhook secret rotated", extra={"endpoint_id": endpoint_id})
        return json_response(200, body)

    return _revealed(idempotent(app, rotate))


@app.post("/webhooks/<endpoint_id>/test")
def test_webhook(endpoint_id: str) -> Any:
    from delivery_otp import webhooks

    return idempotent(app, lambda: json_response(202, webhooks.send_test(endpoint_id)))


@app.get("/webhooks/<endpoint_id>/deliveries")
def webhook_attempts(endpoint_id: str) -> Any:
    from delivery_otp import webhooks

    return json_response(200, webhooks.attempts(endpoint_id), {"Cache-Control": "no-store"})


def _revealed(response: Any) -> Any:
    """The answer with the secret it names derived, here, after any idempotency record was written: the
    stored answer holds only which endpoint and generation, so a replay derives the same secret again."""
    import json

    from delivery_otp import webhooks

    if not 200 <= response.status_code < 300:
        return response
    body = webhooks.reveal(json.loads(response.body))
    return json_response(response.status_code, body, {"Cache-Control": "no-store"})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
