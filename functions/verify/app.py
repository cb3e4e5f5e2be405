"""POST /deliveries/{id}/verifications: the courier at the door. One conditional write when the code
is right; this module imports only what that path needs (cold start is a courier waiting)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import verification
from delivery_otp.http import courier_actor, json_response, logger, make_app, request_json

app = make_app()


@app.post("/deliveries/<id>/verifications")
def verify(id: str) -> Any:  # noqa: A002 - the route's own parameter name
    body = request_json(app)
    actor = courier_actor(app, body)
    answer = verification.verify(id, body, actor)
    logger.info(
        "verification",
        extra={"delivery_id": id, "device_id": actor.device_id, "outcome": answer.body["result"]},
    )
    return json_response(answer.status, answer.body, answer.headers)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
