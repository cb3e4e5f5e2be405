"""Consumer of the deliveries table's stream: puts each new audit entry a storefront acts on on the
stack's EventBridge bus, as a CloudEvent (delivery_otp.integration_events says which and how).

Records are taken in stream order. Their events go out 10 a PutEvents call; the first record with an
event the bus did not take (or that could not be mapped) is reported as a partial batch failure, and
nothing after it is put, because Lambda retries the batch from that record on. An event put again on a
retry has the same id and body, so a receiver de-duplicates it by id; none is ever lost or renamed.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from delivery_otp.adapters.event_bus import PUT_LIMIT
from delivery_otp.integration_events import events_of_record
from delivery_otp.observability import logger
from delivery_otp.wiring import adapters


def _first_failed(records: list[dict[str, Any]]) -> int | None:
    """Publish the batch in order; the position of the first record not fully published, or None."""
    pending: list[tuple[int, dict[str, Any]]] = []
    mapping_failed: int | None = None
    for index, record in enumerate(records):
        try:
            pending += [(index, event) for event in events_of_record(record)]
        except Exception:
            logger.exception("a stream record could not be mapped", extra={"record": index})
            mapping_failed = index
            break
    for start in range(0, len(pending), PUT_LIMIT):
        chunk = pending[start : start + PUT_LIMIT]
        try:
            taken = adapters().event_bus.put([event for _, event in chunk])
        except (BotoCoreError, ClientError):
            logger.exception("the event bus could not be reached")
            return chunk[0][0]
        refused = [index for (index, _), ok in zip(chunk, taken, strict=True) if not ok]
        if refused:
            return min(refused)
    return mapping_failed


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = list(event.get("Records", []))
    failed = _first_failed(records)
    logger.info("integration events", extra={"records": len(records), "failed_from": failed})
    if failed is None:
        return {"batchItemFailures": []}
    return {"batchItemFailures": [{"itemIdentifier": records[failed]["dynamodb"]["SequenceNumber"]}]}
