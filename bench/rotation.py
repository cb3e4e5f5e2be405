"""The nightly rotation at scale, against a local moto server.

N due deliveries (100,000 by default; BENCH_ROTATION_N overrides) are first written with plain
BatchWriteItem, 25 a call: that time is the floor (the least any rotation writing those items could
take on this server). A second reference reads them back and writes them again unchanged, with as many
clients as the rotation has workers: what any rotation that reads its items must do, and nothing else.
Then the rotation runs as in AWS: the planner's shards, each handled by its own worker thread (Lambda
runs them concurrently), each reading its shard from the due index, the items 100 a BatchGetItem, and
writing them back 100 conditional puts a transaction. The server runs in a process of its own
(`bench.server`). Reported: rotation time / each reference, the server's own time per delivery, and AWS
calls per delivery, for the rotation and for the emails that follow it (measured on a sample of the
stream).

`--plain-attribute-values` runs the same on the diagnostic server variant (see `bench.server`), which
answers attribute values without walking each through the API model: the gap between the two is moto
5.2's price for reading an item.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, TypeVar

import boto3

from bench.work import counting

REGISTERED_AT = datetime.fromisoformat("2026-11-23T08:00:00+01:00")
NIGHT = datetime.fromisoformat("2026-11-24T00:30:00+01:00")
EMAIL_SAMPLE = 200
WORKERS = 4

T = TypeVar("T")


def _items(n: int) -> list[dict[str, Any]]:
    """N deliveries for 23 November in Rome, as registration leaves them (code issued, emailed)."""
    from delivery_otp import audit
    from delivery_otp.audit import Actor
    from delivery_otp.issuing import issue_code
    from delivery_otp.model import SCHEDULED, DeliveryModel, delivery_key

    storefront = Actor(audit.STOREFRONT)
    items = []
    for i in range(n):
        delivery_id = f"BENCH-{i:07d}"
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
            emailed_issue=1,
        )
        issue_code(delivery, 1, date(2026, 11, 23)).apply(delivery)
        delivery.events = [
            audit.event("REGISTERED", REGISTERED_AT, storefront),
            audit.event("CODE_ISSUED", REGISTERED_AT, storefront, issue_number=1),
            audit.event("EMAIL_SENT", REGISTERED_AT, Actor(audit.SYSTEM), issue_number=1),
        ]
        items.append(delivery.serialize())
    return items


def _write(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    """Plain BatchWriteItem, 25 a call, until nothing is left unprocessed."""
    for start in range(0, len(items), 25):
        requests = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while requests:
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


def _floor(table: str, items: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    _write(boto3.client("dynamodb"), table, items)
    return time.perf_counter() - started


def _read_and_write_back(table: str, items: list[dict[str, Any]]) -> float:
    """The second reference: the same items read whole (100 a strongly consistent BatchGetItem) and
    written back unchanged (25 a plain BatchWriteItem), by as many clients as the rotation has workers.
    It is no rotation at all (nothing found through the index, nothing computed, no condition), only the
    reading and writing any rotation that reads its items must do, so it shows what moto charges for
    that apart from our own work: on moto reading an item costs several times writing it (its response
    serialiser walks every attribute value)."""
    client = boto3.client("dynamodb")

    def read_and_write(part: list[dict[str, Any]]) -> None:
        for start in range(0, len(part), 100):
            wanted = [{"pk": item["pk"]} for item in part[start : start + 100]]
            keys: dict[str, Any] = {table: {"Keys": wanted, "ConsistentRead": True}}
            read: list[dict[str, Any]] = []
            while keys:
                answer = client.batch_get_item(RequestItems=keys)
                read += answer["Responses"].get(table, [])
                keys = answer.get("UnprocessedKeys") or {}
            _write(client, table, read)

    share = -(-len(items) // WORKERS)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as workers:
        list(workers.map(read_and_write, [items[i : i + share] for i in range(0, len(items), share)]))
    return time.perf_counter() - started


def _rotate() -> tuple[float, dict[str, int]]:
    from delivery_otp import issuing, rotation

    shards = issuing.shards()
    started = time.perf_counter()
    # In AWS every shard has its own worker. moto serialises DynamoDB calls, so more threads only
    # queue there, long enough for the client to time out and retry a transaction moto has already
    # applied (DynamoDB would recognise the retry by its ClientRequestToken; moto does not).
    with ThreadPoolExecutor(max_workers=WORKERS) as workers:
        results = list(workers.map(lambda shard: rotation.rotate_shard(shard, NIGHT), shards))
    elapsed = time.perf_counter() - started
    totals: Counter[str] = Counter()
    for counts in results:
        totals.update(counts)
    return elapsed, dict(totals)


def _stream_end(table: str) -> str:
    """An iterator at the end of the table's stream: what is written from now on."""
    stream = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    return streams.get_shard_iterator(StreamArn=stream, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]


