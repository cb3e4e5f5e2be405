"""Each handler in-process against moto, with events shaped like API Gateway's (samples in events/)."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest

from tests.support import factories
from tests.support.lambdas import EVENTS, call, invoke


def test_registration_answers_201_then_200_for_the_identical_repeat(clock):
    body = factories.registration()
    status, _, first = call("POST", "/deliveries", body=body)
    assert status == 201 and first["status"] == "SCHEDULED"
    status, _, again = call("POST", "/deliveries", body=body)
    assert status == 200 and again == first
    status, _, conflict = call("POST", "/deliveries", body={**body, "order_id": "other"})
    assert status == 409 and conflict["error"]["code"] == "CONFLICT"


@pytest.mark.parametrize(
    ("raw", "status"),
    [("not json", 400), ("[1, 2]", 400), ("", 400), ('{"delivery_id": "A"}', 422)],
)
def test_bad_bodies_get_the_error_shape(clock, raw, status):
    code, _, body = call("POST", "/deliveries", body=raw)
    assert code == status
    assert set(body["error"]) == {"code", "message"} and body["error"]["message"]


def test_an_amount_sent_as_a_number_names_the_field(clock):
    status, _, body = call(
        "POST", "/deliveries", body=factories.registration(order_value={"amount": 349.9, "currency": "EUR"})
    )
    assert status == 422 and "order_value.amount" in body["error"]["message"]


def test_the_code_view_is_never_cached(clock):
    body = factories.registration()
    call("POST", "/deliveries", body=body)
    status, headers, shown = call("GET", "/deliveries/{id}/code", body["delivery_id"])
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert set(shown) == {"code", "valid_until", "delivery_date"}


def test_unknown_ids_well_formed_or_not_answer_404(clock):
    for delivery_id in ["NOPE-1", "bad id!", "x" * 100]:
        for method, route in [
            ("GET", "/deliveries/{id}"),
            ("GET", "/deliveries/{id}/code"),
            ("GET", "/deliveries/{id}/events"),
            ("POST", "/deliveries/{id}/cancel"),
        ]:
            status, _, body = call(method, route, delivery_id)
            assert status == 404 and body["error"]["code"] == "NOT_FOUND"
        status, _, _ = call("POST", "/deliveries/{id}/verifications", delivery_id, {"code": "123456"})
        assert status == 404
        status, _, _ = call("POST", "/deliveries/{id}/attempts", delivery_id, {"outcome": "ACCESS_PROBLEM"})
        assert status == 404


def test_the_courier_routes_answer_as_specified(clock):
    body = factories.registration()
    delivery_id = body["delivery_id"]
    call("POST", "/deliveries", body=body)
    code = call("GET", "/deliveries/{id}/code", delivery_id)[2]["code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    status, _, rejected = call(
        "POST", "/deliveries/{id}/verifications", delivery_id, {"code": wrong, "device_id": "d-9"}
    )
    assert status == 403 and rejected["result"] == "REJECTED" and rejected["wrong_attempts_left"] == 4
    status, _, malformed = call("POST", "/deliveries/{id}/verifications", delivery_id, {"code": "12345"})
    assert status == 422 and "code" in malformed["error"]["message"]
    status, _, bad_outcome = call("POST", "/deliveries/{id}/attempts", delivery_id, {"outcome": "DOG"})
    assert status == 422 and "outcome" in bad_outcome["error"]["message"]
    status, _, accepted = call("POST", "/deliveries/{id}/verifications", delivery_id, {"code": code})
    assert status == 200 and accepted["result"] == "ACCEPTED"
    assert datetime.fromisoformat(accepted["delivered_at"]).utcoffset() is not None
    status, _, attempt = call("POST", "/deliveries/{id}/attempts", delivery_id, {"outcome": "ACCESS_PROBLEM"})
    assert status == 409
    status, _, trail = call("GET", "/deliveries/{id}/events", delivery_id)
    types = [e["type"] for e in trail["events"]]
    assert types[0] == "REGISTERED" and "DELIVERED" in types
    rejected_event = next(e for e in trail["events"] if e["outcome"] == "REJECTED")
    assert rejected_event["actor"] == {
        "kind": "courier",
        "courier_id": None,
        "device_id": "d-9",
        "principal": None,
        "delegate_id": None,
    }


def test_every_sample_event_runs_without_a_server_error(clock):
    from local.template import functions

    by_route = {}
    for name, props in functions().items():
        for ev in props.get("Events", {}).values():
            if ev.get("Type") == "HttpApi":
                by_route[f"{ev['Properties']['Method'].upper()} {ev['Properties']['Path']}"] = name
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text())
        if "routeKey" in event:
            response = invoke(by_route[event["routeKey"]], event)
            assert response["statusCode"] < 500, path.name


def test_the_rotation_plans_one_message_per_shard_and_the_worker_rotates_its_shard(clock):
    import boto3
    from delivery_otp.config import settings

    body = factories.registration()
    call("POST", "/deliveries", body=body)
    clock.freeze(datetime.fromisoformat("2026-11-24T00:30:00+01:00"))
    planned = invoke("RotationFunction", json.loads((EVENTS / "rotation_schedule.json").read_text()))
    assert planned["shards_queued"] == settings().rotation_shards

    sqs = boto3.client("sqs")
    queue = os.environ["ROTATION_QUEUE_URL"]
    messages = []
    while got := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        messages += got
    jobs = [json.loads(m["Body"]) for m in messages]
    assert sorted(job["shard"] for job in jobs) == [f"{n:02d}" for n in range(settings().rotation_shards)]
    assert {job["now"] for job in jobs} == {clock.now().isoformat()}

    records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
    assert invoke("RotationWorkerFunction", {"Records": records}) == {"batchItemFailures": []}
    assert call("GET", "/deliveries/{id}", body["delivery_id"])[2]["issue_number"] == 2


def test_the_stream_consumer_emails_a_new_code_and_reports_no_failures(clock, sent_mail):
    body = factories.registration(recipient={"email": "stream@example.com", "locale": "fr-FR"})
    call("POST", "/deliveries", body=body)
    event = json.loads((EVENTS / "email_stream.json").read_text())
    record = event["Records"][0]
    record["eventName"] = "INSERT"
    record["dynamodb"]["NewImage"]["delivery_id"] = {"S": body["delivery_id"]}
    record["dynamodb"]["NewImage"]["pk"] = {"S": f"D#{body['delivery_id']}"}
    record["dynamodb"]["NewImage"]["issue_number"] = {"N": "1"}
    record["dynamodb"].pop("OldImage", None)
    assert invoke("EmailFunction", event) == {"batchItemFailures": []}
    mails = sent_mail("stream@example.com")
    assert len(mails) == 1
    code = call("GET", "/deliveries/{id}/code", body["delivery_id"])[2]["code"]
    assert code in mails[0]["text"]
