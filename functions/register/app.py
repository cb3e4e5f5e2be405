"""POST /deliveries: register a delivery, issue its code when policy says so (the email follows
from the table's stream)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import registration
from delivery_otp.http import idempotent, json_response, make_app, request_json, storefront_actor
from delivery_otp.observability import logger

app = make_app()


@app.post("/deliveries")
def register() -> Any:
    return idempotent(app, _register)


def _register() -> Any:
    answer = registration.register(request_json(app), storefront_actor(app))
    logger.info("delivery registered", extra={"delivery_id": answer.body["delivery_id"], "status": answer.status})
    return json_response(answer.status, answer.body)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
