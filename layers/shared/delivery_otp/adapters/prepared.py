"""Prepared writes: the right code at the door, as requests whose expressions are written once.

That write is the courier's critical path, so nothing is built per request: the expressions are fixed
strings, constant values are serialised once, and each call brings only its own values. A request then
costs less than a bare boto3 `update_item`, where pynamodb would build every expression afresh. This
is the one module that writes expressions by hand; everything else goes through pynamodb.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from delivery_otp.model import courier_key, delivery_key


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
            # Every write to a delivery moves its `rev` (see DeliveryModel.rev).
            object.__setattr__(self, "update", f"{self.update} ADD rev :rev_step")
            object.__setattr__(self, "constants", {**self.constants, ":rev_step": 1})
        object.__setattr__(self, "_constant_values", {k: attribute_value(v) for k, v in self.constants.items()})

    def values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        serialised = dict(self._constant_values)
        serialised.update((k, attribute_value(v)) for k, v in values.items())
        return serialised


def update_request(
    table_name: str,
    delivery_id: str,
    prepared: PreparedUpdate,
    values: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The UpdateItem parameters of a prepared update of a delivery (its condition must include
    `attribute_exists(pk)`). A failed condition hands back the item as it was."""
    return {
        "TableName": table_name,
        "Key": {"pk": {"S": delivery_key(delivery_id)}},
        "UpdateExpression": prepared.update,
        "ConditionExpression": prepared.condition,
        "ExpressionAttributeNames": {**prepared.names, **names} if names else prepared.names,
        "ExpressionAttributeValues": prepared.values(values),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def with_courier_check(
    update: dict[str, Any], table_name: str, courier_id: str, check: PreparedUpdate, values: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The items of one TransactWriteItems: the delivery's prepared `update`, then a check on the courier's
    item (`check`: a condition only). A failed check hands back the courier's item as it was."""
    check_request: dict[str, Any] = {
        "TableName": table_name,
        "Key": {"pk": {"S": courier_key(courier_id)}},
        "ConditionExpression": check.condition,
        "ExpressionAttributeValues": check.values(values),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if check.names:
        check_request["ExpressionAttributeNames"] = check.names
    return [{"Update": update}, {"ConditionCheck": check_request}]
