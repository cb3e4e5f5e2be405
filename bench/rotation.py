"""The nightly rotation at scale, against a local moto server.

N due deliveries (100,000 by default; BENCH_ROTATION_N overrides) are first written with plain
BatchWriteItem, 25 a call: that time is the floor (the least any rotation writing those items could
take on this server). Then the rotation runs as in AWS: the planner's shards, each handled by its own
worker thread (Lambda runs them concurrently), each reading its shard from the due index, the items
100 a BatchGetItem, and writing them back 100 conditional puts a transaction. Reported: rotation
time / floor, and AWS calls per delivery, for the rotation and for the emails that follow it
(measured on a sample of the stream).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3

from bench.work import counting

REGISTERED_AT = datetime.fromisoformat("2026-11-23T08:00:00+01:00")
NIGHT = datetime.fromisoformat("2026-11-24T00:30:00+01:00")
EMAIL_SAMPLE = 200
WORKERS = 4


@contextmanager
def server_seconds() -> Iterator[Counter[str]]:
    """Seconds the moto server spends in each DynamoDB action, timed inside the emulator's lock (so
    waiting for it is not counted): the share of a figure that is the emulator's own work."""
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    spent: Counter[str] = Counter()
    guard = threading.Lock()
    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        if not isinstance(self, DynamoHandler):
            return original(self)
        started = time.perf_counter()
        try:
            return original(self)
        finally:
            action = str(self.headers.get("X-Amz-Target", "?")).rsplit(".", 1)[-1]
            with guard:
                spent[action] += time.perf_counter() - started

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        BaseResponse.call_action = original  # type: ignore[method-assign]


def _items(n: int) -> list[dict[str, Any]]:
    """N deliveries for 23 November in Rome, as registration leaves them (code issued, emailed)."""
    from delivery_otp import audit, service
    from delivery_otp.audit import Actor
    from delivery_otp.model import SCHEDULED, DeliveryModel, delivery_key

    zone = ZoneInfo("Europe/Rome")
    storefront = Actor(audit.STOREFRONT)
    items = []
    for i in range(n):
        delivery_id = f"BENCH-{i:07d}"
        fields = service._issue_fields(delivery_id, 1, date(2026, 11, 23), zone)
        delivery = DeliveryModel(
            delivery_key(delivery_id),
            delivery_id=delivery_id,
            order_id=f"402-{i:07d}",
            request_hash="0" * 64,
            status=SCHEDULED,
            code_required=True,
            delivery_date="2026-11-23",
            timezone="Europe/Rome",
            country="IT",
            subdivision="IT-RM",
            email=f"r{i}@example.com",
            locale="it",
            amount="349.90",
            currency="EUR",
            created_at=REGISTERED_AT.isoformat(),
            issue_number=1,
            emailed_issue=1,
            due_shard=service._shard(delivery_id),
            **fields,
        )
        delivery.events = [
            audit.event("REGISTERED", REGISTERED_AT, storefront),
            audit.event("CODE_ISSUED", REGISTERED_AT, storefront, issue_number=1),
            audit.event("EMAIL_SENT", REGISTERED_AT, Actor(audit.SYSTEM), issue_number=1),
        ]
        items.append(delivery.serialize())
    return items


def _floor(table: str, items: list[dict[str, Any]]) -> float:
    client = boto3.client("dynamodb")
    started = time.perf_counter()
    for start in range(0, len(items), 25):
        requests = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while requests:
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
    return time.perf_counter() - started


def _rotate() -> tuple[float, dict[str, int]]:
    from delivery_otp import service

    shards = service.shards()
    started = time.perf_counter()
    # In AWS every shard has its own worker. moto serialises DynamoDB calls, so more threads only
    # queue there, long enough for the client to time out and retry a transaction moto has already
    # applied (DynamoDB would recognise the retry by its ClientRequestToken; moto does not).
    with ThreadPoolExecutor(max_workers=WORKERS) as workers:
        results = list(workers.map(lambda shard: service.rotate_shard(shard, NIGHT), shards))
    elapsed = time.perf_counter() - started
    totals: Counter[str] = Counter()
    for counts in results:
        totals.update(counts)
    return elapsed, dict(totals)


def _rotation_records(table: str) -> list[dict[str, Any]]:
    """The stream's first rotation records, as the event source mapping would hand them over."""
    from delivery_otp.notifications import issue_to_email

    stream = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records: list[dict[str, Any]] = []
    while iterator and len(records) < EMAIL_SAMPLE:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        records += [r for r in page["Records"] if r["eventName"] == "MODIFY" and issue_to_email(r)]
        iterator = page.get("NextShardIterator") if page["Records"] else None
    return records[:EMAIL_SAMPLE]


def _send_emails(records: list[dict[str, Any]]) -> None:
    """The email function over the records, in the template's batch size."""
    from local.template import functions
    from tests.support.lambdas import invoke

    (source,) = [e for e in functions()["EmailFunction"]["Events"].values() if e["Type"] == "DynamoDB"]
    size = int(source["Properties"]["BatchSize"])
    for start in range(0, len(records), size):
        assert invoke("EmailFunction", {"Records": records[start : start + size]}) == {"batchItemFailures": []}


def _count_issued(table: str, issue: int) -> int:
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table,
            Select="COUNT",
            FilterExpression="issue_number = :n",
            ExpressionAttributeValues={":n": {"N": str(issue)}},
        )
    )
    return sum(page["Count"] for page in pages)


def measure(n: int) -> dict[str, Any]:
    from delivery_otp import wiring
    from delivery_otp.clock import SettableClock

    from tests.support.aws import moto_with_template

    with moto_with_template(suffix="bench") as refs, server_seconds() as server:
        table = refs["DeliveriesTable"]["Ref"]
        wiring.reset()
        items = _items(n)
        floor = _floor(table, items)
        floor_server = Counter(server)
        del items
        with counting() as calls:
            wiring.override(clock=SettableClock(NIGHT))
            before = Counter(calls)
            before_server = Counter(server)
            elapsed, counts = _rotate()
            rotation_server = server - before_server
            rotation_calls = calls - before
            records = _rotation_records(table)  # the event source's reading is not the function's work
            before = Counter(calls)
            _send_emails(records)
            email_calls = calls - before
            sampled = len(records)
        assert _count_issued(table, 2) == n, f"not every due delivery was rotated: {counts}"
    return {
        "deliveries": n,
        "floor_s": floor,
        "rotation_s": elapsed,
        "ratio": elapsed / floor,
        "rotation_calls_per_delivery": {k: v / n for k, v in rotation_calls.items()},
        # Where the time goes: the emulator's seconds per delivery, by action (the rest is the client's).
        "floor_server_ms_per_delivery": {k: round(v * 1000 / n, 3) for k, v in floor_server.items()},
        "rotation_server_ms_per_delivery": {k: round(v * 1000 / n, 3) for k, v in rotation_server.items()},
        "email_calls_per_delivery": {k: v / sampled for k, v in email_calls.items() if sampled},
    }


if __name__ == "__main__":
    print(measure(int(os.environ.get("BENCH_ROTATION_N", "100000"))))
