"""Consumer of the deliveries table's stream: sends the code email for every newly issued code.

Partial batch failures: one failed send retries that record (and those after it), not the batch.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp.http import logger
from delivery_otp.notifications import issue_to_email, send_code_email

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def handle(record: DynamoDBRecord) -> None:
    target = issue_to_email(record.raw_event)
    if target is None:
        return
    delivery_id, issue = target
    sent = send_code_email(delivery_id, issue)
    logger.info("code email", extra={"delivery_id": delivery_id, "issue_number": issue, "sent": sent})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
