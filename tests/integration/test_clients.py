"""Every request the functions send to AWS goes through a client of `delivery_otp.adapters.clients`: it
carries the application's fixed User-Agent (which spares botocore rebuilding one twice per request, a
quarter of a DynamoDB call's CPU), and no path falls back to pynamodb's or boto3's own client."""

from __future__ import annotations

import os
from datetime import datetime

import boto3
import botocore.session
import pytest
from delivery_otp import idempotency, issuing, reads, rotation, wiring
from delivery_otp.adapters.clients import USER_AGENT
from delivery_otp.notifications import send_code_email

from tests.support import factories
from tests.support.aws import REGION
from tests.support.lambdas import call, http_event, invoke


@pytest.fixture
def sent_with(clock, monkeypatch):
    """(operation, User-Agent) of every request sent by a client made from now on, in any way; and an SQS
    client of the test's own."""
    seen: list[tuple[str, str]] = []
    made = botocore.session.Session.create_client
    sqs = boto3.client("sqs", region_name=REGION)  # the test's own, made before the patch: not recorded

    def create_client(self, *args, **kwargs):
        client = made(self, *args, **kwargs)

        def record(request, event_name, **_):
            user_agent = request.headers["User-Agent"]
            seen.append(
                (
                    event_name.removeprefix("before-send."),
                    user_agent.decode() if isinstance(user_agent, bytes) else user_agent,
                )
            )

        client.meta.events.register("before-send", record)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    wiring.reset()  # the adapters make their clients afresh, under the patch
    idempotency._persistence.cache_clear()  # and so does the idempotency store
    wiring.override(clock=clock)
    yield seen, sqs
    idempotency._persistence.cache_clear()  # its client records requests: leave none behind


def drain(sqs, queue_url: str) -> int:
    """Take the planner's messages off the shared queue (the worker's own tests read it), and count them."""
    taken = 0
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        taken += len(messages)
    return taken


def test_every_request_of_the_functions_carries_the_application_user_agent(clock, sent_with):
    sent, sqs = sent_with
    kept, verified = factories.registration(), factories.registration()
    for body in (kept, verified):
        assert call("POST", "/deliveries", body=body)[0] == 201
    code = reads.current_code(verified["delivery_id"])["code"]
    assert call("POST", "/deliveries/{id}/verifications", verified["delivery_id"], {"code": code})[0] == 200
    keyed = http_event("POST", "/deliveries/{id}/verifications", verified["delivery_id"], {"code": code})
    keyed["headers"]["idempotency-key"] = "k-1"
    assert invoke("VerifyFunction", keyed)["statusCode"] == 409  # delivered already; the answer is stored
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert call("POST", "/deliveries/{id}/verifications", kept["delivery_id"], {"code": wrong})[0] == 403
    send_code_email(kept["delivery_id"], 1)
    clock.freeze(datetime.fromisoformat("2026-11-24T00:30:00+01:00"))
    # Only the kept delivery's shard: the table is shared with other tests, whose deliveries stay as they are.
    assert rotation.rotate_all(only=[issuing.shard_of(kept["delivery_id"])])["rotated"] >= 1
    queued = invoke("RotationFunction", {"source": "aws.scheduler"})["shards_queued"]
    assert drain(sqs, os.environ["ROTATION_QUEUE_URL"]) == queued

    operations = {operation for operation, _ in sent}
    expected = {
        "secrets-manager.GetSecretValue",
        "dynamodb.PutItem",
        "dynamodb.GetItem",
        "dynamodb.UpdateItem",
        "dynamodb.Query",
        "dynamodb.BatchGetItem",
        "ses.SendBulkTemplatedEmail",
        "sqs.SendMessageBatch",
    }
    assert expected <= operations, f"the scenario did not reach {expected - operations}"
    # Powertools marks its idempotency store's requests: they were sent, from our client too.
    assert any("PT/idempotency/" in user_agent for _, user_agent in sent)
    # Ours as botocore sends it; Powertools appends its own marker to every session's requests.
    assert [(op, user_agent) for op, user_agent in sent if user_agent.split(" PT/")[0] != USER_AGENT] == []


def test_the_deliveries_and_the_suppression_list_share_the_table_s_one_client(clock):
    # One connection pool and one client made per container, whichever of them asks first
    assert wiring.adapters().suppression.table.client is wiring.adapters().deliveries.client
