"""Webhook endpoints, their attempt logs and pending retries, as items of the deliveries table.

- All endpoints sit in one item (`W#endpoints`), one attribute per endpoint (`e_<id>`) and a count:
  registering is one conditional write that also keeps the count under the limit, listing and the
  fan-out read one item. No secret is stored: an endpoint keeps only the generation its secret is
  derived from (and, while a rotation lasts, the previous one and until when it still signs).
- An endpoint's attempt log is one item (`W#log#<id>`): a counter and 100 slots, the newest attempt
  overwriting the oldest, so the item never grows past 100 entries.
- A retry waiting for its time is one item (`W#retry#<endpoint>#<event>`) in the sparse due index
  under its own partitions (`webhook-retry#<n>`, never one of the rotation's shards), with its due time.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from delivery_otp.adapters.table import Table

REGISTRY_KEY = "W#endpoints"
RETRY_SHARDS = 4
LOG_SLOTS = 100


def _attr(endpoint_id: str) -> str:
    return f"e_{endpoint_id}"


def log_key(endpoint_id: str) -> str:
    return f"W#log#{endpoint_id}"


def retry_key(endpoint_id: str, event_id: str) -> str:
    return f"W#retry#{endpoint_id}#{event_id}"


def retry_shard(key: str) -> str:
    import zlib

    return f"webhook-retry#{zlib.crc32(key.encode()) % RETRY_SHARDS}"


def _refused(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _plain(value: dict[str, Any]) -> Any:
    (kind, raw), *_ = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        return int(raw)
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return raw
    if kind == "L":
        return [_plain(v) for v in raw]
    if kind == "M":
        return {k: _plain(v) for k, v in raw.items()}
    raise ValueError(f"unexpected attribute type {kind}")


def _typed(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [_typed(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: _typed(v) for k, v in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__}")


class WebhookStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    # -- endpoints ---------------------------------------------------------------------------------

    def endpoints(self, consistent: bool = True) -> list[dict[str, Any]]:
        """Every registered endpoint, oldest first."""
        item = self.table.call(
            "get_item",
            {"TableName": self.table.name, "Key": {"pk": {"S": REGISTRY_KEY}}, "ConsistentRead": consistent},
        ).get("Item", {})
        found = [_plain(value) for name, value in item.items() if name.startswith("e_")]
        return sorted(found, key=lambda e: (e["created_at"], e["id"]))

    def endpoint(self, endpoint_id: str) -> dict[str, Any] | None:
        return next((e for e in self.endpoints() if e["id"] == endpoint_id), None)

    def add(self, endpoint: dict[str, Any], limit: int) -> bool:
        """Register an endpoint; False when `limit` endpoints are registered already."""
        try:
            self.table.call(
                "update_item",
                {
                    "TableName": self.table.name,
                    "Key": {"pk": {"S": REGISTRY_KEY}},
                    "UpdateExpression": "SET #e = :e ADD endpoint_count :one",
                    "ConditionExpression": "attribute_not_exists(#e) AND "
                    "(attribute_not_exists(endpoint_count) OR endpoint_count < :limit)",
                    "ExpressionAttributeNames": {"#e": _attr(endpoint["id"])},
                    "ExpressionAttributeValues": {
                        ":e": _typed(endpoint),
                        ":one": {"N": "1"},
                        ":limit": {"N": str(limit)},
                    },
                },
            )
        except ClientError as exc:
            if _refused(exc):
                return False
            raise
        return True

    def remove(self, endpoint_id: str) -> bool:
        """Forget an endpoint; False when there is none by that id."""
        try:
            self.table.call(
                "update_item",
                {
                    "TableName": self.table.name,
                    "Key": {"pk": {"S": REGISTRY_KEY}},
                    "UpdateExpression": "REMOVE #e ADD endpoint_count :minus",
                    "ConditionExpression": "attribute_exists(#e)",
                    "ExpressionAttributeNames": {"#e": _attr(endpoint_id)},
                    "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                },
            )
        except ClientError as exc:
            if _refused(exc):
                return False
            raise
        return True

    def rotate(self, endpoint_id: str, previous_until: int) -> int | None:
        """Move the endpoint to its next secret generation, the current one signing on until
        `previous_until` (epoch seconds); the new generation, or None for an unknown endpoint."""
        try:
            answer = self.table.call(
                "update_item",
                {
                    "TableName": self.table.name,
                    "Key": {"pk": {"S": REGISTRY_KEY}},
                    # Right-hand sides read the item as it was: the previous generation is the current one.
                    "UpdateExpression": "SET #e.generation = #e.generation + :one, "
                    "#e.previous_generation = #e.generation, #e.previous_until = :until",
                    "ConditionExpression": "attribute_exists(#e)",
                    "ExpressionAttributeNames": {"#e": _attr(endpoint_id)},
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":until": {"N": str(previous_until)}},
                    "ReturnValues": "UPDATED_NEW",
                },
            )
        except ClientError as exc:
            if _refused(exc):
                return None
            raise
        return int(answer["Attributes"][_attr(endpoint_id)]["M"]["generation"]["N"])

    # -- attempt log -------------------------------------------------------------------------------

    def log_attempt(self, endpoint_id: str, entry: dict[str, Any], expires_at: int) -> None:
        """Record one attempt: a number from the log's counter, then its slot (the oldest of 100)."""
        numbered = self.table.call(
            "update_item",
            {
                "TableName": self.table.name,
                "Key": {"pk": {"S": log_key(endpoint_id)}},
                "UpdateExpression": "ADD seq :one SET expires_at = :exp",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":exp": {"N": str(expires_at)}},
                "ReturnValues": "UPDATED_NEW",
            },
        )
        seq = int(numbered["Attributes"]["seq"]["N"])
        try:
            self.table.call(
                "update_item",
                {
                    "TableName": self.table.name,
                    "Key": {"pk": {"S": log_key(endpoint_id)}},
                    "UpdateExpression": "SET #s = :entry",
                    # A slower writer of an older number never overwrites a newer entry.
                    "ConditionExpression": "attribute_not_exists(#s) OR #s.seq < :seq",
                    "ExpressionAttributeNames": {"#s": f"s{seq % LOG_SLOTS}"},
                    "ExpressionAttributeValues": {":entry": _typed({**entry, "seq": seq}), ":seq": {"N": str(seq)}},
                },
            )
        except ClientError as exc:
            if not _refused(exc):
                raise

    def attempts(self, endpoint_id: str) -> list[dict[str, Any]]:
        """The logged attempts, newest first."""
        item = self.table.call(
            "get_item", {"TableName": self.table.name, "Key": {"pk": {"S": log_key(endpoint_id)}}}
        ).get("Item", {})
        entries = [_plain(value) for name, value in item.items() if name[:1] == "s" and name[1:].isdigit()]
        return sorted(entries, key=lambda e: e["seq"], reverse=True)

    # -- retries -----------------------------------------------------------------------------------

    def schedule_retry(self, endpoint_id: str, message: dict[str, Any], attempt: int, due_at: int) -> None:
        """Keep `message` for its `attempt`-th try at `due_at`. A second copy of the same failure (the
        queue delivers at least once) finds the retry already there and changes nothing."""
        key = retry_key(endpoint_id, message["event"]["id"])
        try:
            self.table.call(
                "put_item",
                {
                    "TableName": self.table.name,
                    "Item": {
                        "pk": {"S": key},
                        "message": {"S": json.dumps(message, separators=(",", ":"))},
                        "attempt": {"N": str(attempt)},
                        "due_shard": {"S": retry_shard(key)},
                        "due_at": {"N": str(due_at)},
                        "expires_at": {"N": str(due_at + 7 * 86400)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR attempt < :attempt",
                    "ExpressionAttributeValues": {":attempt": {"N": str(attempt)}},
                },
            )
        except ClientError as exc:
            if not _refused(exc):
                raise

    def due_retries(self, until: int, limit: int = 100) -> list[dict[str, Any]]:
        """Retries due by `until` (epoch seconds), at most `limit` per partition: [{key, attempt, message}]."""
        due: list[dict[str, Any]] = []
        for shard in range(RETRY_SHARDS):
            keys = self.table.call(
                "query",
                {
                    "TableName": self.table.name,
                    "IndexName": "due-index",
                    "KeyConditionExpression": "due_shard = :s AND due_at <= :until",
                    "ExpressionAttributeValues": {
                        ":s": {"S": f"webhook-retry#{shard}"},
                        ":until": {"N": str(until)},
                    },
                    "Limit": limit,
                },
            ).get("Items", [])
            for item in self.table.batch_get([k["pk"]["S"] for k in keys], ConsistentRead=True):
                if int(item.get("due_at", {}).get("N", until + 1)) <= until:
                    due.append(
                        {
                            "key": item["pk"]["S"],
                            "attempt": int(item["attempt"]["N"]),
                            "message": json.loads(item["message"]["S"]),
                        }
                    )
        return due

    def retry_sent(self, key: str, attempt: int) -> None:
        """Forget a retry once its message is queued (unless a later failure replaced it meanwhile)."""
        try:
            self.table.call(
                "delete_item",
                {
                    "TableName": self.table.name,
                    "Key": {"pk": {"S": key}},
                    "ConditionExpression": "attempt = :attempt",
                    "ExpressionAttributeValues": {":attempt": {"N": str(attempt)}},
                },
            )
        except ClientError as exc:
            if not _refused(exc):
                raise