def _rotation_records(iterator: str | None) -> list[dict[str, Any]]:
    """The stream's first rotation records, as the event source mapping would hand them over."""
    from delivery_otp.notifications import issue_to_email

    streams = boto3.client("dynamodbstreams")
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


def measure(n: int, plain_attribute_values: bool = False) -> dict[str, Any]:
    from delivery_otp import wiring
    from delivery_otp.clock import SettableClock

    from bench.server import moto_process

    def per_delivery(seconds: Counter[str]) -> dict[str, float]:
        return {k: round(v * 1000 / n, 3) for k, v in seconds.items() if v}

    with moto_process(suffix="bench", plain_attribute_values=plain_attribute_values) as (refs, server):

        def on_server(run: Callable[..., T], *args: Any) -> tuple[T, Counter[str]]:
            """What `run` returns, and the server's seconds per action while it ran."""
            before = server.seconds()
            return run(*args), server.seconds() - before

        answers_plainly = server.answers_plainly
        table = refs["DeliveriesTable"]["Ref"]
        wiring.reset()
        items = _items(n)
        floor, floor_server = on_server(_floor, table, items)
        read_write, read_write_server = on_server(_read_and_write_back, table, items)
        del items
        stream = _stream_end(table)
        with counting() as calls:
            wiring.override(clock=SettableClock(NIGHT))
            before = Counter(calls)
            (elapsed, counts), rotation_server = on_server(_rotate)
            rotation_calls = calls - before
            records = _rotation_records(stream)  # the event source's reading is not the function's work
            before = Counter(calls)
            _send_emails(records)
            email_calls = calls - before
            sampled = len(records)
        assert _count_issued(table, 2) == n, f"not every due delivery was rotated: {counts}"
    return {
        # As the server reported it, so a variant that failed to take effect cannot pass for the other.
        "server": "plain attribute values (diagnostic)" if answers_plainly else "moto",
        "deliveries": n,
        "floor_s": floor,
        "read_write_back_s": read_write,
        "rotation_s": elapsed,
        "ratio": elapsed / floor,
        "ratio_to_read_write_back": elapsed / read_write,
        "rotation_calls_per_delivery": {k: v / n for k, v in rotation_calls.items()},
        # Where the time goes: the emulator's milliseconds per delivery, by action (the rest is the client's).
        "floor_server_ms_per_delivery": per_delivery(floor_server),
        "read_write_back_server_ms_per_delivery": per_delivery(read_write_server),
        "rotation_server_ms_per_delivery": per_delivery(rotation_server),
        "email_calls_per_delivery": {k: v / sampled for k, v in email_calls.items() if sampled},
    }


if __name__ == "__main__":
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--plain-attribute-values", action="store_true", help="the diagnostic server variant")
    arguments = options.parse_args()
    print(measure(int(os.environ.get("BENCH_ROTATION_N", "100000")), arguments.plain_attribute_values))
