"""Consumer of the deliveries table's stream: sends the code email for every newly issued (or resent)
code, and the alert when a code first meets a wrong guess.

A batch is sent in bulk (one read, one SES call per 50 recipients, one write per 100 marks). Partial
batch failures: a code email SES did not take is reported by its record, so Lambda retries from the
first such record on (those already marked sent are skipped then); when a store or SES is
unreachable the whole batch fails and is retried, bisected, and in the end dead-lettered.

The records are read through Powertools' stream data classes, but not run through its
`BatchProcessor`: that calls a handler per record, which would make one read and one SES call per
record where the batch needs one of each. Whether a record failed is only known once the whole batch
was sent, so the answer is built here, in the shape the processor would give
(`PartialItemFailureResponse`), without its rule that a batch whose every record failed raises: such a
batch is reported record by record like any other.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp.notifications import alert_to_send, issue_to_email, send_code_emails, send_wrong_code_alerts
from delivery_otp.observability import logger


def _sequence_number(record: DynamoDBRecord) -> str:
    change = record.dynamodb
    if change is None or change.sequence_number is None:  # Lambda hands over none without one
        raise ValueError(f"stream record {record.event_id} has no sequence number")
    return change.sequence_number


def _failures(records: list[DynamoDBRecord], failed: set[int]) -> PartialItemFailureResponse:
    """The failed records (by position in the batch), named by their sequence numbers in batch order."""
    return {"batchItemFailures": [{"itemIdentifier": _sequence_number(records[i])} for i in sorted(failed)]}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = list(DynamoDBStreamEvent(event).records)
    targets = {i: target for i, r in enumerate(records) if (target := issue_to_email(r.raw_event)) is not None}
    unsent = {delivery_id for delivery_id, _, _ in send_code_emails(list(targets.values()))}
    alerts = {i: target for i, r in enumerate(records) if (target := alert_to_send(r.raw_event)) is not None}
    unalerted = {delivery_id for delivery_id, _ in send_wrong_code_alerts(list(alerts.values()))}
    failed = {i for i, (delivery_id, _, _) in targets.items() if delivery_id in unsent}
    failed |= {i for i, (delivery_id, _) in alerts.items() if delivery_id in unalerted}
    logger.info(
        "code emails",
        extra={"records": len(records), "to_send": len(targets), "unsent": len(unsent), "alerts": len(alerts)},
    )
    return _failures(records, failed)
