"""POST /deliveries/{id}/verifications: the courier at the door. One DynamoDB request when the code
is right; this module imports only what that path needs (cold start is a courier waiting)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import verification
from delivery_otp.errors import DomainError
from delivery_otp.http import courier_actor, idempotent, json_response, make_app, request_json
from delivery_otp.observability import logger

app = make_app()


@app.post("/deliveries/<id>/verifications")
def verify(id: str) -> Any:
    return idempotent(app, lambda: _verify(id))


def _verify(delivery_id: str) -> Any:
    body = request_json(app)
    actor = courier_actor(app, body)
    # Every verification is logged with its outcome, the delivery and the device; never the code.
    context = {"delivery_id": delivery_id, "device_id": actor.device_id, "courier_id": actor.courier_id}
    try:
        answer = verification.verify(delivery_id, body, actor)
    except DomainError as refused:
        logger.info("verification", extra={**context, "outcome": refused.code, "status": refused.status})
        raise
    logger.info("verification", extra={**context, "outcome": answer.body["result"], "status": answer.status})
    return json_response(answer.status, answer.body, answer.headers)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
