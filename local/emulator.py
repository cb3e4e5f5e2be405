"""moto's server, made as faithful as the product needs.

Real DynamoDB applies each write to an item atomically: a conditional write is judged and applied as
one step. moto's server handles requests in threads and reads, judges and writes without a lock, so two
concurrent conditional updates can both pass (seen here: two ACCEPTED answers for one code under load).
Serialising DynamoDB calls restores the atomicity the product relies on, without touching the product;
the exactly-once tests then test our conditions, not moto's races.
"""

from __future__ import annotations

import threading
from functools import wraps
from typing import Any

from moto.server import ThreadedMotoServer

_lock = threading.Lock()
_patched = False


def make_dynamodb_atomic() -> None:
    """Run every DynamoDB API call of this process's moto backends one at a time."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @wraps(original)
    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _check_then_apply_transactions()
    _patched = True


def _check_then_apply_transactions() -> None:
    """moto backs up every table a transaction touches with a deep copy, so each transaction costs time
    proportional to the whole table (seen: a verification slowing from 10 ms to 100 ms as a test run
    filled the table). With calls serialised, judging every condition first and writing only when all
    hold is just as atomic, and costs only the items involved."""
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models import get_filter_expression as condition_of

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            identity = (op["TableName"], str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = self.get_item(op["TableName"], key)
            expression = op.get("ConditionExpression")
            if expression is not None and not condition_of(
                expression, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            ).expr(current):
                old = (
                    current.to_json()["Attributes"]
                    if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                    else None
                )
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
            else:
                errors.append((None, None, None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(
                    op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values
                )
            elif op_type == "Delete":
                self.delete_item(
                    op["TableName"], op["Key"], expression_attribute_names=names, expression_attribute_values=values
                )
            elif op_type == "Update":
                self.update_item(
                    op["TableName"],
                    op["Key"],
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# The ports of the moto servers running in this process: their state can be read here directly.
IN_PROCESS_PORTS: set[int] = set()


def start_moto(port: int) -> ThreadedMotoServer:
    make_dynamodb_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    IN_PROCESS_PORTS.add(port)
    return server
