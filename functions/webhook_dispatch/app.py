"""The webhook dispatcher: one (event, endpoint) message from the delivery queue, one signed POST.

A failed send is not a failed message: its retry is kept in the table (see
delivery_otp.webhook_delivery) and the message is done. Only a failure to record that (the table or a
queue unreachable) reports the message, which the queue then hands over again.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import webhook_delivery
from delivery_otp.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            outcome = webhook_delivery.dispatch(json.loads(record["body"]))
        except Exception:
            logger.exception("webhook dispatch failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        logger.info("webhook dispatched", extra={"outcome": outcome})
    return {"batchItemFailures": failures}
