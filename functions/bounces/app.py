"""SES bounce and complaint events (through the configuration set's SNS topic): the delivery whose
code email bounced for good, or was reported as spam, is marked `email_undeliverable` so the
storefront shows the code on its own page instead, and the address is never mailed again.

Transient bounces (a full mailbox, a greylisting server) are left to SES's own retries. The delivery
is found from the message's `delivery` tag (its id in hex), never from the address; a delegate's
message also has a `delegate` tag, and then only that delegate is marked.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import bounces
from delivery_otp.observability import logger


def _recipients(event: dict[str, Any], kind: str) -> list[str]:
    if kind == "Bounce":
        return [r["emailAddress"] for r in event.get("bounce", {}).get("bouncedRecipients", [])]
    return [r["emailAddress"] for r in event.get("complaint", {}).get("complainedRecipients", [])]


def _delivery_of(tag: str) -> str | None:
    """The delivery id a message was tagged with (hex), or None for a tag this service did not write."""
    try:
        return bytes.fromhex(tag).decode()
    except ValueError:  # UnicodeDecodeError is one too
        return None


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    counts = {"marked": 0, "ignored": 0}
    for record in event.get("Records", []):
        notice = json.loads(record["Sns"]["Message"])
        kind = notice.get("eventType") or notice.get("notificationType")
        permanent = kind == "Bounce" and notice.get("bounce", {}).get("bounceType") == "Permanent"
        if not (permanent or kind == "Complaint"):
            counts["ignored"] += 1
            continue
        reason = f"{kind}:{notice.get('bounce', {}).get('bounceSubType', '')}" if kind == "Bounce" else "Complaint"
        tags = notice.get("mail", {}).get("tags", {})
        deliveries = [delivery for tag in tags.get("delivery", []) if (delivery := _delivery_of(tag))]
        # A delegate's code email carries the delegate too: only that delegate is marked.
        delegate = next((who for tag in tags.get("delegate", []) if (who := _delivery_of(tag))), None)
        recipients = _recipients(notice, kind)
        for delivery_id in deliveries or [""]:
            bounces.mark_undeliverable(delivery_id, reason, recipients, delegate)
        counts["marked"] += 1
        # Never the address in the logs: the delivery and the reason say enough.
        logger.info("email undeliverable", extra={"deliveries": deliveries, "delegate": delegate, "reason": reason})
    return counts
