"""`make bench`'s webhook figures, on a tiny run: a stack of its own, two endpoints, three registrations.
Every event reaches each endpoint exactly once, and the figures have the shape the printout reads."""

from __future__ import annotations

import time

import pytest

from bench import webhooks

pytestmark = [pytest.mark.e2e]


def test_the_webhook_bench_measures_one_message_per_event_per_endpoint() -> None:
    started = time.monotonic()

    figures = webhooks.measure(3)

    assert time.monotonic() - started < 120, "a tiny run stays small"
    assert figures["rounds"] == 3 and figures["endpoints"] == 2
    # Each registration yields at least its registered and code-issued events, all of them at both endpoints.
    assert figures["events"] >= 6 and figures["events_missing_at_an_endpoint"] == 0
    assert figures["messages_per_event_per_endpoint"] == 1
    assert figures["most_messages_of_one_event_at_one_endpoint"] == 1
    assert figures["messages"] == figures["events"] * 2
    for name in ("first_attempt_median_s", "first_attempt_p90_s", "reference_median_s", "reference_p90_s"):
        assert 0 < figures[name] < webhooks.ARRIVAL_SECONDS, name
    assert figures["first_attempt_median_s"] <= figures["first_attempt_p90_s"]
    assert figures["ratio"] == figures["first_attempt_median_s"] / figures["reference_median_s"]
