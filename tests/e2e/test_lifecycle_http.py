"""The README's story over HTTP against the local stack: registered, emailed, viewed, failed,
requeued, rotated at night, delivered with the new code; plus concurrency and bad input."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support import factories

pytestmark = [pytest.mark.e2e]


def set_clock(url: str, now: str) -> None:
    assert requests.put(f"{url}/local/clock", json={"now": now}, timeout=5).status_code == 200


def mailbox(url: str, to: str, count: int, deadline_s: float = 10.0) -> list[dict]:
    """Emails are asynchronous (stream consumer): poll until `count` arrived or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        messages = requests.get(f"{url}/local/mailbox", params={"to": to}, timeout=60).json()["messages"]
        if len(messages) >= count or time.monotonic() > end:
            return messages
        time.sleep(0.1)


def test_a_delivery_lives_its_whole_life_over_http(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    email = f"maria-{uuid.uuid4().hex[:8]}@example.com"
    body = factories.registration(recipient={"email": email, "name": "Maria Rossi", "locale": "it-IT"})
    delivery_id = body["delivery_id"]

    created = requests.post(f"{stack_url}/deliveries", json=body, timeout=10)
    assert created.status_code == 201, created.text
    assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 200

    shown = requests.get(f"{stack_url}/deliveries/{delivery_id}/code", timeout=5)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    first_code = shown.json()["code"]
    mails = mailbox(stack_url, email, 1)
    assert len(mails) == 1 and first_code in mails[0]["text"] and first_code not in mails[0]["subject"]

    failed = requests.post(
        f"{stack_url}/deliveries/{delivery_id}/attempts", json={"outcome": "RECIPIENT_UNAVAILABLE"}, timeout=5
    )
    assert failed.json() == {"status": "REQUEUED", "next_delivery_date": "2026-11-24"}
    assert requests.get(f"{stack_url}/deliveries/{delivery_id}/code", timeout=5).status_code == 410
    expired = requests.post(f"{stack_url}/deliveries/{delivery_id}/verifications", json={"code": first_code}, timeout=5)
    assert expired.status_code == 410 and expired.json()["result"] == "EXPIRED"

    set_clock(stack_url, "2026-11-24T00:30:00+01:00")
    run = requests.post(f"{stack_url}/local/schedules/run", timeout=60)
    # The planner queued one message per shard; the answer comes once the workers have done them.
    assert run.status_code == 200 and run.json()["results"]["RotationFunction"]["shards_queued"] >= 1
    again = requests.post(f"{stack_url}/local/schedules/run", timeout=60)
    assert again.status_code == 200
    state = requests.get(f"{stack_url}/deliveries/{delivery_id}", timeout=5).json()
    assert state["status"] == "SCHEDULED" and state["delivery_date"] == "2026-11-24" and state["issue_number"] == 2

    second_code = requests.get(f"{stack_url}/deliveries/{delivery_id}/code", timeout=5).json()["code"]
    mails = mailbox(stack_url, email, 2)
    assert len(mails) == 2 and second_code in mails[1]["text"]
    # the replayed run sent no second email for the same code
    assert len(mailbox(stack_url, email, 3, deadline_s=1.0)) == 2

    set_clock(stack_url, "2026-11-24T10:15:00+01:00")
    if first_code != second_code:
        old = requests.post(f"{stack_url}/deliveries/{delivery_id}/verifications", json={"code": first_code}, timeout=5)
        assert old.status_code == 403 and old.json()["wrong_attempts_left"] == 4
    accepted = requests.post(
        f"{stack_url}/deliveries/{delivery_id}/verifications",
        json={"code": second_code, "courier_id": "c-17", "device_id": "d-9"},
        timeout=5,
    )
    assert accepted.status_code == 200 and accepted.json()["result"] == "ACCEPTED"

    events = requests.get(f"{stack_url}/deliveries/{delivery_id}/events", timeout=5).json()["events"]
    types = [e["type"] for e in events]
    for expected in [
        "REGISTERED",
        "CODE_ISSUED",
        "EMAIL_SENT",
        "ATTEMPT_FAILED",
        "ROTATED",
        "VERIFICATION",
        "DELIVERED",
    ]:
        assert expected in types
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    requests.delete(f"{stack_url}/local/clock", timeout=5)


def test_parallel_requests_keep_the_exactly_once_rules(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    bodies = [factories.registration() for _ in range(2)]
    for body in bodies:
        assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
    right_id, wrong_id = bodies[0]["delivery_id"], bodies[1]["delivery_id"]
    code = requests.get(f"{stack_url}/deliveries/{right_id}/code", timeout=5).json()["code"]
    other = requests.get(f"{stack_url}/deliveries/{wrong_id}/code", timeout=5).json()["code"]
    wrong = f"{(int(other) + 1) % 1_000_000:06d}"

    def verify(args):
        delivery_id, candidate = args
        return requests.post(
            f"{stack_url}/deliveries/{delivery_id}/verifications", json={"code": candidate}, timeout=30
        ).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        rights = list(pool.map(verify, [(right_id, code)] * 20))
        wrongs = list(pool.map(verify, [(wrong_id, wrong)] * 20))
    assert sorted(rights) == [200] + [409] * 19
    assert wrongs.count(403) == 5 and wrongs.count(423) == 15
    state = requests.get(f"{stack_url}/deliveries/{wrong_id}", timeout=5).json()
    assert state["status"] == "LOCKED" and state["wrong_attempts_left"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"delivery_id": 5}',
        b'{"order_value": {"amount": 1e400}}',
        b"\xff\xfe\x00",
        b"{" * 10_000,
        b'{"a": "' + b"x" * 200_000 + b'"}',
    ],
)
def test_bad_input_is_a_clean_4xx_over_http(stack_url, payload):
    response = requests.post(
        f"{stack_url}/deliveries", data=payload, headers={"content-type": "application/json"}, timeout=10
    )
    assert 400 <= response.status_code < 500
    assert "message" in response.json()["error"]
