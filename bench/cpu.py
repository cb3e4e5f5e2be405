"""Client-side CPU of a verification, with the network removed: every DynamoDB call gets a canned
success answer from a botocore `before-send` hook, so only our code, Powertools and botocore's own
serialising and parsing are measured. Reference: one bare `update_item` call answered the same way.
Measured twice: the whole handler (Powertools' resolver and logger included) and the verification
alone, so the plumbing's share shows apart from the data path's.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

NOW = datetime.fromisoformat("2026-11-23T10:00:00+01:00")
ROUNDS = 2000
WARM_UP = 50


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def _canned(request: Any, **_: Any) -> AWSResponse:
    return AWSResponse(request.url, 200, {"x-amzn-requestid": "bench"}, _Raw(b"{}"))


def _cpu_per_call(action: Callable[[], Any], rounds: int = ROUNDS) -> float:
    for _ in range(WARM_UP):
        action()
    started = time.process_time()
    for _ in range(rounds):
        action()
    return (time.process_time() - started) / rounds


def measure() -> dict[str, float]:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "eu-south-1",
            "AWS_REGION": "eu-south-1",
            "TABLE_NAME": "deliveries",
            "CODE_KEY_SECRET_ID": "code-key",
            "EMAIL_SENDER": "codes@example.com",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from delivery_otp import audit, verification, wiring
    from delivery_otp.audit import Actor
    from delivery_otp.clock import SettableClock
    from delivery_otp.observability import logger

    from tests.support.lambdas import http_event, invoke

    class _Key:
        @staticmethod
        def key() -> bytes:
            return b"k" * 32

    wiring.reset()
    wiring.override(clock=SettableClock(NOW), keys=_Key())
    wiring.adapters().deliveries.client.meta.events.register("before-send", _canned)

    client = boto3.client("dynamodb")
    client.meta.events.register("before-send", _canned)

    def bare() -> None:
        client.update_item(
            TableName="deliveries",
            Key={"pk": {"S": "D#IT-1"}},
            UpdateExpression="SET #s = :s",
            ConditionExpression="#s = :old",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "DELIVERED"}, ":old": {"S": "SCHEDULED"}},
        )

    def verify_event(courier: str | None) -> dict[str, Any]:
        event = http_event("POST", "/deliveries/{id}/verifications", "IT-1", {"code": "012345", "device_id": "d-9"})
        if courier:
            event["requestContext"]["authorizer"] = {"jwt": {"claims": {"username": courier}, "scopes": ["verify"]}}
        return event

    def handler(courier: str | None) -> Callable[[], Any]:
        # A fresh event per call, as the Lambda runtime hands each invocation its own, made before the
        # clock starts: parsing the event is the runtime's work, not the function's.
        text = json.dumps(verify_event(courier))
        events = [json.loads(text) for _ in range(WARM_UP + ROUNDS)]

        def call() -> None:
            response = invoke("VerifyFunction", events.pop())
            assert response["statusCode"] == 200, response

        return call

    def service(courier: str | None) -> Callable[[], Any]:
        """The verification itself, without the Lambda plumbing (Powertools' resolver and logger)."""
        actor = Actor(audit.COURIER, courier, "d-9")
        body = {"code": "012345", "device_id": "d-9"}

        def call() -> None:
            assert verification.verify("IT-1", dict(body), actor).status == 200

        return call

    reference = _cpu_per_call(bare)
    # The handler's log line (every verification is logged) is part of its CPU, not of this report: at
    # the template's level (INFO), formatted, then dropped.
    level = logger.level
    logger.setLevel(logging.INFO)
    with open(os.devnull, "w") as devnull:
        stream = logger.registered_handler.setStream(devnull)
        try:
            with_courier = _cpu_per_call(handler("c-17"))
            without = _cpu_per_call(handler(None))
        finally:
            logger.registered_handler.setStream(stream)
            logger.setLevel(level)
    return {
        "bare update_item (reference)": reference,
        "verify handler, courier (transaction)": with_courier,
        "verify handler, no courier": without,
        "verification alone, courier (transaction)": _cpu_per_call(service("c-17")),
        "verification alone, no courier": _cpu_per_call(service(None)),
    }


if __name__ == "__main__":
    import bench  # noqa: F401 - puts the layer on the path

    results = measure()
    reference = results["bare update_item (reference)"]
    for name, seconds in results.items():
        print(f"{name:40} {seconds * 1e6:8.0f} us  {seconds / reference:.2f}x")
