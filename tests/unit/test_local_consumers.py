"""The local stack's stream consumer retries as the template's event source mapping says: a function
error splits the batch in two (BisectBatchOnFunctionError), so a record that always fails reaches the
on-failure queue alone and the records batched with it are still handed over; a batch that could not be
handled is read again."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from local.consumers import StreamConsumer, drain_together


def record(sequence: int) -> dict[str, Any]:
    change = {"Keys": {"pk": {"S": f"D#{sequence}"}}, "SequenceNumber": str(sequence)}
    return {"eventName": "MODIFY", "dynamodb": change}


class _Streams:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.position = 0

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "s-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        start = int(ShardIterator)
        found = self.records[start : start + Limit]
        return {"Records": found, "NextShardIterator": str(start + len(found))}


class _Function:
    """Raises on any batch holding the poison record; otherwise takes the whole batch."""

    name = "Mailer"

    def __init__(self, poison: str) -> None:
        self.poison = poison
        self.handled: list[str] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        if self.poison in sequences:
            raise RuntimeError("a record this function cannot handle")
        self.handled += sequences
        return {"batchItemFailures": []}


class _Session:
    def __init__(self, reachable: bool = True) -> None:
        self.reported: list[dict[str, Any]] = []
        self.reachable = reachable

    def client(self, service: str) -> Any:
        session = self

        class _Sqs:
            def send_message(self, QueueUrl: str, MessageBody: str) -> None:
                if not session.reachable:
                    raise OSError("the on-failure queue is unreachable")
                session.reported.append(json.loads(MessageBody)["DDBStreamBatchInfo"])

        return _Sqs()


def consumer(function: Any, session: Any, bisect: bool) -> StreamConsumer:
    props = {"BatchSize": 100, "MaximumRetryAttempts": 5, "BisectBatchOnFunctionError": bisect}
    return StreamConsumer(function, session, threading.Event(), "arn:stream", props, "dead-letters")


def test_a_record_that_always_fails_is_dead_lettered_alone_and_the_rest_of_its_batch_goes_through():
    function, session = _Function(poison="4"), _Session()
    streams = _Streams([record(n) for n in range(1, 11)])

    consumer(function, session, bisect=True)._poll(streams)

    assert sorted(function.handled, key=int) == [str(n) for n in range(1, 11) if n != 4]
    assert session.reported == [
        {"streamArn": "arn:stream", "startSequenceNumber": "4", "endSequenceNumber": "4", "batchSize": 1}
    ]


def test_without_bisecting_the_failing_batch_is_dead_lettered_whole():
    function, session = _Function(poison="4"), _Session()

    consumer(function, session, bisect=False)._poll(_Streams([record(n) for n in range(1, 11)]))

    assert function.handled == []
    assert [r["batchSize"] for r in session.reported] == [10]


def test_a_batch_that_could_not_be_reported_is_read_again():
    function, session = _Function(poison="2"), _Session(reachable=False)
    streams = _Streams([record(n) for n in range(1, 4)])
    stream = consumer(function, session, bisect=True)
    with pytest.raises(OSError):
        stream._poll(streams)

    function.poison, session.reachable = "none", True  # the cause fixed
    stream._poll(streams)

    assert sorted(function.handled, key=int) == ["1", "1", "2", "3"]  # "1" again: at least once
    assert session.reported == []


class _Idle:
    """A source with nothing in it: every poll is an idle cycle."""

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": []}}


def test_a_drain_wakes_resting_consumers_and_waits_for_them_together():
    stopping = threading.Event()
    resting = []
    for _ in range(3):
        stream = consumer(_Function(poison="none"), _Session(), bisect=True)
        stream.stopping = stopping
        stream.idle_rest_s = 3600.0  # a rest no drain could wait out
        stream.session = type("Session", (), {"client": lambda self, service: _Idle()})()
        resting.append(stream)
    for stream in resting:
        stream.start()
    try:
        for stream in resting:  # each has polled once and rests now
            with stream.cycle_done:
                stream.cycle_done.wait_for(lambda s=stream: s.cycles >= 1, 10)
        before = [stream.cycles for stream in resting]

        drain_together(resting, timeout_s=10)

        assert all(stream.cycles >= n + 2 for stream, n in zip(resting, before, strict=True))
    finally:
        stopping.set()
        for stream in resting:
            stream.stop()
            stream.join(5)
    assert not any(stream.is_alive() for stream in resting)  # stopping cut their rest short
