"""Webhooks on the local stack, over real HTTP: how long after a state change its first webhook attempt
reaches a receiver, and how many messages each endpoint gets per event.

The local stack runs as a newcomer runs it (`python -m local` in a subprocess, authentication off) and
two receivers listen on 127.0.0.1, each registered as an endpoint for every event type. Each round
registers a delivery (`POST /deliveries`) and times, from the moment its 201 is read, until the first
receiver has the `delivery.registered` event of that delivery (matched by `data.delivery_id`): the
stream, the event publisher, the bus's rule, the webhook queue and the dispatcher's signed POST.

The reference, in the same round: the round trip of `GET /deliveries/{id}` to the same stack, the same
HTTP client and server path without waiting for any push. The ratio says how many plain requests'
time the push takes; the goal is an absolute one (a median under 2 s), so both are printed.

After the rounds the stack's queues are drained (`POST /local/schedules/run`, which returns once every
queue is empty) and each receiver's POSTs are counted per `webhook-id`: one message per event per
endpoint is the figure, and both endpoints must have had the same events.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import bench  # noqa: F401 - puts the layer and the project on the path

# How long one webhook may take to arrive before the run is an error, not a hang.
ARRIVAL_SECONDS = 15.0
# The local clock during the run: the day the factories' deliveries are due.
NOW = "2026-11-23T09:00:00+01:00"


@contextmanager
def local_stack() -> Iterator[str]:
    """`python -m local` on a free loopback port with authentication off; its URL while it runs."""
    from tests.support import local_stack as stack

    process, url, log = stack.start("off", "bench-webhooks-stack-")
    try:
        yield url
    finally:
        stack.stop(process)
        log.unlink(missing_ok=True)


def _arrival(rx: Any, delivery_id: str, kind: str, within: float) -> float:
    """When (time.monotonic()) the receiver got the delivery's event of `kind`; an error after `within`."""

    def found() -> float | None:
        for got in rx.received:
            event = json.loads(got.body)
            if event.get("type") == kind and event.get("data", {}).get("delivery_id") == delivery_id:
                return got.at
        return None

    with rx.arrived:
        if not rx.arrived.wait_for(lambda: found() is not None, within):
            raise RuntimeError(f"no {kind} webhook for {delivery_id} within {within:.0f} s")
        return found()  # type: ignore[return-value]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(n: int = 15) -> dict[str, Any]:
    """`n` registrations on a fresh local stack with two endpoints; latencies and messages per event."""
    import requests

    from tests.support import factories
    from tests.support.receivers import receiver

    latencies: list[float] = []
    references: list[float] = []
    with local_stack() as url, receiver() as a, receiver() as b, requests.Session() as http:
        assert http.put(f"{url}/local/clock", json={"now": NOW}, timeout=10).status_code == 200
        for rx in (a, b):
            created = http.post(f"{url}/webhooks", json={"url": rx.url}, timeout=10)
            assert created.status_code == 201, created.text
        for _ in range(n):
            body = factories.registration()
            answer = http.post(f"{url}/deliveries", json=body, timeout=10)
            answered = time.monotonic()
            assert answer.status_code == 201, answer.text
            latencies.append(_arrival(a, body["delivery_id"], "delivery.registered", ARRIVAL_SECONDS) - answered)
            started = time.monotonic()
            assert http.get(f"{url}/deliveries/{body['delivery_id']}", timeout=10).status_code == 200
            references.append(time.monotonic() - started)
        # Returns once every queue is drained: everything the rounds caused has been sent by now.
        assert http.post(f"{url}/local/schedules/run", timeout=120).status_code == 200
        per_endpoint = [Counter(got.headers["webhook-id"] for got in rx.received) for rx in (a, b)]

    events = set(per_endpoint[0]) | set(per_endpoint[1])
    messages = sum(sum(c.values()) for c in per_endpoint)
    median, reference = statistics.median(latencies), statistics.median(references)
    return {
        "rounds": n,
        "first_attempt_median_s": median,
        "first_attempt_p90_s": _percentile(latencies, 0.9),
        "reference_median_s": reference,
        "reference_p90_s": _percentile(references, 0.9),
        "ratio": median / reference,
        "events": len(events),
        "endpoints": len(per_endpoint),
        "messages": messages,
        "messages_per_event_per_endpoint": messages / (len(events) * len(per_endpoint)),
        "most_messages_of_one_event_at_one_endpoint": max(max(c.values()) for c in per_endpoint),
        "events_missing_at_an_endpoint": len(events - (set(per_endpoint[0]) & set(per_endpoint[1]))),
    }


def report(figures: dict[str, Any]) -> None:
    """The figures as `make bench` prints them."""
    print(
        f"  first attempt after the 201: median {figures['first_attempt_median_s'] * 1000:.0f} ms"
        f"   p90 {figures['first_attempt_p90_s'] * 1000:.0f} ms   ({figures['rounds']} registrations)"
    )
    print(
        f"  reference GET /deliveries/{{id}}: median {figures['reference_median_s'] * 1000:.1f} ms"
        f"   p90 {figures['reference_p90_s'] * 1000:.1f} ms   ratio {figures['ratio']:.0f}x"
    )
    print(
        f"  messages per event per endpoint: {figures['messages_per_event_per_endpoint']:.2f}"
        f"   ({figures['messages']} POSTs, {figures['events']} events, {figures['endpoints']} endpoints;"
        f" most of one event at one endpoint {figures['most_messages_of_one_event_at_one_endpoint']},"
        f" events missing at an endpoint {figures['events_missing_at_an_endpoint']})"
    )


if __name__ == "__main__":
    n = int(os.environ.get("BENCH_WEBHOOK_ROUNDS", "15"))
    print(f"== Webhooks on the local stack: {n} registrations, two endpoints; reference: GET /deliveries/{{id}}")
    report(measure(n))
