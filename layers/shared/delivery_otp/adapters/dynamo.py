"""The deliveries table. Every state change is one conditional UpdateItem whose condition is the rule
it enforces; when the condition fails, DynamoDB hands back the item as it was
(ReturnValuesOnConditionCheckFailure=ALL_OLD), so the caller learns why without a second read. Each
write also moves the item's `rev`, which lets the nightly rotation write due items back whole
(`replace_many`) without ever overwriting a change that landed after it read them.

pynamodb describes the item and builds the expressions; the request itself goes through the
repository's own botocore client (`delivery_otp.adapters.clients`), because pynamodb drops the returned
item from a failed condition, and because that client's fixed User-Agent saves a quarter of each call's
CPU. The one write on the courier's critical path (a right code at the door) is a `PreparedUpdate`
instead: its expressions are written once, so a request costs less than a bare boto3 `update_item`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from pynamodb.exceptions import PynamoDBException
from pynamodb.settings import get_settings_value

from delivery_otp.adapters import clients
from delivery_otp.errors import DependencyUnavailable
from delivery_otp.model import CourierBudgetModel, DeliveryModel, courier_key, delivery_key, suppression_key

# Refusals the callers interpret from the returned items; every other error means the store is unreachable.
_EXPECTED_REFUSALS = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
# BatchGetItem calls for one batch of keys before keys the table keeps unprocessed fail the read
# (pauses of 0.1 s doubling up to 2 s between them: about 11 s in all).
_BATCH_READ_ROUNDS = 10


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a conditional write: `item` is the new item when it applied, else the old one.

    With a courier guard, `courier_refused` says the courier's budget condition failed and `courier`
    holds the courier's item as it was (None when it had none or its condition held)."""

    applied: bool
    item: DeliveryModel | None
    courier_refused: bool = False
    courier: CourierBudgetModel | None = None
    # Only the courier's condition failed: the delivery is as the caller last saw it (not re-read).
    delivery_held: bool = False


@dataclass(frozen=True)
class CourierGuard:
    """A courier-item part of the same transaction: a pure check, or an update (with its actions)."""

    courier_id: str
    condition: Any
    actions: Sequence[Any] = ()


