"""Lambda's event source mappings: threads that poll a table's stream or a queue and feed one function
its batches, with the template's batch size, partial batch failures, retries and failure destinations.

Both kinds share one polling loop (:class:`Consumer`): poll, and when a poll finds nothing new count a
finished cycle and rest a moment. :func:`drain_together` waits for cycles (the consumers polling on
without rest meanwhile), so the local routes can answer only once everything already written has been
delivered.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from typing import Any

import boto3

from local.containers import Function
from local.events import queue_record, stream_record
from local.filters import record_filter

log = logging.getLogger("local")


class Consumer(threading.Thread):
    """Polls one event source and feeds one function until the stack stops."""

    kind = ""  # what the source is, in thread names and logs
    service = ""  # the boto3 client the source is polled with
    drain_timeout_s = 30.0
    idle_rest_s = 0.1  # between polls that found nothing

    def __init__(self, function: Function, session: boto3.Session, stopping: threading.Event) -> None:
        super().__init__(name=f"{self.kind}-{function.name}", daemon=True)
        self.function = function
        self.session = session
        self.stopping = stopping
        self.cycles = 0
        self.cycle_done = threading.Condition()
        # Someone waits for this consumer to run dry (`drain`): it polls on without resting meanwhile.
        self.drainers = 0
        self.wake = threading.Event()

    def run(self) -> None:
        client = self.session.client(self.service)
        while not self.stopping.is_set():
            try:
                busy = self._poll(client)
            except Exception:
                log.error("%s consumer %s failed:\n%s", self.kind, self.function.name, traceback.format_exc())
                busy = False
            with self.cycle_done:
                if not busy:
                    self.cycles += 1
                self.cycle_done.notify_all()
                rest = not busy and not self.drainers and not self.stopping.is_set()
                self.wake.clear()
            if rest:
                self.wake.wait(self.idle_rest_s)

    def _poll(self, client: Any) -> bool:
        """Deliver what the source holds now; True when there was something."""
        raise NotImplementedError

    def stop(self) -> None:
        """Cut a rest short once `stopping` is set: the loop sees the stack stopping at once."""
        with self.cycle_done:  # not between the loop's decision to rest and its rest
            self.wake.set()

    def drain(self, timeout_s: float | None = None) -> None:
        """Return once a full poll that started after this call found nothing new."""
        drain_together([self], timeout_s)


def drain_together(consumers: list[Consumer], timeout_s: float | None = None) -> None:
    """Wait until each consumer has made a full poll, started after this call, that found nothing new. They
    are waited for together, and none rests between polls meanwhile, so this takes about two polls of
    the slowest, not the sum of their rests; each gives up after its own timeout."""
    start = time.monotonic()
    targets = []
    for consumer in consumers:
        with consumer.cycle_done:
            consumer.drainers += 1
            targets.append(consumer.cycles + 2)
            consumer.wake.set()
    try:
        for consumer, target in zip(consumers, targets, strict=True):
            limit = consumer.drain_timeout_s if timeout_s is None else timeout_s
            with consumer.cycle_done:
                consumer.cycle_done.wait_for(
                    lambda c=consumer, t=target: c.cycles >= t or c.stopping.is_set(),
                    max(0.0, start + limit - time.monotonic()),
                )
    finally:
        for consumer in consumers:
            with consumer.cycle_done:
                consumer.drainers -= 1


class StreamConsumer(Consumer):
    """A table's stream feeding one function: only the records its filter criteria match; a failed
    batch is retried from its first failed record on (split in two on a function error when the mapping
    bisects), and after the retries it is reported to the on-failure queue."""

    kind = "stream"
    service = "dynamodbstreams"

    def __init__(
        self,
        function: Function,
        session: boto3.Session,
        stopping: threading.Event,
        stream_arn: str,
        props: dict[str, Any],
        on_failure_queue: str | None,
    ) -> None:
        super().__init__(function, session, stopping)
        self.stream_arn = stream_arn
        self.batch_size = int(props.get("BatchSize", 100))
        self.max_retries = int(props.get("MaximumRetryAttempts", 2))
        self.bisect = bool(props.get("BisectBatchOnFunctionError", False))
        self.on_failure_queue = on_failure_queue
        self.wanted = record_filter(props)
        self.iterators: dict[str, str] = {}

    def _poll(self, client: Any) -> bool:
        shards = client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        busy = False
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self.iterators:
                self.iterators[shard_id] = client.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            response = client.get_records(ShardIterator=self.iterators[shard_id], Limit=self.batch_size)
            records = [stream_record(r, self.stream_arn) for r in response["Records"]]
            if records:
                busy = True
                wanted = [r for r in records if self.wanted(r)]
                if wanted:
                    self._deliver(wanted)
            # Past the batch only once it was handled: one that could not be is read again.
            self.iterators[shard_id] = response["NextShardIterator"]
        return busy

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        """Lambda's retries for one batch: a reported failure is retried from its first failed record on; a
        function error splits the batch in two when the mapping bisects (each half with a fresh retry
        budget, in order), so a record that always fails ends in the on-failure queue alone instead of
        taking the records batched with it there too; what still fails after the retries is reported."""
        pending = records
        for _attempt in range(self.max_retries + 1):
            try:
                result = self.function.invoke({"Records": pending}) or {}
                failures = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            except Exception:
                log.warning("%s failed a batch:\n%s", self.function.name, traceback.format_exc(limit=3))
                if self.bisect and len(pending) > 1:
                    half = len(pending) // 2
                    self._deliver(pending[:half])
                    self._deliver(pending[half:])
                    return
                failures = {pending[0]["dynamodb"]["SequenceNumber"]}
            if not failures:
                return
            # A failure naming no record of the batch fails the whole batch, as Lambda treats it.
            failed = [i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] in failures] or [0]
            pending = pending[min(failed) :]
        self._report(pending)

    def _report(self, pending: list[dict[str, Any]]) -> None:
        if self.on_failure_queue:
            self.session.client("sqs").send_message(
                QueueUrl=self.on_failure_queue,
                MessageBody=json.dumps(
                    {
                        "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function.name},
                        "DDBStreamBatchInfo": {
                            "streamArn": self.stream_arn,
                            "startSequenceNumber": pending[0]["dynamodb"]["SequenceNumber"],
                            "endSequenceNumber": pending[-1]["dynamodb"]["SequenceNumber"],
                            "batchSize": len(pending),
                        },
                    }
                ),
            )


class QueueConsumer(Consumer):
    """A queue feeding one function, as Lambda's SQS event source mapping does: deletes what the
    function handled, lets a reported failure come back, and parks a message in the queue's dead-letter
    queue after the redrive policy's `maxReceiveCount` receives. A message is hidden from the other
    pollers of its queue while the function works on it (as the queue's visibility timeout does), and
    a reported failure is visible again a second later."""

    kind = "queue"
    service = "sqs"
    drain_timeout_s = 120.0

    def __init__(
        self,
        function: Function,
        session: boto3.Session,
        stopping: threading.Event,
        queue: dict[str, str],
        props: dict[str, Any],
        redrive: dict[str, Any],
        dead_letters: str | None,
        poller: int = 0,
    ) -> None:
        super().__init__(function, session, stopping)
        self.name = f"{self.name}-{poller}"
        if poller:
            # The first poller keeps a queue's latency low; the others join in when it is busy.
            self.idle_rest_s = 0.5
        self.queue_url = queue["Ref"]
        self.queue_arn = queue["Arn"]
        self.batch_size = min(int(props.get("BatchSize", 10)), 10)
        self.max_receives = int(redrive.get("maxReceiveCount", 0)) or None
        self.dead_letters = dead_letters

    def _poll(self, sqs: Any) -> bool:
        got = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            VisibilityTimeout=self.function.timeout + 5,
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not got:
            return False
        records = [queue_record(m, self.queue_arn) for m in got]
        try:
            result = self.function.invoke({"Records": records}) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:
            log.warning("%s failed a batch:\n%s", self.function.name, traceback.format_exc(limit=3))
            failed = {r["messageId"] for r in records}
        for message in got:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if message["MessageId"] in failed and (self.max_receives is None or receives < self.max_receives):
                # Visible again after a (short, local) second.
                sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=1
                )
                continue
            if message["MessageId"] in failed and self.dead_letters:
                sqs.send_message(QueueUrl=self.dead_letters, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return True
