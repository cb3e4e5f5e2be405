"""The suppression list: addresses that bounced for good or complained, never mailed again.

One item per address in the deliveries table, keyed by a hash of the address (`model.suppression_key`):
the address itself is not stored. These items have no model, so their requests are written out here.
"""

from __future__ import annotations

from collections.abc import Sequence

from delivery_otp.adapters.table import Table
from delivery_otp.model import suppression_key


class SuppressionList:
    def __init__(self, table: Table) -> None:
        self.table = table

    def suppressed(self, emails: Sequence[str]) -> set[str]:
        """Which of these addresses are suppressed (bounced or complained), lower-cased. A lookup the
        table keeps unprocessed fails (DependencyUnavailable): it never reads as "not suppressed"."""
        by_key = {suppression_key(e): e.strip().lower() for e in emails}
        return {by_key[item["pk"]["S"]] for item in self.table.batch_get(list(by_key), ProjectionExpression="pk")}

    def suppress(self, email: str, reason: str, at: str) -> None:
        self.table.call(
            "put_item",
            {
                "TableName": self.table.name,
                "Item": {"pk": {"S": suppression_key(email)}, "reason": {"S": reason}, "at": {"S": at}},
            },
        )
