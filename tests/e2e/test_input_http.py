"""Input at the edges over real HTTP on the local stack: text that is not text from a courier's device,
bodies over the limit, and what a courier named by nobody is told (authentication off)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from tests.support import factories

pytestmark = [pytest.mark.e2e]

JSON = {"content-type": "application/json"}


def set_clock(url: str, now: str) -> None:
    assert requests.put(f"{url}/local/clock", json={"now": now}, timeout=5).status_code == 200


def registered(url: str) -> tuple[str, str]:
    set_clock(url, "2026-11-23T09:00:00+01:00")
    body = factories.registration()
    assert requests.post(f"{url}/deliveries", json=body, timeout=10).status_code == 201
    delivery_id = body["delivery_id"]
    return delivery_id, requests.get(f"{url}/deliveries/{delivery_id}/code", timeout=5).json()["code"]


def test_a_device_id_with_an_unpaired_surrogate_cannot_break_a_deliverys_evidence(stack_url):
    delivery_id, code = registered(stack_url)
    verifications = f"{stack_url}/deliveries/{delivery_id}/verifications"
    for candidate in ("000000" if code != "000000" else "000001", code):
        raw = '{"code": "' + candidate + '", "device_id": "d-\\ud800"}'  # valid JSON, but no text
        refused = requests.post(verifications, data=raw.encode(), headers=JSON, timeout=5)
        assert refused.status_code == 422 and refused.json()["error"]["message"].startswith("device_id:")
    attempt = requests.post(
        f"{stack_url}/deliveries/{delivery_id}/attempts",
        data=b'{"outcome": "ACCESS_PROBLEM", "device_id": "d-\\ud800"}',
        headers=JSON,
        timeout=5,
    )
    assert attempt.status_code == 422
    events = requests.get(f"{stack_url}/deliveries/{delivery_id}/events", timeout=5)
    assert events.status_code == 200
    # Nothing counted (the code's email may have been marked meanwhile: it goes out on its own).
    recorded = [e["type"] for e in events.json()["events"] if e["type"] != "EMAIL_SENT"]
    assert recorded == ["REGISTERED", "CODE_ISSUED"]
    accepted = requests.post(verifications, json={"code": code, "device_id": "d-9"}, timeout=5)
    assert accepted.status_code == 200
    receipt = requests.get(f"{stack_url}/deliveries/{delivery_id}/receipt", timeout=5)
    assert receipt.status_code == 200 and receipt.json()["claims"]["device_id"] == "d-9"
    assert requests.get(f"{stack_url}/deliveries/{delivery_id}/events", timeout=5).status_code == 200


def test_a_body_over_64_kib_is_413(stack_url):
    delivery_id, _ = registered(stack_url)
    padding = json.dumps({"padding": "x" * (64 * 1024)})
    for method, path in [
        ("POST", "/deliveries"),
        ("POST", f"/deliveries/{delivery_id}/verifications"),
        ("PUT", f"/deliveries/{delivery_id}/schedule"),
    ]:
        response = requests.request(method, f"{stack_url}{path}", data=padding, headers=JSON, timeout=10)
        assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_the_local_stack_refuses_a_body_over_api_gateways_limit_itself_with_413(stack_url):
    # Refused from its Content-Length alone, before the body is read (as API Gateway's 10 MB limit).
    address = urlsplit(stack_url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
        conn.sendall(
            b"POST /deliveries HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n{"
        )
        status_line = conn.makefile("rb").readline()
    assert status_line.split()[1] == b"413"


@pytest.mark.parametrize("declared", [b"-5", b"lots", b"1e3"])
def test_the_local_stack_answers_a_content_length_that_is_not_a_size_with_400(stack_url, declared):
    address = urlsplit(stack_url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
        conn.sendall(b"POST /deliveries HTTP/1.1\r\nHost: local\r\nContent-Length: " + declared + b"\r\n\r\n{}")
        status_line = conn.makefile("rb").readline()
    assert status_line.split()[1] == b"400"


def test_with_auth_off_a_courier_is_named_by_the_body(stack_url):
    delivery_id, code = registered(stack_url)
    assert requests.put(f"{stack_url}/deliveries/{delivery_id}/courier", json={"courier_id": "c-17"}, timeout=5).ok
    verifications = f"{stack_url}/deliveries/{delivery_id}/verifications"
    nameless = requests.post(verifications, json={"code": code}, timeout=5)
    assert nameless.status_code == 404
    assert "courier_id" in nameless.json()["error"]["message"] and "assigned" in nameless.json()["error"]["message"]
    named = requests.post(verifications, json={"code": code, "courier_id": "c-17"}, timeout=5)
    assert named.status_code == 200 and named.json()["result"] == "ACCEPTED"
