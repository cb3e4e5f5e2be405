"""The deliveries repository: every read and write of a delivery's item.

Every state change is one conditional UpdateItem whose condition is the rule it enforces; when the
condition fails, DynamoDB hands back the item as it was (ReturnValuesOnConditionCheckFailure=ALL_OLD),
so the caller learns why without a second read. Each write also moves the item's `rev`, which lets the
nightly rotation write due items back whole (`replace_many`) without ever overwriting a change that
landed after it read them.

Requests are built one way: pynamodb actions and conditions, serialised through the model's connection
(which never sends anything); they are sent through the table's own client (`adapters.table`). The
right code at the door is the exception, prepared once in `adapters.prepared`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from delivery_otp.adapters import courier_budgets, prepared
from delivery_otp.errors import DependencyUnavailable
from delivery_otp.model import WRITES_PER_TRANSACTION, CourierBudgetModel, DeliveryModel, LinkModel, delivery_key

if TYPE_CHECKING:
    from delivery_otp.adapters.courier_budgets import CourierGuard
    from delivery_otp.adapters.prepared import PreparedUpdate
    from delivery_otp.adapters.table import Table


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


def _request(key: str, **options: Any) -> dict[str, Any]:
    """A request on the delivery item `key`, serialised by pynamodb (`options`: actions, condition, ...)."""
    return DeliveryModel._get_connection().get_operation_kwargs(key, **options)


def _conditional_update(delivery_id: str, actions: Sequence[Any], condition: Any, **options: Any) -> dict[str, Any]:
    """An update of an existing delivery on `condition`. Every write to a delivery moves its `rev` (see
    DeliveryModel.rev): added here, so none forgets it."""
    return _request(
        delivery_key(delivery_id),
        actions=[*actions, DeliveryModel.rev.add(1)],
        condition=DeliveryModel.pk.exists() & condition,
        **options,
    )


def _link_puts(links: Sequence[LinkModel]) -> list[dict[str, Any]]:
    """Transaction items putting page links' lookup items (a token's hash names one holder for good)."""
    return [{"Put": link.get_save_kwargs_from_instance()} for link in links]


class DeliveryRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    @property
    def client(self) -> Any:
        """The botocore client the repository's requests go through (the table's)."""
        return self.table.client

    def get(self, delivery_id: str) -> DeliveryModel | None:
        item = self.table.call("get_item", _request(delivery_key(delivery_id), consistent_read=True)).get("Item")
        return DeliveryModel.from_raw_data(item) if item else None

    def create(self, delivery: DeliveryModel, links: Sequence[LinkModel] = ()) -> DeliveryModel | None:
        """Insert unless the id exists; returns the existing item in that case, None when created. With
        `links`, their lookup items are put in the same transaction (all or nothing)."""
        request = delivery.get_save_kwargs_from_instance(
            condition=DeliveryModel.pk.does_not_exist(), return_values_on_condition_failure="ALL_OLD"
        )
        if links:
            try:
                self.table.call("transact_write_items", {"TransactItems": [{"Put": request}, *_link_puts(links)]})
            except ClientError as exc:
                return self._refused_transaction(exc, delivery.delivery_id) or self.get(delivery.delivery_id)
            return None
        try:
            self.table.call("put_item", request)
        except ClientError as exc:
            old = exc.response.get("Item")
            return DeliveryModel.from_raw_data(old) if old else self.get(delivery.delivery_id)
        return None

    def get_link(self, key: str) -> LinkModel | None:
        """A page link's lookup item, by its key (`model.link_key` of the token's hash)."""
        request = LinkModel._get_connection().get_operation_kwargs(key, consistent_read=True)
        item = self.table.call("get_item", request).get("Item")
        return LinkModel.from_raw_data(item) if item else None

    def _refused_transaction(self, exc: ClientError, delivery_id: str) -> DeliveryModel | None:
        """The delivery as it was when a transaction with its write (first) was refused; None when its own
        condition held (a conflict elsewhere: the caller tries again on fresh state)."""
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise DependencyUnavailable("the delivery store is unavailable") from exc
        reasons = exc.response.get("CancellationReasons") or [{}]
        old = reasons[0].get("Item")
        return DeliveryModel.from_raw_data(old) if old else None

    def get_many(self, delivery_ids: Sequence[str]) -> dict[str, DeliveryModel]:
        """Strongly consistent reads of these deliveries; the unknown ones are left out."""
        keys = [delivery_key(i) for i in dict.fromkeys(delivery_ids)]
        items = self.table.batch_get(keys, ConsistentRead=True)
        deliveries = (DeliveryModel.from_raw_data(item) for item in items)
        return {delivery.delivery_id: delivery for delivery in deliveries}

    def update(
        self,
        delivery_id: str,
        actions: Sequence[Any],
        condition: Any,
        guard: CourierGuard | None = None,
        *,
        want_new: bool = True,
        links: Sequence[LinkModel] = (),
    ) -> WriteResult:
        """With `guard`, in one transaction with the courier's part. `want_new=False` when the caller needs
        nothing back on success (the right code at the door): the item is then neither sent nor parsed.
        With `links`, their lookup items are put in one transaction with the update, which then hands
        back no item on success (read it again when needed)."""
        if links:
            delivery_part = _conditional_update(
                delivery_id, actions, condition, return_values_on_condition_failure="ALL_OLD"
            )
            try:
                self.table.call(
                    "transact_write_items", {"TransactItems": [{"Update": delivery_part}, *_link_puts(links)]}
                )
            except ClientError as exc:
                old = self._refused_transaction(exc, delivery_id)
                return WriteResult(False, old if old is not None else self.get(delivery_id))
            return WriteResult(True, None)
        if guard is not None:
            delivery_part = _conditional_update(
                delivery_id, actions, condition, return_values_on_condition_failure="ALL_OLD"
            )
            return self._transact(delivery_id, [{"Update": delivery_part}, guard.transaction_item()])
        request = _conditional_update(
            delivery_id,
            actions,
            condition,
            return_values="ALL_NEW" if want_new else None,
            return_values_on_condition_failure="ALL_OLD",
        )
        return self._update_item(request, want_new)

    def update_prepared(
        self,
        delivery_id: str,
        update: PreparedUpdate,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        courier: tuple[str, PreparedUpdate, Mapping[str, Any]] | None = None,
    ) -> WriteResult:
        """A prepared update of the delivery; with `courier` (id, check, values), in one transaction with a
        check on the courier's item. Nothing is returned on success."""
        request = prepared.update_request(self.table.name, delivery_id, update, values, names)
        if courier is None:
            return self._update_item(request, want_new=False)
        return self._transact(delivery_id, prepared.with_courier_check(request, self.table.name, *courier))

    def _update_item(self, request: dict[str, Any], want_new: bool) -> WriteResult:
        try:
            response = self.table.call("update_item", request)
        except ClientError as exc:
            old = exc.response.get("Item")
            return WriteResult(False, DeliveryModel.from_raw_data(old) if old else None)
        return WriteResult(True, DeliveryModel.from_raw_data(response["Attributes"]) if want_new else None)

    def _transact(self, delivery_id: str, items: list[dict[str, Any]]) -> WriteResult:
        """The delivery's update and the courier's part (in that order) in one TransactWriteItems: still
        one request. The outcome as a WriteResult."""
        try:
            self.table.call("transact_write_items", {"TransactItems": items})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise DependencyUnavailable("the delivery store is unavailable") from exc
            reasons = exc.response.get("CancellationReasons") or [{}, {}]
            if not any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                # Conflicting transactions in flight: the caller retries on fresh state.
                return WriteResult(False, self.get(delivery_id), False, None)
            delivery_old = reasons[0].get("Item")
            held = reasons[0].get("Code") != "ConditionalCheckFailed"
            return WriteResult(
                False,
                DeliveryModel.from_raw_data(delivery_old) if delivery_old else None,
                reasons[1].get("Code") == "ConditionalCheckFailed",
                courier_budgets.as_it_was(reasons[1].get("Item")),
                delivery_held=held,
            )
        # Transactions return nothing on success; callers of a guarded write need no item then.
        return WriteResult(True, None)

    def update_many(self, writes: Sequence[tuple[str, Sequence[Any], Any]]) -> list[bool]:
        """Several independent conditional updates, in TransactWriteItems of at most 100 (DynamoDB's
        limit). Returns, per write, whether it applied (see `_apply_independent`)."""
        applied: list[bool] = []
        for start in range(0, len(writes), WRITES_PER_TRANSACTION):
            chunk = writes[start : start + WRITES_PER_TRANSACTION]
            if len(chunk) == 1:  # a transaction of one costs twice the write units of the plain write
                delivery_id, actions, condition = chunk[0]
                applied.append(self.update(delivery_id, actions, condition, want_new=False).applied)
                continue
            applied += self._apply_independent(
                [
                    {"Update": _conditional_update(delivery_id, actions, condition)}
                    for delivery_id, actions, condition in chunk
                ]
            )
        return applied

    def replace_many(self, deliveries: Sequence[DeliveryModel]) -> list[bool]:
        """Write each delivery back whole (at most 100, one TransactWriteItems) on condition that its
        `rev` is still the one it was read with, so a write that landed meanwhile makes this one refuse
        instead of being overwritten. Each put moves `rev` by one, as every write here does."""
        items = []
        for delivery in deliveries:
            read = delivery.rev
            unchanged = DeliveryModel.rev.does_not_exist() if read is None else DeliveryModel.rev == int(read)
            request = delivery.get_save_kwargs_from_instance(condition=DeliveryModel.pk.exists() & unchanged)
            request["Item"]["rev"] = {"N": str(int(read or 0) + 1)}
            items.append({"Put": request})
        if len(items) == 1:
            try:
                self.table.call("put_item", items[0]["Put"])
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
                self.table.call("transact_write_items", {"TransactItems": [items[i] for i in pending]})
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

    def keep_record(self, delivery_id: str, key: str) -> None:
        """Keep the key of an idempotency record on the delivery it answers about (nothing when the
        delivery is unknown: such an answer names nobody)."""
        self.update(
            delivery_id, [DeliveryModel.idempotency_records.add({key})], DeliveryModel.pk.exists(), want_new=False
        )

    def delete_records(self, keys: Sequence[str]) -> None:
        """Delete other items of the table by key (idempotency records a delivery's requests left);
        deleting one that is gone already changes nothing."""
        for key in keys:
            self.table.call("delete_item", {"TableName": self.table.name, "Key": {"pk": {"S": key}}})

    def _due_query(self, shard: str, until_epoch: int | None = None, after_epoch: int | None = None) -> dict[str, Any]:
        """A Query of the deliveries of a shard whose day ended by `until_epoch`, or ends after
        `after_epoch` (the sparse, keys-only index, earliest first)."""
        # pynamodb's connection builds no Query without sending it: its condition is serialised here.
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if until_epoch is not None:
            due = (DeliveryModel.due_shard == shard) & (DeliveryModel.due_at <= until_epoch)
        else:
            due = (DeliveryModel.due_shard == shard) & (DeliveryModel.due_at > after_epoch)
        return {
            "TableName": self.table.name,
            "IndexName": DeliveryModel.due_index.Meta.index_name,
            "KeyConditionExpression": due.serialize(names, values),
            "ExpressionAttributeNames": {placeholder: name for name, placeholder in names.items()},
            "ExpressionAttributeValues": values,
        }

    def due_page(
        self, shard: str, until_epoch: int, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """The ids of one page of the deliveries of a shard whose day ended by `until_epoch`, earliest
        first, and where the next page starts (None at the end)."""
        request = {**self._due_query(shard, until_epoch), "Limit": limit}
        if start is not None:
            request["ExclusiveStartKey"] = start
        response = self.table.call("query", request)
        page = [item["pk"]["S"].removeprefix(delivery_key("")) for item in response.get("Items", [])]
        return page, response.get("LastEvaluatedKey")

    def count_due(self, shard: str, until_epoch: int) -> int:
        """How many deliveries of a shard have a day that ended by `until_epoch` (counted by the index,
        1 MB of keys a page: after a rotation that kept up, one short page)."""
        request: dict[str, Any] = {**self._due_query(shard, until_epoch), "Select": "COUNT"}
        count = 0
        while True:
            response = self.table.call("query", request)
            count += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                return count
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def live_page(
        self, shard: str, after_epoch: int, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """The ids of one page of the deliveries of a shard whose day ends after `after_epoch` (their code,
        if any, still live), and where the next page starts (None at the end)."""
        request = {**self._due_query(shard, after_epoch=after_epoch), "Limit": limit}
        if start is not None:
            request["ExclusiveStartKey"] = start
        response = self.table.call("query", request)
        page = [item["pk"]["S"].removeprefix(delivery_key("")) for item in response.get("Items", [])]
        return page, response.get("LastEvaluatedKey")
