"""The scheduled rotation: every delivery whose local day has ended gets a new day and a new code.

The schedule fires every 15 minutes in UTC so each delivery is rotated soon after its own local
midnight, whatever its zone; what is due is read from the table, never from the event or a
"last run" mark, so a late, missed or replayed run does the right thing.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import service
from delivery_otp.http import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    counts = service.rotate_due()
    logger.info("rotation run", extra=counts)
    return counts
