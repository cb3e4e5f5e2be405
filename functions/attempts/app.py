"""POST /deliveries/{id}/attempts: the courier reports a failed attempt; the code dies at once.
GET /deliveries/{id}/door: what the courier's device keeps before knocking (state and issue number)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import attempts
from delivery_otp.http import courier_actor, idempotent, json_response, make_app, request_json
from delivery_otp.observability import logger

app = make_app()


@app.post("/deliveries/<id>/attempts")
def report_attempt(id: str) -> Any:
    return idempotent(app, lambda: _report(id))


@app.get("/deliveries/<id>/door")
def at_the_door(id: str) -> Any:
    return json_response(200, attempts.at_the_door(id, courier_actor(app, {})))


def _report(delivery_id: str) -> Any:
    body = request_json(app)
    actor = courier_actor(app, body)
    answer = attempts.report_attempt(delivery_id, body, actor)
    logger.info("attempt failed", extra={"delivery_id": delivery_id, "device_id": actor.device_id})
    return json_response(200, answer)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
