"""The local stack's log lines name the function that wrote them, while functions run at once on the
stack's threads (HTTP requests, the stream's email consumer), as each function's own log does in AWS."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support import factories

pytestmark = [pytest.mark.e2e]

# Who writes each of the lines this test provokes.
WRITER = {
    "delivery registered": "RegisterFunction",
    "code resent": "StorefrontFunction",
    "delivery cancelled": "StorefrontFunction",
    "verification": "VerifyFunction",
    "code emails": "EmailFunction",
}
CUSTOMERS, ROUNDS = 8, 4


def test_each_log_line_names_the_function_that_wrote_it(stack_url, stack_log):
    url = stack_url
    assert requests.put(f"{url}/local/clock", json={"now": "2026-11-23T09:00:00+01:00"}, timeout=5).ok
    together = threading.Barrier(CUSTOMERS)

    def customer(_: int) -> list[str]:
        """Registers deliveries and acts on them; meanwhile the email consumer sends their codes."""
        together.wait()
        ids = []
        for _round in range(ROUNDS):
            body = factories.registration()
            delivery = f"{url}/deliveries/{body['delivery_id']}"
            assert requests.post(f"{url}/deliveries", json=body, timeout=30).status_code == 201
            assert requests.post(f"{delivery}/code/resend", timeout=30).status_code == 200
            wrong = requests.post(f"{delivery}/verifications", json={"code": "000000"}, timeout=30)
            assert wrong.status_code in (403, 409), wrong.text  # judged: wrong (or resend cooling down)
            assert requests.post(f"{delivery}/cancel", timeout=30).status_code == 200
            ids.append(body["delivery_id"])
        return ids

    try:
        with ThreadPoolExecutor(CUSTOMERS) as pool:
            mine = {i for ids in pool.map(customer, range(CUSTOMERS)) for i in ids}
        requests.get(f"{url}/local/mailbox", timeout=60)  # returns once the consumers have caught up
    finally:
        requests.delete(f"{url}/local/clock", timeout=5)

    lines = [line for line in stack_log() if line.get("message") in WRITER]
    # Each request's lines are there (so the check below is not vacuous), and email batches ran meanwhile
    for message in ("delivery registered", "code resent", "delivery cancelled", "verification"):
        assert {line["delivery_id"] for line in lines if line["message"] == message} >= mine, message
    assert any(line["message"] == "code emails" for line in lines)
    # and every line names the function that wrote it
    misnamed = [
        (line["message"], line["function_name"]) for line in lines if line["function_name"] != WRITER[line["message"]]
    ]
    assert misnamed == []
