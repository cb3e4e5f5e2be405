"""Idempotency-Key on POST routes: retries get the first answer; a reused key with another body, 422."""

from __future__ import annotations

import json
import uuid

from boto3.dynamodb.conditions import Attr
from delivery_otp import reads, registration

from tests.support import factories
from tests.support.lambdas import http_event, invoke


def post(function: str, route: str, delivery_id: str | None, body, key: str | None):
    headers = {"idempotency-key": key} if key else {}
    response = invoke(function, http_event("POST", route, delivery_id, body, headers))
    return response["statusCode"], json.loads(response["body"]), response.get("headers", {})


VERIFY = ("VerifyFunction", "/deliveries/{id}/verifications")


def test_a_courier_whose_accepted_answer_was_lost_gets_accepted_again(clock):
    body = factories.registration()
    registration.register(body)
    delivery_id = body["delivery_id"]
    code = reads.current_code(delivery_id)["code"]
    key = str(uuid.uuid4())
    first = post(*VERIFY, delivery_id, {"code": code, "device_id": "d-9"}, key)
    again = post(*VERIFY, delivery_id, {"code": code, "device_id": "d-9"}, key)
    assert first[0] == again[0] == 200 and first[1] == again[1]
    assert post(*VERIFY, delivery_id, {"code": code, "device_id": "d-9"}, str(uuid.uuid4()))[0] == 409
    assert post(*VERIFY, delivery_id, {"code": code, "device_id": "d-9"}, None)[0] == 409


def test_the_same_key_with_another_body_is_422_before_any_other_check(clock):
    body = factories.registration()
    registration.register(body)
    delivery_id = body["delivery_id"]
    code = reads.current_code(delivery_id)["code"]
    key = str(uuid.uuid4())
    assert post(*VERIFY, delivery_id, {"code": code}, key)[0] == 200
    status, answer, _ = post(*VERIFY, delivery_id, {"code": "000000"}, key)
    assert status == 422 and answer["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_a_replayed_wrong_code_is_not_counted_twice(clock):
    body = factories.registration()
    registration.register(body)
    delivery_id = body["delivery_id"]
    code = reads.current_code(delivery_id)["code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    key = str(uuid.uuid4())
    first = post(*VERIFY, delivery_id, {"code": wrong}, key)
    again = post(*VERIFY, delivery_id, {"code": wrong}, key)
    assert first[0] == again[0] == 403 and first[1]["wrong_attempts_left"] == again[1]["wrong_attempts_left"] == 4
    assert reads.get_delivery(delivery_id)["wrong_attempts_left"] == 4


def test_registration_and_cancel_replay_their_first_answer(clock):
    body = factories.registration()
    key = str(uuid.uuid4())
    created = post("RegisterFunction", "/deliveries", None, body, key)
    replayed = post("RegisterFunction", "/deliveries", None, body, key)
    assert created[0] == replayed[0] == 201 and created[1] == replayed[1]
    cancel = ("StorefrontFunction", "/deliveries/{id}/cancel")
    assert post(*cancel, body["delivery_id"], None, key)[0] == 200


def test_bad_keys_are_refused(clock):
    status, answer, _ = post(*VERIFY, "X-1", {"code": "123456"}, "k" * 300)
    assert status == 400 and "Idempotency-Key" in answer["error"]["message"]


def test_idempotency_records_hold_no_code(clock, table):
    body = factories.registration()
    registration.register(body)
    delivery_id = body["delivery_id"]
    code = reads.current_code(delivery_id)["code"]
    post(*VERIFY, delivery_id, {"code": code}, str(uuid.uuid4()))
    records = table.scan(FilterExpression=Attr("pk").begins_with("D#").__invert__())["Items"]
    idempotency = [r for r in records if not str(r["pk"]).startswith("C#")]
    assert idempotency, "the idempotency record was not written to the table"
    assert all(code not in json.dumps(r, default=str) for r in idempotency)
