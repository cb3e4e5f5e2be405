"""The webhook retry sweeper, run every minute: queues each waiting retry whose time has come.

Retries wait in the table (an SQS delay stops at 15 minutes; ours reach 10 hours). What is due is read
from the table at the product's clock, so a late or repeated run sends nothing early and nothing twice
that was already queued and forgotten.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import webhook_delivery
from delivery_otp.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    queued = webhook_delivery.sweep_retries()
    logger.info("webhook retries queued", extra={"queued": queued})
    return {"retries_queued": queued}
