"""Assignment and the per-courier guessing budget."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from delivery_otp import attempts, budgets, dispatch, reads, registration, verification
from delivery_otp.audit import COURIER, Actor
from delivery_otp.errors import Conflict, InvalidInput, NotFound, TooManyRequests

from tests.support import factories
from tests.support.lambdas import call, http_event, invoke


def a_courier() -> Actor:
    return Actor(COURIER, courier_id=f"c-{uuid.uuid4().hex[:10]}", device_id="d-1")


def registered(**overrides) -> tuple[str, str]:
    body = factories.registration(**overrides)
    registration.register(body)
    return body["delivery_id"], reads.current_code(body["delivery_id"])["code"]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_an_assigned_delivery_does_not_exist_for_other_couriers(clock):
    mine, other = a_courier(), a_courier()
    delivery_id, code = registered()
    assert dispatch.assign_courier(delivery_id, {"courier_id": mine.courier_id})["courier_id"] == mine.courier_id
    for candidate in [code, wrong(code)]:
        with pytest.raises(NotFound) as unknown_answer:
            verification.verify(delivery_id, {"code": candidate}, other)
        with pytest.raises(NotFound) as truly_unknown:
            verification.verify("NEVER-REGISTERED", {"code": candidate}, other)
        assert unknown_answer.value.status == truly_unknown.value.status
        assert unknown_answer.value.code == truly_unknown.value.code
    with pytest.raises(NotFound):
        verification.verify(delivery_id, {"code": "12"}, other)
    with pytest.raises(NotFound):
        attempts.report_attempt(delivery_id, {"outcome": "ACCESS_PROBLEM"}, other)
    with pytest.raises(NotFound):
        verification.verify(delivery_id, {"code": code}, Actor(COURIER))  # no courier at all
    assert reads.get_delivery(delivery_id)["wrong_attempts_left"] == 5  # nothing was counted
    assert verification.verify(delivery_id, {"code": code}, mine).status == 200


def test_assignment_input_and_state_are_checked(clock):
    delivery_id, code = registered()
    with pytest.raises(InvalidInput):
        dispatch.assign_courier(delivery_id, {"courier_id": "has space"})
    with pytest.raises(NotFound):
        dispatch.assign_courier("NOPE-1", {"courier_id": "c-1"})
    verification.verify(delivery_id, {"code": code}, a_courier())
    with pytest.raises(Conflict):
        dispatch.assign_courier(delivery_id, {"courier_id": "c-1"})


def test_a_courier_gets_20_wrong_codes_a_day_across_deliveries_then_429(clock, capsys):
    courier = a_courier()
    deliveries = [registered() for _ in range(5)]
    statuses = []
    for delivery_id, code in deliveries:
        for _ in range(4):
            statuses.append(verification.verify(delivery_id, {"code": wrong(code)}, courier).status)
    assert statuses == [403] * 20
    extra_id, extra_code = registered()
    with pytest.raises(TooManyRequests) as blocked:
        verification.verify(extra_id, {"code": extra_code}, courier)  # even the right code
    assert blocked.value.status == 429 and blocked.value.code == "TOO_MANY_WRONG_CODES"
    assert 0 < int(blocked.value.headers["Retry-After"]) <= 24 * 3600
    assert reads.get_delivery(extra_id)["status"] == "SCHEDULED"
    trail = [e["type"] for d, _ in deliveries for e in reads.audit_trail(d)["events"]]
    assert trail.count("COURIER_BLOCKED") == 1
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    assert [m["CourierBlocked"] for m in metrics if "CourierBlocked" in m] == [[1.0]]
    # another courier is not affected
    assert verification.verify(extra_id, {"code": extra_code}, a_courier()).status == 200

    clock.freeze(clock.now() + timedelta(hours=24, seconds=1))
    later_id, later_code = registered(delivery_date="2026-11-24")
    assert verification.verify(later_id, {"code": wrong(later_code)}, courier).status == 403


def test_parallel_wrong_codes_from_one_courier_never_pass_20(clock, table):
    courier = a_courier()
    deliveries = [registered() for _ in range(10)]
    jobs = [(d, wrong(c)) for d, c in deliveries for _ in range(4)]

    def attempt(job):
        try:
            return verification.verify(job[0], {"code": job[1]}, courier).status
        except TooManyRequests as exc:
            return exc.status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, jobs))
    assert statuses.count(403) == 20 and statuses.count(429) == 20
    item = table.get_item(Key={"pk": f"C#{courier.courier_id}"}, ConsistentRead=True)["Item"]
    log = [int(t) for t in item["wrong_log"]]
    assert len(log) == 20 and budgets.blocked_until(log, clock.now().timestamp()) is not None
    counted = sum(5 - reads.get_delivery(d)["wrong_attempts_left"] for d, _ in deliveries)
    assert counted == 20


def test_the_token_names_the_courier_and_a_different_body_courier_is_refused(clock):
    body = factories.registration()
    call("POST", "/deliveries", body=body)
    delivery_id = body["delivery_id"]
    dispatch.assign_courier(delivery_id, {"courier_id": "c-token"})
    code = reads.current_code(delivery_id)["code"]

    def with_token(payload, username):
        event = http_event("POST", "/deliveries/{id}/verifications", delivery_id, payload)
        event["requestContext"]["authorizer"] = {"jwt": {"claims": {"username": username}, "scopes": ["x"]}}
        return invoke("VerifyFunction", event)

    refused = with_token({"code": code, "courier_id": "c-other"}, "c-token")
    assert refused["statusCode"] == 403 and "courier_id" in refused["body"]
    assert with_token({"code": code}, "c-intruder")["statusCode"] == 404
    assert with_token({"code": code, "courier_id": "c-token"}, "c-token")["statusCode"] == 200
