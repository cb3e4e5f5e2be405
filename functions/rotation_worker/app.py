"""One shard of the nightly rotation, from the rotation queue (see functions/rotation).

Each message names a shard and the instant the planner ran; the worker rotates what is due by then
(a message that waits in the queue still rotates exactly what was due at that instant, and what
became due since is the next run's). A shard that fails is reported alone and retried by the queue;
the rotation is idempotent, so a retry redoes nothing already done.

After each shard the worker publishes how many of its deliveries are still due more than an hour after
their day ended (the rotation lag metric, EMF in the log line), 0 included: the alarm hears silence too.
"""

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import rotation
from delivery_otp.observability import logger, publish_rotation_lag


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            job = json.loads(record["body"])
            shard = str(job["shard"])
            counts = rotation.rotate_shard(shard, datetime.fromisoformat(job["now"]))
            counts["late"] = rotation.late(shard)
        except Exception:
            logger.exception("rotation shard failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        publish_rotation_lag(counts["late"])
        logger.info("rotation shard", extra={"shard": shard, **counts})
    return {"batchItemFailures": failures}
