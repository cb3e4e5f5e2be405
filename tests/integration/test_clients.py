"""Every request the functions send to AWS goes through a client of `delivery_otp.adapters.clients`: it
carries the application's fixed User-Agent (which spares botocore rebuilding one twice per request, a
quarter of a DynamoDB call's CPU), and no path falls back to pynamodb's or boto3's own client."""

from __future__ import annotations

from datetime import datetime

import botocore.session
import pytest
from delivery_otp import idempotency, service, wiring
from delivery_otp.adapters.clients import USER_AGENT
from delivery_otp.notifications import send_code_email

from tests.support import factories
from tests.support.lambdas import call, http_event, invoke


@pytest.fixture
def sent(clock, monkeypatch):
    """(operation, User-Agent) of every request sent by a client made from now on, in any way."""
    seen: list[tuple[str, str]] = []
    made = botocore.session.Session.create_client

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
    return seen


def test_every_request_of_the_functions_carries_the_application_user_agent(clock, sent):
    kept, verified = factories.registration(), factories.registration()
    for body in (kept, verified):
        assert call("POST", "/deliveries", body=body)[0] == 201
    code = service.current_code(verified["delivery_id"])["code"]
    assert call("POST", "/deliveries/{id}/verifications", verified["delivery_id"], {"code": code})[0] == 200
    keyed = http_event("POST", "/deliveries/{id}/verifications", verified["delivery_id"], {"code": code})
    keyed["headers"]["idempotency-key"] = "k-1"
    assert invoke("VerifyFunction", keyed)["statusCode"] == 409  # delivered already; the answer is stored
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert call("POST", "/deliveries/{id}/verifications", kept["delivery_id"], {"code": wrong})[0] == 403
    send_code_email(kept["delivery_id"], 1)
    clock.freeze(datetime.fromisoformat("2026-11-24T00:30:00+01:00"))
    assert service.rotate_due()["rotated"] >= 1

    operations = {operation for operation, _ in sent}
    expected = {
        "secrets-manager.GetSecretValue",
        "dynamodb.PutItem",
        "dynamodb.GetItem",
        "dynamodb.UpdateItem",
        "dynamodb.Query",
        "dynamodb.BatchGetItem",
        "ses.SendBulkTemplatedEmail",
    }
    assert expected <= operations, f"the scenario did not reach {expected - operations}"
    # Two registrations, the Idempotency-Key's record (Powertools' store, on our client too) and the
    # rotation's put (one due delivery: a plain conditional put, no transaction).
    assert [operation for operation, _ in sent].count("dynamodb.PutItem") == 4
    # Ours as botocore sends it; Powertools appends its own marker to every session's requests.
    assert all(user_agent.split(" PT/")[0] == USER_AGENT for _, user_agent in sent), sent
