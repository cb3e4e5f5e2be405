"""Held parcels released and parcels returned to their sender, over HTTP on the local stack: the emails
that follow (and those that must not), the answers of every route afterwards, and the caller's IAM
principal in the trail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.e2e.test_auth import Storefront
from tests.e2e.test_lifecycle_http import mailbox, set_clock
from tests.support import factories

pytestmark = [pytest.mark.e2e]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_locked_parcel_is_released_then_returned_and_nothing_more_is_mailed(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    email = f"sara-{uuid.uuid4().hex[:8]}@example.com"
    body = factories.registration(recipient={"email": email, "name": "Sara Neri", "locale": "it-IT"})
    base = f"{stack_url}/deliveries/{body['delivery_id']}"
    assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
    first = requests.get(f"{base}/code", timeout=5).json()["code"]
    # The email consumer reads the delivery when it gets to the record, and mails only a code still live:
    # locked before that (the consumer behind earlier tests' records), the first code is never mailed.
    assert len(mailbox(stack_url, email, 1)) == 1
    for _ in range(5):
        requests.post(f"{base}/verifications", json={"code": wrong(first)}, timeout=5)
    assert requests.get(base, timeout=5).json()["status"] == "LOCKED"

    # Released for today, with a key: a retry gets the same answer and no second code.
    key = {"Idempotency-Key": str(uuid.uuid4())}
    released = requests.post(f"{base}/release", json={"delivery_date": "2026-11-23"}, headers=key, timeout=5)
    again = requests.post(f"{base}/release", json={"delivery_date": "2026-11-23"}, headers=key, timeout=5)
    assert released.status_code == again.status_code == 200 and released.json() == again.json()
    assert released.json()["issue_number"] == 2 and released.json()["wrong_attempts_left"] == 5
    second = requests.get(f"{base}/code", timeout=5).json()["code"]
    mails = mailbox(stack_url, email, 3)  # the first code, the wrong-code alert, the released code
    assert len(mails) == 3 and any(second in m["text"] for m in mails)
    not_held = requests.post(f"{base}/release", json={"delivery_date": "2026-11-24"}, timeout=5)
    assert not_held.status_code == 409
    returned = requests.post(f"{base}/return", timeout=5)  # no body needed
    assert returned.status_code == 200 and returned.json()["status"] == "RETURNED"
    assert requests.post(f"{base}/return", timeout=5).json()["status"] == "RETURNED"

    verified = requests.post(f"{base}/verifications", json={"code": second}, timeout=5)
    assert verified.status_code == 410 and verified.json()["result"] == "EXPIRED"
    attempt = requests.post(f"{base}/attempts", json={"outcome": "ACCESS_PROBLEM"}, timeout=5)
    assert attempt.status_code == 409
    assert requests.post(f"{base}/cancel", timeout=5).status_code == 409
    set_clock(stack_url, "2026-11-24T00:30:00+01:00")
    assert requests.post(f"{stack_url}/local/schedules/run", timeout=60).status_code == 200
    assert len(mailbox(stack_url, email, 4, deadline_s=1.0)) == 3  # nothing after the return
    types = [e["type"] for e in requests.get(f"{base}/events", timeout=5).json()["events"]]
    assert types.count("RELEASED") == types.count("RETURNED") == 1
    after = types[types.index("RETURNED") + 1 :]
    assert "CODE_ISSUED" not in after and "EMAIL_SENT" not in after and "ROTATED" not in after


def test_a_release_for_a_day_that_is_no_working_day_or_has_ended_is_refused(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    body = factories.registration()
    base = f"{stack_url}/deliveries/{body['delivery_id']}"
    requests.post(f"{stack_url}/deliveries", json=body, timeout=10)
    for day, code in [("2026-11-29", "INVALID_INPUT"), ("2026-11-22", "DELIVERY_DATE_ENDED")]:
        refused = requests.post(f"{base}/release", json={"delivery_date": day}, timeout=5)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == code
        assert "delivery_date" in refused.json()["error"]["message"]


def test_an_attempt_reported_against_last_nights_code_is_stale(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    body = factories.registration()
    base = f"{stack_url}/deliveries/{body['delivery_id']}"
    requests.post(f"{stack_url}/deliveries", json=body, timeout=10)
    set_clock(stack_url, "2026-11-24T00:30:00+01:00")
    requests.post(f"{stack_url}/local/schedules/run", timeout=60)

    stale = requests.post(f"{base}/attempts", json={"outcome": "ACCESS_PROBLEM", "issue_number": 1}, timeout=5)

    assert stale.status_code == 409 and stale.json()["error"]["code"] == "STALE_ATTEMPT"
    state = requests.get(base, timeout=5).json()
    assert state["status"] == "SCHEDULED" and state["issue_number"] == 2 and state["code_valid_until"] is not None


def test_the_trail_names_the_storefront_principal_that_signed_each_action(secure_stack_url):
    creds = requests.get(f"{secure_stack_url}/local/credentials/storefront", timeout=5).json()
    storefront = Storefront(secure_stack_url, creds)
    body = factories.registration(delivery_date=(datetime.now(UTC) + timedelta(days=2)).date().isoformat())
    path = f"/deliveries/{body['delivery_id']}"
    assert storefront.call("POST", "/deliveries", body).status_code == 201
    assert storefront.call("POST", f"{path}/return").status_code == 200

    events = storefront.call("GET", f"{path}/events").json()["events"]

    principals = {e["type"]: e["actor"].get("principal") for e in events}
    assert principals["REGISTERED"] == principals["RETURNED"] == "arn:aws:iam::123456789012:user/local-storefront"
    assert principals["CODE_ISSUED"] is None  # the system's own action
