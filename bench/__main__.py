"""`make bench`: every figure with its reference, measured in the same run, and the ratio.

Cold start (fresh interpreters importing each handler vs. importing boto3 and creating a client),
work per request (AWS calls counted with a botocore hook against moto), client-side CPU of a
verification with the network removed (vs. one bare update_item), and the nightly rotation at scale
(vs. writing the same items with BatchWriteItem), then the same rotation on a diagnostic server variant
that answers attribute values without walking each through the API model (see `bench.server`), and
webhooks on the local stack: a state change's first webhook attempt (vs. a GET round trip to the same
stack) and messages per event per endpoint (see `bench.webhooks`), and the people's pages: the courier
app's first load in bytes and the recipient page's server time, warm and cold (see `bench.pages`).
BENCH_ROTATION_N sets the rotation's size, BENCH_WEBHOOK_ROUNDS the webhook rounds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import bench  # noqa: F401 - puts the layer on the path
from bench import coldstart, cpu, pages, rotation, webhooks, work


def main() -> None:
    started = time.perf_counter()
    figures: dict[str, object] = {}

    print("== Cold start: median of 15 fresh interpreters; reference: import boto3 + create a DynamoDB client")
    cold = coldstart.measure(int(os.environ.get("BENCH_COLD_RUNS", "15")))
    for name, f in cold.items():
        print(f"  {name:26} {f['median_s'] * 1000:7.1f} ms   {f['ratio']:.2f}x")
    figures["cold_start"] = cold

    print("== AWS calls per request (after a warm-up; the code key is cached after the first)")
    from tests.support.aws import moto_with_template

    with moto_with_template(suffix="bench-work"):
        calls = work.measure()
    for scenario, counted in calls.items():
        print(f"  {scenario:42} {sum(counted.values()):2}  {counted}")
    figures["calls"] = calls

    print("== Client-side CPU per call, network removed (canned answers); reference: one bare update_item")
    cpu_figures = cpu.measure()
    reference = cpu_figures["bare update_item (reference)"]
    for name, seconds in cpu_figures.items():
        print(f"  {name:42} {seconds * 1e6:7.0f} us   {seconds / reference:.2f}x")
    figures["cpu"] = cpu_figures

    n = int(os.environ.get("BENCH_ROTATION_N", "20000"))
    print(f"== Nightly rotation of {n:,} due deliveries; reference: BatchWriteItem of the same items (floor)")
    rot = rotation.measure(n)
    _print_rotation(rot)
    print(f"  rotation calls per delivery: {json.dumps(rot['rotation_calls_per_delivery'])}")
    print(f"  email calls per delivery:    {json.dumps(rot['email_calls_per_delivery'])}")
    figures["rotation"] = rot

    print(
        "== Diagnostic, not the goal's figure: the same rotation on the same server, answering attribute values"
        " as plain JSON instead of walking each through the API model"
    )
    plain = rotation.measure(n, plain_attribute_values=True)
    assert plain["server"].startswith("plain"), plain["server"]  # as the server process itself reported
    _print_rotation(plain)
    print(
        f"  reading and writing back: {plain['read_write_back_s'] / plain['floor_s']:.2f}x the floor"
        f" (on moto {rot['read_write_back_s'] / rot['floor_s']:.2f}x)"
    )
    figures["rotation_plain_attribute_values"] = plain

    rounds = int(os.environ.get("BENCH_WEBHOOK_ROUNDS", "15"))
    print(
        f"== Webhooks on the local stack: {rounds} registrations, two endpoints;"
        " reference: GET /deliveries/{id} to the same stack"
    )
    hooks = webhooks.measure(rounds)
    webhooks.report(hooks)
    figures["webhooks"] = hooks

    print(
        "== The people's pages: the courier app's first load (reference: the 100 KB budget); the recipient"
        " page's server time (reference: a bare handler returning a static string)"
    )
    first_load, page = pages.measure()
    pages.report(first_load, page)
    figures["pages"] = {"courier_first_load": first_load, "recipient_page": page}

    print(f"== done in {time.perf_counter() - started:.0f} s")
    if os.environ.get("BENCH_JSON"):
        with open(os.environ["BENCH_JSON"], "w") as out:
            json.dump(figures, out, indent=2, default=str)


def _print_rotation(rot: dict[str, Any]) -> None:
    """The rotation's time against both references, and the server's own time per delivery."""
    print(f"  floor {rot['floor_s']:.1f} s   rotation {rot['rotation_s']:.1f} s   {rot['ratio']:.2f}x")
    print(
        f"  second reference, reading every item and writing it back: {rot['read_write_back_s']:.1f} s"
        f"   rotation {rot['ratio_to_read_write_back']:.2f}x"
    )
    print(f"  server ms per delivery: floor {json.dumps(rot['floor_server_ms_per_delivery'])}")
    print(f"                          read+write {json.dumps(rot['read_write_back_server_ms_per_delivery'])}")
    print(f"                          rotation {json.dumps(rot['rotation_server_ms_per_delivery'])}")


if __name__ == "__main__":
    sys.exit(main())
