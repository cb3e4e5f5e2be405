"""The rotation lag metric: after each shard, the worker publishes (EMF, in its log line) how many of the
shard's deliveries are still due more than an hour after their day ended; the alarm watches it."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from delivery_otp import dispatch, rotation
from delivery_otp.observability import ROTATION_LAG_METRIC

from tests.support import factories
from tests.support.lambdas import invoke

# 2026-11-23 ends in Rome at midnight: deliveries of that day are due from then on.
MIDNIGHT = datetime.fromisoformat("2026-11-24T00:00:00+01:00")


def _run_worker(shard: str, planned_at: datetime) -> dict:
    record = {"messageId": str(uuid.uuid4()), "body": json.dumps({"shard": shard, "now": planned_at.isoformat()})}
    return invoke("RotationWorkerFunction", {"Records": [record]})


def _lag_lines(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line and ROTATION_LAG_METRIC in line]


def _metric_definition(line: dict) -> tuple[str, list, list]:
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    return directive["Namespace"], directive["Dimensions"], directive["Metrics"]


def _skip_meanwhile(monkeypatch, victims: set[str]) -> None:
    """The victims change between the worker's read and its write (a courier assigned), so its write is
    refused and they stay due: what a busy night of concurrent writes leaves behind."""
    build = rotation.roll_over

    def changed_meanwhile(delivery, now):
        if delivery.delivery_id in victims:
            dispatch.assign_courier(delivery.delivery_id, {"courier_id": "c-meanwhile"})
        return build(delivery, now)

    monkeypatch.setattr(rotation, "roll_over", changed_meanwhile)


def test_a_late_shard_publishes_how_many_deliveries_are_still_due_an_hour_after_their_day(clock, monkeypatch, capsys):
    # Given four deliveries of one shard whose day ended two hours ago, two of which change while the
    # worker rotates them
    shard, ids = factories.registered_in_one_shard(monkeypatch, 4)
    _skip_meanwhile(monkeypatch, set(ids[:2]))
    clock.freeze(datetime.fromisoformat("2026-11-24T02:00:00+01:00"))
    capsys.readouterr()

    # When the worker runs the shard
    assert _run_worker(shard, clock.now()) == {"batchItemFailures": []}

    # Then its EMF line says 2 deliveries are late, in the namespace and dimension the alarm watches
    (line,) = _lag_lines(capsys.readouterr().out)
    namespace, dimensions, metrics = _metric_definition(line)
    assert line[ROTATION_LAG_METRIC] == [2.0]
    assert namespace == "DeliveryOtp"
    assert dimensions == [["service"]] and line["service"] == "delivery-otp"
    assert metrics == [{"Name": ROTATION_LAG_METRIC, "Unit": "Count"}]


def test_a_shard_that_kept_up_publishes_zero_so_that_silence_means_no_rotation(clock, monkeypatch, capsys):
    shard, _ = factories.registered_in_one_shard(monkeypatch, 3)
    clock.freeze(datetime.fromisoformat("2026-11-24T02:00:00+01:00"))
    capsys.readouterr()

    assert _run_worker(shard, clock.now()) == {"batchItemFailures": []}

    (line,) = _lag_lines(capsys.readouterr().out)
    assert line[ROTATION_LAG_METRIC] == [0.0]


def test_deliveries_due_less_than_an_hour_are_not_late_yet(clock, monkeypatch, capsys):
    shard, ids = factories.registered_in_one_shard(monkeypatch, 2)
    _skip_meanwhile(monkeypatch, set(ids))
    clock.freeze(datetime.fromisoformat("2026-11-24T00:59:59+01:00"))  # due 59 min 59 s ago
    capsys.readouterr()

    assert _run_worker(shard, clock.now()) == {"batchItemFailures": []}

    (line,) = _lag_lines(capsys.readouterr().out)
    assert line[ROTATION_LAG_METRIC] == [0.0]
    assert rotation.late(shard, datetime.fromisoformat("2026-11-24T01:00:01+01:00")) == 2


def test_a_run_that_waited_in_the_queue_counts_what_became_late_while_it_waited(clock, monkeypatch, capsys):
    # Given a shard planned before its deliveries' day ended, whose message is only worked two hours later
    shard, _ = factories.registered_in_one_shard(monkeypatch, 3)
    planned = datetime.fromisoformat("2026-11-23T23:45:00+01:00")
    clock.freeze(datetime.fromisoformat("2026-11-24T02:00:00+01:00"))
    capsys.readouterr()

    # When the worker rotates what was due when the run was planned (nothing)
    assert _run_worker(shard, planned) == {"batchItemFailures": []}

    # Then the three deliveries still due since midnight are reported late: the queue is behind
    (line,) = _lag_lines(capsys.readouterr().out)
    assert line[ROTATION_LAG_METRIC] == [3.0]
    assert MIDNIGHT < clock.now()
