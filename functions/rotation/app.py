"""The scheduled rotation's planner: one queue message per shard of the due index, nothing more.

The schedule fires every 15 minutes in UTC so each delivery is rotated soon after its own local
midnight, whatever its zone. The work itself fans out to RotationWorkerFunction, one shard per
message, so no invocation nears Lambda's 15 minutes however many parcels are due, and a shard that
fails is retried alone (then parked in the rotation dead-letter queue). What is due is read from the
table by the workers, never from the event or a "last run" mark, so a late, missed or replayed run
does the right thing.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import issuing, wiring
from delivery_otp.adapters.clients import client
from delivery_otp.config import settings
from delivery_otp.observability import logger

_SQS_BATCH = 10  # SendMessageBatch's limit


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = wiring.adapters().clock.now().isoformat()
    messages = [{"Id": shard, "MessageBody": json.dumps({"shard": shard, "now": now})} for shard in issuing.shards()]
    sqs = client("sqs")
    queue = settings().need("rotation_queue_url")
    for start in range(0, len(messages), _SQS_BATCH):
        answer = sqs.send_message_batch(QueueUrl=queue, Entries=messages[start : start + _SQS_BATCH])
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} shard messages were not queued")  # retried by Lambda
    logger.info("rotation planned", extra={"shards": len(messages), "now": now})
    return {"shards_queued": len(messages), "now": now}
