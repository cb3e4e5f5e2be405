"""The suppression list: addresses that bounced for good or complained, never mailed again.

One item per address in the deliveries table, keyed by a keyed MAC of the address
(`model.suppression_key`, under a key derived from the code key with a label of its own): neither the
address nor anything a dictionary of addresses reverses is stored, so the list outlives the erasure of
a delivery's personal data. Addresses suppressed by earlier versions were keyed by a plain SHA-256;
those keys are still read (never written), so they stay suppressed. These items have no model, so
their requests are written out here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from delivery_otp.adapters.secrets import CodeKeySource
from delivery_otp.adapters.table import Table
from delivery_otp.model import legacy_suppression_key, normal_address, suppression_key

_KEY_LABEL = b"delivery-otp suppression list v1"


class SuppressionList:
    def __init__(self, table: Table, keys: CodeKeySource) -> None:
        self.table = table
        self.keys = keys

    def _key(self) -> bytes:
        return hmac.new(self.keys.key(), _KEY_LABEL, hashlib.sha256).digest()

    def suppressed(self, emails: Sequence[str]) -> set[str]:
        """Which of these addresses are suppressed (bounced or complained), lower-cased. A lookup the
        table keeps unprocessed fails (DependencyUnavailable): it never reads as "not suppressed"."""
        if not emails:
            return set()
        key = self._key()
        by_key = {suppression_key(key, e): normal_address(e) for e in emails}
        by_key |= {legacy_suppression_key(e): normal_address(e) for e in emails}
        return {by_key[item["pk"]["S"]] for item in self.table.batch_get(list(by_key), ProjectionExpression="pk")}

    def suppress(self, email: str, reason: str, at: str) -> None:
        self.table.call(
            "put_item",
            {
                "TableName": self.table.name,
                "Item": {"pk": {"S": suppression_key(self._key(), email)}, "reason": {"S": reason}, "at": {"S": at}},
            },
        )
