"""The deliveries table as the adapters reach it: one botocore client, one mapping of its failures, one
batch read. The deliveries repository and the suppression list share it (same table, same client).

Requests go through this client (`delivery_otp.adapters.clients`), not pynamodb's: pynamodb drops the
item a failed condition returns, and this client's fixed User-Agent saves a quarter of each call's CPU.
Any failure but a refused condition means the store is unreachable (DependencyUnavailable): callers
fail closed, never read a failure as "no such item".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from pynamodb.exceptions import PynamoDBException
from pynamodb.settings import get_settings_value

from delivery_otp.adapters import clients
from delivery_otp.errors import DependencyUnavailable
from delivery_otp.model import DeliveryModel

# Refusals the callers interpret from the returned items; every other error means the store is unreachable.
_EXPECTED_REFUSALS = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
# BatchGetItem calls for one batch of keys before keys the table keeps unprocessed fail the read
# (pauses of 0.1 s doubling up to 2 s between them: about 11 s in all).
_BATCH_READ_ROUNDS = 10


def _setting(name: str) -> Any:
    """A connection setting as pynamodb reads it for the model: its Meta first, then pynamodb's settings."""
    value = getattr(DeliveryModel.Meta, name, None)
    return get_settings_value(name) if value is None else value


class Table:
    def __init__(self, name: str, sleep: Callable[[float], None] = time.sleep) -> None:
        """`sleep` pauses between reads the table throttled (the tests pass one that only records)."""
        self.name = name
        self._sleep = sleep
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The botocore client every request to the table goes through, set as pynamodb would set the
        model's own (endpoint, region and timeouts from the model's Meta, bound by `model.bind`). Made on
        first use, as pynamodb makes its own: a failure to make it (no credentials, a bad endpoint) is the
        store being unavailable, and the next request tries again. (Two threads' first calls may each make
        one, one at a time in `clients`; the spare is dropped.)"""
        if self._client is None:
            try:
                self._client = clients.client(
                    "dynamodb",
                    endpoint_url=DeliveryModel.Meta.host,
                    region=DeliveryModel.Meta.region,
                    connect_timeout=_setting("connect_timeout_seconds"),
                    read_timeout=_setting("read_timeout_seconds"),
                    max_pool_connections=_setting("max_pool_connections"),
                    retries={"total_max_attempts": 1 + _setting("max_retry_attempts"), "mode": "standard"},
                )
            except (BotoCoreError, ValueError) as exc:
                raise DependencyUnavailable("the delivery store is unavailable") from exc
        return self._client

    def call(self, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Send one request. A refused condition is raised as the ClientError (its item tells why);
        anything else is DependencyUnavailable."""
        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _EXPECTED_REFUSALS:
                raise
            raise DependencyUnavailable("the delivery store is unavailable") from exc
        except NoCredentialsError as exc:
            self._client = None  # made while credentials could not be found: make it afresh next time
            raise DependencyUnavailable("the delivery store is unavailable") from exc
        except (BotoCoreError, PynamoDBException) as exc:
            raise DependencyUnavailable("the delivery store is unavailable") from exc

    def batch_get(self, keys: Sequence[str], **options: Any) -> list[dict[str, Any]]:
        """The items of these keys that exist, by BatchGetItem, 100 keys a call (`options`: e.g.
        ConsistentRead, ProjectionExpression). Keys the table leaves unprocessed (it is throttling) are
        asked for again after a growing pause, as the SDKs do; keys still unprocessed after
        `_BATCH_READ_ROUNDS` calls fail the read (DependencyUnavailable) rather than answer in part,
        since a key missing from the answer would read as "no such item" (for suppression: an address
        that bounced would be mailed again)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.name: {"Keys": [{"pk": {"S": k}} for k in keys[start : start + 100]], **options}
            }
            for attempt in range(_BATCH_READ_ROUNDS):
                if attempt:
                    self._sleep(min(0.05 * 2**attempt, 2.0))
                response = self.call("batch_get_item", {"RequestItems": request})
                found += response.get("Responses", {}).get(self.name, [])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise DependencyUnavailable("the delivery store kept some reads unprocessed")
        return found