def attribute_value(value: Any) -> dict[str, Any]:
    """Plain Python as a DynamoDB attribute value, as pynamodb stores it (a None member of a map is left out)."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: attribute_value(v) for k, v in value.items() if v is not None}}
    if isinstance(value, list):
        return {"L": [attribute_value(v) for v in value]}
    raise TypeError(f"no attribute value for {type(value).__name__}")


@dataclass(frozen=True)
class PreparedUpdate:
    """An UpdateItem on a delivery (or a check on a courier's item) whose expressions are fixed: each call
    brings only its values (`:name`) and, where a map key varies, its names (`#name`). `constants`
    are values that never change, serialised once."""

    condition: str
    update: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    _constant_values: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.update is not None:  # a pure check (on a courier's item) writes nothing
            if "ADD " in self.update:
                raise ValueError("a prepared update adds `rev` itself: write ADD clauses into that one")
            object.__setattr__(self, "update", f"{self.update} ADD rev :rev_step")
            object.__setattr__(self, "constants", {**self.constants, ":rev_step": 1})
        object.__setattr__(self, "_constant_values", {k: attribute_value(v) for k, v in self.constants.items()})

    def values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        serialised = dict(self._constant_values)
        serialised.update((k, attribute_value(v)) for k, v in values.items())
        return serialised


def _setting(name: str) -> Any:
    """A connection setting as pynamodb reads it for the model: its Meta first, then pynamodb's settings."""
    value = getattr(DeliveryModel.Meta, name, None)
    return get_settings_value(name) if value is None else value


def _moving_rev(actions: Sequence[Any]) -> list[Any]:
    """Every write to a delivery moves its `rev` (see DeliveryModel.rev): added here, so none forgets it."""
    return [*actions, DeliveryModel.rev.add(1)]


class DeliveryRepository:
    def __init__(self, table_name: str, sleep: Callable[[float], None] = time.sleep) -> None:
        """`sleep` pauses between reads the table throttled (the tests pass one that only records)."""
        self.table_name = table_name
        self._sleep = sleep
        for model in (DeliveryModel, CourierBudgetModel):
            model.Meta.table_name = table_name
            model.Meta.host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            if region:
                model.Meta.region = region
            model._connection = None  # settings changed: build the connection afresh
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The botocore client every request of the repository goes through, set as pynamodb would set its
        own. Made on first use, as pynamodb makes its own: a failure to make it (no credentials, a bad
        endpoint) is the store being unavailable, and the next request tries again. (Two threads' first
        calls may each make one, one at a time in `clients`; the spare is dropped.)"""
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

    @staticmethod
    def _connection() -> Any:
        return DeliveryModel._get_connection()

    def _call(self, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
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

    def _batch_get(self, keys: Sequence[str], **options: Any) -> list[dict[str, Any]]:
        """The items of these keys that exist, by BatchGetItem, 100 keys a call (`options`: e.g.
        ConsistentRead, ProjectionExpression). Keys the table leaves unprocessed (it is throttling) are
        asked for again after a growing pause, as the SDKs do; keys still unprocessed after
        `_BATCH_READ_ROUNDS` calls fail the read (DependencyUnavailable) rather than answer in part,
        since a key missing from the answer would read as "no such item" (for suppression: an address
        that bounced would be mailed again)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table_name: {"Keys": [{"pk": {"S": k}} for k in keys[start : start + 100]], **options}
            }
            for attempt in range(_BATCH_READ_ROUNDS):
                if attempt:
                    self._sleep(min(0.05 * 2**attempt, 2.0))
                response = self._call("batch_get_item", {"RequestItems": request})
                found += response.get("Responses", {}).get(self.table_name, [])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise DependencyUnavailable("the delivery store kept some reads unprocessed")
        return found

    def get_many(self, delivery_ids: Sequence[str]) -> dict[str, DeliveryModel]:
        """Strongly consistent reads of these deliveries; the unknown ones are left out."""
        keys = [delivery_key(i) for i in dict.fromkeys(delivery_ids)]
        deliveries = (DeliveryModel.from_raw_data(item) for item in self._batch_get(keys, ConsistentRead=True))
        return {delivery.delivery_id: delivery for delivery in deliveries}

    def suppressed(self, emails: Sequence[str]) -> set[str]:
        """Which of these addresses are suppressed (bounced or complained), lower-cased."""
        by_key = {suppression_key(e): e.strip().lower() for e in emails}
        return {by_key[item["pk"]["S"]] for item in self._batch_get(list(by_key), ProjectionExpression="pk")}

    def suppress(self, email: str, reason: str, at: str) -> None:
        self._call(
            "put_item",
            {
                "TableName": self.table_name,
                "Item": {"pk": {"S": suppression_key(email)}, "reason": {"S": reason}, "at": {"S": at}},
            },
        )

    def courier(self, courier_id: str) -> CourierBudgetModel | None:
        kwargs = CourierBudgetModel._get_connection().get_operation_kwargs(
            courier_key(courier_id), consistent_read=True
        )
        item = self._call("get_item", kwargs).get("Item")
        return CourierBudgetModel.from_raw_data(item) if item else None

    def update(
        self,
        delivery_id: str,
        actions: Sequence[Any],
        condition: Any,
        guard: CourierGuard | None = None,
        *,
        want_new: bool = True,
    ) -> WriteResult:
        """`want_new=False` when the caller needs nothing back on success (the right code at the
        door): the item is then neither sent nor parsed."""
        if guard is not None:
            return self._transact(delivery_id, actions, condition, guard)
        kwargs = self._connection().get_operation_kwargs(
            delivery_key(delivery_id),
            actions=_moving_rev(actions),
            condition=DeliveryModel.pk.exists() & condition,
            return_values="ALL_NEW" if want_new else None,
            return_values_on_condition_failure="ALL_OLD",
        )
        return self._update_item(kwargs, want_new)

    def update_prepared(
        self,
        delivery_id: str,
        prepared: PreparedUpdate,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        courier: tuple[str, PreparedUpdate, Mapping[str, Any]] | None = None,
    ) -> WriteResult:
        """A prepared update of the delivery (its condition must include `attribute_exists(pk)`); with
        `courier` (id, check, values), in one transaction with a check on the courier's item. Nothing
        is returned on success."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": delivery_key(delivery_id)}},
            "UpdateExpression": prepared.update,
            "ConditionExpression": prepared.condition,
            "ExpressionAttributeNames": {**prepared.names, **names} if names else prepared.names,
            "ExpressionAttributeValues": prepared.values(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if courier is None:
            return self._update_item(kwargs, want_new=False)
        courier_id, check, check_values = courier
        check_kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": courier_key(courier_id)}},
            "ConditionExpression": check.condition,
            "ExpressionAttributeValues": check.values(check_values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if check.names:
            check_kwargs["ExpressionAttributeNames"] = check.names
        return self._transact_items(delivery_id, [{"Update": kwargs}, {"ConditionCheck": check_kwargs}])

    def _update_item(self, kwargs: dict[str, Any], want_new: bool) -> WriteResult:
        try:
            response = self._call("update_item", kwargs)
        except ClientError as exc:
            old = exc.response.get("Item")
            return WriteResult(False, DeliveryModel.from_raw_data(old) if old else None)
        return WriteResult(True, DeliveryModel.from_raw_data(response["Attributes"]) if want_new else None)

    def _transact(self, delivery_id: str, actions: Sequence[Any], condition: Any, guard: CourierGuard) -> WriteResult:
        """The delivery's write and the courier's budget in one TransactWriteItems: still one request."""
        delivery_part = self._connection().get_operation_kwargs(
            delivery_key(delivery_id),
            actions=_moving_rev(actions),
            condition=DeliveryModel.pk.exists() & condition,
            return_values_on_condition_failure="ALL_OLD",
        )
        courier_part = CourierBudgetModel._get_connection().get_operation_kwargs(
            courier_key(guard.courier_id),
            actions=list(guard.actions) or None,
            condition=guard.condition,
            return_values_on_condition_failure="ALL_OLD",
        )
        items = [
            {"Update": delivery_part},
            {"Update": courier_part} if guard.actions else {"ConditionCheck": courier_part},
        ]
        return self._transact_items(delivery_id, items)

    def _transact_items(self, delivery_id: str, items: list[dict[str, Any]]) -> WriteResult:
        """Items: the delivery's update, then the courier's part. The outcome as a WriteResult."""
        try:
            self._call("transact_write_items", {"TransactItems": items})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise DependencyUnavailable("the delivery store is unavailable") from exc
            reasons = exc.response.get("CancellationReasons") or [{}, {}]
            if not any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                # Conflicting transactions in flight: the caller retries on fresh state.
                return WriteResult(False, self.get(delivery_id), False, None)
            delivery_old = reasons[0].get("Item")
            courier_old = reasons[1].get("Item")
            held = reasons[0].get("Code") != "ConditionalCheckFailed"
            return WriteResult(
                False,
                DeliveryModel.from_raw_data(delivery_old) if delivery_old else None,
                reasons[1].get("Code") == "ConditionalCheckFailed",
                CourierBudgetModel.from_raw_data(courier_old) if courier_old else None,
                delivery_held=held,
            )
        # Transactions return nothing on success; callers of a guarded write need no item then.
        return WriteResult(True, None)

    def update_many(self, writes: Sequence[tuple[str, Sequence[Any], Any]]) -> list[bool]:
        """Several independent conditional updates in one TransactWriteItems (at most 100). Returns, per
        write, whether it applied (see `_apply_independent`)."""
        if len(writes) == 1:  # a transaction of one costs twice the write units of the plain write
            delivery_id, actions, condition = writes[0]
            return [self.update(delivery_id, actions, condition, want_new=False).applied]
        return self._apply_independent(
            [
                {
                    "Update": self._connection().get_operation_kwargs(
                        delivery_key(delivery_id),
                        actions=_moving_rev(actions),
                        condition=DeliveryModel.pk.exists() & condition,
                    )
                }
                for delivery_id, actions, condition in writes
            ]
        )

    def replace_many(self, deliveries: Sequence[DeliveryModel]) -> list[bool]:
        """Write each delivery back whole (at most 100, one TransactWriteItems) on condition that its
        `rev` is still the one it was read with, so a write that landed meanwhile makes this one refuse
        instead of being overwritten. Each put moves `rev` by one, as every write here does."""
        items = []
        for delivery in deliveries:
            read = delivery.rev
            unchanged = DeliveryModel.rev.does_not_exist() if read is None else DeliveryModel.rev == int(read)
            condition = DeliveryModel.pk.exists() & unchanged
            kwargs = self._connection().get_operation_kwargs(delivery.pk, condition=condition)
            kwargs.pop("Key", None)
            kwargs["Item"] = {**delivery.serialize(), "rev": {"N": str(int(read or 0) + 1)}}
            items.append({"Put": kwargs})
        if len(items) == 1:
            try:
                self._call("put_item", items[0]["Put"])
            except ClientError:
                return [False]
            return [True]
        return self._apply_independent(items)

    def _apply_independent(self, items: list[dict[str, Any]]) -> list[bool]:
        """Independent conditional writes batched in one TransactWriteItems. A transaction is all or
        nothing, so when some conditions fail (those items changed since they were read: they are left
        alone) the others are sent again without them. Which ones failed comes from the cancellation
        reasons, in request order."""
        applied = [False] * len(items)
        pending = list(range(len(items)))
        for _ in range(len(items) + 3):
            if not pending:
                break
            try:
                self._call("transact_write_items", {"TransactItems": [items[i] for i in pending]})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise DependencyUnavailable("the delivery store is unavailable") from exc
                reasons = exc.response.get("CancellationReasons") or []
                refused = {
                    i for i, r in zip(pending, reasons, strict=False) if r.get("Code") == "ConditionalCheckFailed"
                }
                pending = [i for i in pending if i not in refused]
                continue
            for i in pending:
                applied[i] = True
            pending = []
        if pending:
            raise DependencyUnavailable("the delivery store kept refusing a batch of writes")
        return applied

    def due_page(
        self, shard: str, until_epoch: int, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """The ids of one page of the deliveries of a shard whose day ended by `until_epoch` (a Query on
        the sparse, keys-only index, earliest first), and where the next page starts (None at the end)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        due = (DeliveryModel.due_shard == shard) & (DeliveryModel.due_at <= until_epoch)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": DeliveryModel.due_index.Meta.index_name,
            "KeyConditionExpression": due.serialize(names, values),
            "ExpressionAttributeNames": {placeholder: name for name, placeholder in names.items()},
            "ExpressionAttributeValues": values,
            "Limit": limit,
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        response = self._call("query", kwargs)
        page = [item["pk"]["S"].removeprefix(delivery_key("")) for item in response.get("Items", [])]
        return page, response.get("LastEvaluatedKey")
