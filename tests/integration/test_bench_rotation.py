"""`make bench`'s rotation benchmark still runs end to end (its own moto server process, both references,
every due delivery rotated, the emails sampled), on a few hundred deliveries, on moto and on the
diagnostic server variant. Its figures are not judged here: timings belong to `make bench`, not to the
test suite."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("arguments", "server"), [([], "moto"), (["--plain-attribute-values"], "plain attribute values (diagnostic)")]
)
def test_the_rotation_benchmark_runs_and_reports_every_figure(arguments: list[str], server: str) -> None:
    # A clean environment: the benchmark provisions its own server and must not lean on this session's.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update({"BENCH_ROTATION_N": "300", "PYTHONDONTWRITEBYTECODE": "1"})
    run = subprocess.run(
        [sys.executable, "-m", "bench.rotation", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = ast.literal_eval(run.stdout.strip().splitlines()[-1])

    assert figures["server"] == server
    assert figures["deliveries"] == 300
    assert figures["floor_s"] > 0 and figures["read_write_back_s"] > 0 and figures["rotation_s"] > 0
    calls = figures["rotation_calls_per_delivery"]
    assert calls["dynamodb:BatchGetItem"] > 0 and calls["dynamodb:Query"] > 0
    assert not {"dynamodb:Scan", "dynamodb:UpdateItem"} & set(calls), calls  # found by the index, written whole
    # The server process counted its own work, per action, for the floor and for the rotation.
    assert set(figures["floor_server_ms_per_delivery"]) == {"BatchWriteItem"}
    assert set(figures["read_write_back_server_ms_per_delivery"]) == {"BatchGetItem", "BatchWriteItem"}
    assert {"BatchGetItem", "Query"} <= set(figures["rotation_server_ms_per_delivery"])
    assert figures["email_calls_per_delivery"]["ses:SendBulkTemplatedEmail"] > 0
