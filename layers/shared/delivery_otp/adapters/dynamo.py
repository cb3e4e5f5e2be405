"""The deliveries table. Every state change is one conditional UpdateItem whose condition is the rule
it enforces; when the condition fails, DynamoDB hands back the item as it was
(ReturnValuesOnConditionCheckFailure=ALL_OLD), so the caller learns why without a second read.

pynamodb describes the item and builds the expressions; the request itself goes through its botocore
client directly because pynamodb drops the returned item from a failed condition.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from delivery_otp.errors import DependencyUnavailable
from delivery_otp.model import DeliveryModel, delivery_key


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a conditional write: `item` is the new item when it applied, else the old one."""

    applied: bool
    item: DeliveryModel | None


class DeliveryRepository:
    def __init__(self, table_name: str) -> None:
        DeliveryModel.Meta.table_name = table_name
        DeliveryModel.Meta.host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            DeliveryModel.Meta.region = region
        DeliveryModel._connection = None  # settings changed: build the connection afresh

    @staticmethod
    def _connection() -> Any:
        return DeliveryModel._get_connection()

    def _call(self, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            client = self._connection().connection.client
            return getattr(client, operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise
            raise DependencyUnavailable("the delivery store is unavailable") from exc
        except (BotoCoreError, PynamoDBException) as exc:
            raise DependencyUnavailable("the delivery store is unavailable") from exc

    def get(self, delivery_id: str) -> DeliveryModel | None:
        kwargs = self._connection().get_operation_kwargs(delivery_key(delivery_id), consistent_read=True)
        response = self._call("get_item", kwargs)
        item = response.get("Item")
        return DeliveryModel.from_raw_data(item) if item else None

    def create(self, delivery: DeliveryModel) -> DeliveryModel | None:
        """Insert unless the id exists; returns the existing item in that case, None when created."""
        attributes = delivery.serialize()
        kwargs = self._connection().get_operation_kwargs(
            delivery.pk,
            condition=DeliveryModel.pk.does_not_exist(),
            return_values_on_condition_failure="ALL_OLD",
        )
        kwargs.pop("Key", None)
        kwargs["Item"] = attributes
        try:
            self._call("put_item", kwargs)
        except ClientError as exc:
            old = exc.response.get("Item")
            return DeliveryModel.from_raw_data(old) if old else self.get(delivery.delivery_id)
        return None

    def update(self, delivery_id: str, actions: Sequence[Any], condition: Any) -> WriteResult:
        kwargs = self._connection().get_operation_kwargs(
            delivery_key(delivery_id),
            actions=list(actions),
            condition=DeliveryModel.pk.exists() & condition,
            return_values="ALL_NEW",
            return_values_on_condition_failure="ALL_OLD",
        )
        try:
            response = self._call("update_item", kwargs)
        except ClientError as exc:
            old = exc.response.get("Item")
            return WriteResult(False, DeliveryModel.from_raw_data(old) if old else None)
        return WriteResult(True, DeliveryModel.from_raw_data(response["Attributes"]))

    def due(self, shard: str, until_epoch: int, page_size: int = 200) -> Iterator[DeliveryModel]:
        """Deliveries of one shard whose day ended by `until_epoch`: a Query on the sparse index."""
        try:
            yield from DeliveryModel.due_index.query(shard, DeliveryModel.due_at <= until_epoch, page_size=page_size)
        except (BotoCoreError, ClientError, PynamoDBException) as exc:
            raise DependencyUnavailable("the delivery store is unavailable") from exc
