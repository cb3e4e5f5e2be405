"""The local stack's stream consumer applies an event source mapping's filter criteria as Lambda does:
records no filter matches never reach the function."""

from __future__ import annotations

import json
import threading
from typing import Any

from local.consumers import StreamConsumer
from local.filters import matches, record_filter

PATTERN = {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "D#"}]}}}}


def record(name: str, pk: str, sequence: str) -> dict[str, Any]:
    return {"eventName": name, "dynamodb": {"Keys": {"pk": {"S": pk}}, "SequenceNumber": sequence}}


class _Streams:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "s-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "it"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        found, self.records = self.records, []
        return {"Records": found, "NextShardIterator": "it"}


class _Function:
    name = "Recorder"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.batches.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        return {"batchItemFailures": []}


def test_the_consumer_hands_over_only_the_records_its_filters_match():
    function = _Function()
    props = {"FilterCriteria": {"Filters": [{"Pattern": json.dumps(PATTERN)}]}}
    consumer = StreamConsumer(function, None, threading.Event(), "arn:stream", props, None)  # type: ignore[arg-type]
    streams = _Streams([record("INSERT", "D#1", "1"), record("MODIFY", "C#c-1", "2"), record("REMOVE", "D#1", "3")])

    assert consumer._poll(streams) is True
    assert function.batches == [["1"]]
    streams.records = [record("MODIFY", "S#x", "4")]
    consumer._poll(streams)
    assert function.batches == [["1"]]  # a batch with nothing left is not an invocation


def test_without_filter_criteria_every_record_goes_through():
    assert record_filter({})(record("REMOVE", "X", "1"))


def test_the_pattern_operators():
    assert matches({"a": [{"exists": False}]}, {}) and not matches({"a": [{"exists": False}]}, {"a": 1})
    assert matches({"a": [{"exists": True}]}, {"a": 1}) and not matches({"a": [{"exists": True}]}, {})
    assert matches({"a": [{"anything-but": ["x"]}]}, {"a": "y"}) and not matches(
        {"a": [{"anything-but": "x"}]}, {"a": "x"}
    )
    assert matches({"a": [{"suffix": ".jpg"}]}, {"a": "p.jpg"}) and matches({"a": ["x", "y"]}, {"a": ["z", "y"]})
    assert matches({"a": [{"equals-ignore-case": "AbC"}]}, {"a": "abc"})
    assert not matches({"a": {"b": ["x"]}}, {"a": "x"})
