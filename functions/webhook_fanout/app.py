"""Consumer of the webhook events queue (the event bus's rule puts every integration event there):
one message per (event, subscribed endpoint) onto the webhook delivery queue.

Each record is fanned out on its own, so a record that fails (the table or the queue unreachable) is
reported alone and comes back; a record fanned out twice sends twice, which receivers tolerate by
de-duplicating on `webhook-id`.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import webhook_delivery
from delivery_otp.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures = []
    queued = 0
    for record in event.get("Records", []):
        try:
            queued += webhook_delivery.fan_out(webhook_delivery.events_of([record]))
        except (ValueError, KeyError, TypeError):
            # Not an event: retrying cannot help, and the redrive policy parks it after a few tries.
            logger.warning("not an event on the webhook events queue", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
        except Exception:
            logger.exception("webhook fan-out failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    logger.info("webhook fan-out", extra={"records": len(event.get("Records", [])), "queued": queued})
    return {"batchItemFailures": failures}
