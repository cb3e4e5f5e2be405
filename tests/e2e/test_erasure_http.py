"""Personal data erased over HTTP on the local stack: on request once the delivery has ended, and by the
scheduled run once its retention has passed; the receipt stays true, no stored answer replays a name."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from joserfc import jws
from joserfc.jwk import KeySet

from tests.e2e.test_lifecycle_http import mailbox, set_clock
from tests.support import factories

pytestmark = [pytest.mark.e2e]


def _person(tag: str) -> dict[str, str]:
    unique = uuid.uuid4().hex[:8]
    return {"name": f"{tag} Erase{unique}", "email": f"{tag}-{unique}@example.com", "postal": f"E{unique}"}


def _register(url: str, person: dict[str, str]) -> str:
    body = factories.registration(
        recipient={"email": person["email"], "name": person["name"], "locale": "it-IT"},
        destination__postal_code=person["postal"],
    )
    assert requests.post(f"{url}/deliveries", json=body, timeout=10).status_code == 201
    return f"{url}/deliveries/{body['delivery_id']}"


def _signed(url: str, receipt: dict) -> dict:
    keys = KeySet.import_key_set(requests.get(f"{url}/.well-known/jwks.json", timeout=5).json())
    return json.loads(jws.deserialize_compact(receipt["receipt"], keys, algorithms=["Ed25519"]).payload)


def test_personal_data_is_erased_on_request_once_the_delivery_has_ended(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    recipient, neighbour = _person("anna"), _person("marco")
    base = _register(stack_url, recipient)
    add = {"name": neighbour["name"], "email": neighbour["email"]}
    key = {"Idempotency-Key": f"add-{uuid.uuid4().hex}"}
    named = requests.post(f"{base}/delegates", json=add, headers=key, timeout=5)
    assert named.status_code == 201 and named.json()["name"] == neighbour["name"]
    assert len(mailbox(stack_url, recipient["email"], 1)) == 1

    # While the parcel still goes out, its personal data stays.
    refused = requests.delete(f"{base}/personal-data", timeout=5)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "DELIVERY_OPEN"

    code = requests.get(f"{base}/code", timeout=5).json()["code"]
    opened = requests.post(f"{base}/verifications", json={"code": code, "device_id": "d-1"}, timeout=5)
    assert opened.status_code == 200
    before = requests.get(f"{base}/receipt", timeout=5).json()

    erased = requests.delete(f"{base}/personal-data", timeout=5)
    assert erased.status_code == 200
    body = erased.json()
    assert body["personal_data_erased"] is True and body["status"] == "DELIVERED"
    assert [d["name"] for d in body["delegates"]] == [None]
    assert requests.get(base, timeout=5).json()["personal_data_erased"] is True
    again = requests.delete(f"{base}/personal-data", timeout=5)
    assert again.status_code == 200 and again.json() == body

    # The receipt signed before still verifies and says the same as one signed now; neither names anyone.
    after = requests.get(f"{base}/receipt", timeout=5).json()
    assert {**_signed(stack_url, before), "iat": 0} == {**_signed(stack_url, after), "iat": 0}
    assert neighbour["name"] not in json.dumps(after) and recipient["name"] not in json.dumps(before)
    # The trail is still there, the erasure in it, no erased value.
    trail = requests.get(f"{base}/events", timeout=5).json()["events"]
    assert trail[-1]["type"] == "PERSONAL_DATA_ERASED" and "DELIVERED" in [e["type"] for e in trail]
    assert not any(value in json.dumps(trail) for value in [*recipient.values(), *neighbour.values()])
    # The stored answer that named the delegate is gone: the same request is judged afresh.
    retried = requests.post(f"{base}/delegates", json=add, headers=key, timeout=5)
    assert retried.status_code == 409 and neighbour["name"] not in retried.text
    # Nothing more reached the recipient (the poll waits a moment for a late one).
    assert len(mailbox(stack_url, recipient["email"], 2, deadline_s=1.0)) == 1


def test_the_scheduled_run_erases_personal_data_once_its_retention_has_passed(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    base = _register(stack_url, _person("luca"))
    assert requests.post(f"{base}/cancel", timeout=5).status_code == 200
    assert requests.get(base, timeout=5).json()["personal_data_erased"] is False

    set_clock(stack_url, "2027-02-20T09:00:00+01:00")  # 89 days later: still kept
    assert requests.post(f"{stack_url}/local/schedules/run", timeout=120).status_code == 200
    assert requests.get(base, timeout=5).json()["personal_data_erased"] is False

    set_clock(stack_url, "2027-02-23T09:00:00+01:00")  # past the 90 days
    assert requests.post(f"{stack_url}/local/schedules/run", timeout=120).status_code == 200
    assert requests.get(base, timeout=5).json()["personal_data_erased"] is True
    trail = requests.get(f"{base}/events", timeout=5).json()["events"]
    assert (trail[-1]["type"], trail[-1]["actor"]["kind"]) == ("PERSONAL_DATA_ERASED", "scheduler")
    requests.delete(f"{stack_url}/local/clock", timeout=5)


def test_erasing_an_unknown_delivery_is_not_found(stack_url):
    answer = requests.delete(f"{stack_url}/deliveries/never-{uuid.uuid4().hex[:12]}/personal-data", timeout=5)
    assert answer.status_code == 404
