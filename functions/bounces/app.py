"""SES bounce and complaint events (through the configuration set's SNS topic): the delivery whose
code email bounced for good, or was reported as spam, is marked `email_undeliverable` so the
storefront shows the code on its own page instead, and the address is never mailed again.

Transient bounces (a full mailbox, a greylisting server) are left to SES's own retries. The delivery
is found from the message's `delivery` tag (its id in hex), never from the address; a delegate's
message also has a `delegate` tag, and then only that delegate is marked.

The SNS envelope is read through Powertools' `SNSEvent`; its SES data classes describe mail SES
received, not the bounce and complaint notices of mail it sent, so the notice is read here (`Notice`).
SNS invokes asynchronously, one message an invocation: there is no partial batch answer to give, and a
failure raises so Lambda retries the event.
"""

import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import bounces
from delivery_otp.observability import logger


def _delivery_of(tag: str) -> str | None:
    """The delivery id a message was tagged with (hex), or None for a tag this service did not write."""
    try:
        return bytes.fromhex(tag).decode()
    except ValueError:  # UnicodeDecodeError is one too
        return None


@dataclass(frozen=True)
class Notice:
    """An SES bounce or complaint notice about one message this service sent."""

    kind: str | None  # "Bounce", "Complaint", or another notice this function ignores
    body: dict[str, Any]

    @property
    def undeliverable(self) -> bool:
        """A permanent bounce or a complaint: the address is not mailed again."""
        permanent = self.kind == "Bounce" and self.body.get("bounce", {}).get("bounceType") == "Permanent"
        return permanent or self.kind == "Complaint"

    @property
    def reason(self) -> str:
        return (
            f"{self.kind}:{self.body.get('bounce', {}).get('bounceSubType', '')}"
            if self.kind == "Bounce"
            else "Complaint"
        )

    @property
    def recipients(self) -> list[str]:
        if self.kind == "Bounce":
            return [r["emailAddress"] for r in self.body.get("bounce", {}).get("bouncedRecipients", [])]
        return [r["emailAddress"] for r in self.body.get("complaint", {}).get("complainedRecipients", [])]

    def _tagged(self, name: str) -> list[str]:
        tags = self.body.get("mail", {}).get("tags", {})
        return [value for tag in tags.get(name, []) if (value := _delivery_of(tag))]

    @property
    def deliveries(self) -> list[str]:
        return self._tagged("delivery")

    @property
    def delegate(self) -> str | None:
        """The delegate a delegate's code email was tagged with: only that delegate is marked."""
        return next(iter(self._tagged("delegate")), None)


def _notice(message: str) -> Notice:
    body = json.loads(message)
    return Notice(body.get("eventType") or body.get("notificationType"), body)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    counts = {"marked": 0, "ignored": 0}
    for record in SNSEvent(event).records:
        notice = _notice(record.sns.message)
        if not notice.undeliverable:
            counts["ignored"] += 1
            continue
        deliveries, delegate = notice.deliveries, notice.delegate
        for delivery_id in deliveries or [""]:
            bounces.mark_undeliverable(delivery_id, notice.reason, notice.recipients, delegate)
        counts["marked"] += 1
        # Never the address in the logs: the delivery and the reason say enough.
        logger.info(
            "email undeliverable", extra={"deliveries": deliveries, "delegate": delegate, "reason": notice.reason}
        )
    return counts
