"""Consumer of the deliveries table's stream: sends the code email for every newly issued (or resent)
code, and the alert when a code first meets a wrong guess.

A batch is sent in bulk (one read, one SES call per 50 recipients, one write per 100 marks). Partial
batch failures: a code email SES did not take is reported by its record, so Lambda retries from the
first such record on (those already marked sent are skipped then); when a store or SES is
unreachable the whole batch fails and is retried, bisected, and in the end dead-lettered.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp.notifications import alert_to_send, issue_to_email, send_code_emails, send_wrong_code_alerts
from delivery_otp.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    targets = {i: target for i, r in enumerate(records) if (target := issue_to_email(r)) is not None}
    unsent = {delivery_id for delivery_id, _, _ in send_code_emails(list(targets.values()))}
    alerts = {i: target for i, r in enumerate(records) if (target := alert_to_send(r)) is not None}
    unalerted = {delivery_id for delivery_id, _ in send_wrong_code_alerts(list(alerts.values()))}
    failed = sorted(
        {i for i, (delivery_id, _, _) in targets.items() if delivery_id in unsent}
        | {i for i, (delivery_id, _) in alerts.items() if delivery_id in unalerted}
    )
    failures = [{"itemIdentifier": records[i]["dynamodb"]["SequenceNumber"]} for i in failed]
    logger.info(
        "code emails",
        extra={"records": len(records), "to_send": len(targets), "unsent": len(unsent), "alerts": len(alerts)},
    )
    return {"batchItemFailures": failures}
