"""When DynamoDB, SES or the secret store cannot be reached, the answer is 503 and nothing changes:
never a success, never a consumed or unlocked code, never an internal detail in the answer."""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import datetime

import pytest
from botocore.exceptions import EndpointConnectionError
from delivery_otp import reads, rotation, wiring
from delivery_otp.adapters.deliveries import DeliveryRepository
from delivery_otp.adapters.suppression import SuppressionList
from delivery_otp.adapters.table import Table
from delivery_otp.errors import DependencyUnavailable
from delivery_otp.notifications import send_code_email

from tests.support import factories
from tests.support.lambdas import call, invoke


class UnreachableKeys:
    def key(self) -> bytes:
        raise DependencyUnavailable("the code key is unavailable")


@contextmanager
def dynamodb_down(*operations: str):
    """Every named DynamoDB operation fails as if the endpoint were unreachable."""
    events = wiring.adapters().deliveries.client.meta.events

    def unreachable(**_):
        raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-south-1.amazonaws.com")

    for operation in operations:
        events.register(f"before-call.dynamodb.{operation}", unreachable)
    try:
        yield
    finally:
        for operation in operations:
            events.unregister(f"before-call.dynamodb.{operation}", unreachable)


def raw_item(table, delivery_id):
    return table.get_item(Key={"pk": f"D#{delivery_id}"}, ConsistentRead=True).get("Item")


def assert_clean_503(status, body):
    assert status == 503
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    text = json.dumps(body)
    for leak in ["Traceback", "botocore", "amazonaws", "Endpoint", 'File "']:
        assert leak not in text


def registered(table):
    body = factories.registration()
    call("POST", "/deliveries", body=body)
    delivery_id = body["delivery_id"]
    return delivery_id, reads.current_code(delivery_id)["code"], raw_item(table, delivery_id)


def test_registration_without_the_secret_or_the_table_writes_nothing(clock, table):
    body = factories.registration()
    wiring.override(keys=UnreachableKeys())
    assert_clean_503(*call("POST", "/deliveries", body=body)[::2])
    wiring.reset()
    wiring.override(clock=clock)
    # The item and its page link's lookup item are one transaction (a plain put without a code).
    with dynamodb_down("PutItem", "TransactWriteItems"):
        assert_clean_503(*call("POST", "/deliveries", body=body)[::2])
    assert raw_item(table, body["delivery_id"]) is None
    assert call("POST", "/deliveries", body=body)[0] == 201


def test_a_store_client_that_cannot_be_made_is_a_503(clock, table, monkeypatch):
    delivery_id, code, before = registered(table)
    endpoint = wiring.adapters().deliveries.client.meta.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "no endpoint at all")  # botocore refuses to make the client
    wiring.reset()
    wiring.override(clock=clock)
    assert_clean_503(*call("POST", "/deliveries/{id}/verifications", delivery_id, {"code": code})[::2])
    assert_clean_503(*call("POST", "/deliveries", body=factories.registration())[::2])
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    wiring.reset()
    wiring.override(clock=clock)
    assert raw_item(table, delivery_id) == before
    assert call("POST", "/deliveries/{id}/verifications", delivery_id, {"code": code})[0] == 200


@pytest.mark.parametrize("operations", [("TransactWriteItems", "UpdateItem"), ("UpdateItem",), ("GetItem",)])
def test_verification_fails_closed_at_each_step(clock, table, operations):
    delivery_id, code, before = registered(table)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with dynamodb_down(*operations):
        for candidate in [code, wrong]:
            status, _, body = call("POST", "/deliveries/{id}/verifications", delivery_id, {"code": candidate})
            if operations == ("GetItem",):
                continue  # the right code needs no read; checked below that nothing broke
            assert_clean_503(status, body)
    after = raw_item(table, delivery_id)
    if operations != ("GetItem",):
        assert after == before
    assert call("POST", "/deliveries/{id}/verifications", delivery_id, {"code": code})[0] in (200, 409)


def test_verification_without_the_secret_changes_nothing(clock, table):
    delivery_id, code, before = registered(table)
    wiring.override(keys=UnreachableKeys())
    assert_clean_503(*call("POST", "/deliveries/{id}/verifications", delivery_id, {"code": code})[::2])
    assert_clean_503(*call("GET", "/deliveries/{id}/code", delivery_id)[::2])
    assert raw_item(table, delivery_id) == before


def test_cancel_attempt_and_rotation_fail_closed(clock, table):
    delivery_id, _, before = registered(table)
    with dynamodb_down("UpdateItem"):
        assert_clean_503(*call("POST", "/deliveries/{id}/cancel", delivery_id)[::2])
        assert_clean_503(*call("POST", "/deliveries/{id}/attempts", delivery_id, {"outcome": "ACCESS_PROBLEM"})[::2])
    clock.freeze(datetime.fromisoformat("2026-11-24T00:30:00+01:00"))
    with dynamodb_down("PutItem", "TransactWriteItems"):
        with pytest.raises(DependencyUnavailable):
            rotation.rotate_all()
        # The shard's worker reports its message as failed, so the queue retries that shard alone.
        shard = {"messageId": "m-1", "body": json.dumps({"shard": "00", "now": clock.now().isoformat()})}
        other = {"messageId": "m-2", "body": json.dumps({"shard": "01", "now": clock.now().isoformat()})}
        with dynamodb_down("Query"):
            result = invoke("RotationWorkerFunction", {"Records": [shard, other]})
        assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    assert raw_item(table, delivery_id) == before


def test_an_email_that_cannot_be_sent_is_retried_not_lost(clock, table):
    delivery_id, _, before = registered(table)
    mailer = wiring.adapters().mailer
    events = mailer._ses().meta.events

    def unreachable(**_):
        raise EndpointConnectionError(endpoint_url="https://email.eu-south-1.amazonaws.com")

    events.register("before-call.ses.SendBulkTemplatedEmail", unreachable)
    try:
        with pytest.raises(DependencyUnavailable):
            send_code_email(delivery_id, 1)
        record = factories.new_code_record(delivery_id, 100)
        # SES unreachable: the invocation fails, so Lambda retries the batch (then bisects and parks it
        # in the dead-letter queue); a batch SES took in part reports the records it did not take.
        with pytest.raises(DependencyUnavailable):
            invoke("EmailFunction", {"Records": [record]})
    finally:
        events.unregister("before-call.ses.SendBulkTemplatedEmail", unreachable)
    assert raw_item(table, delivery_id)["emailed_issue"] == 0
    assert send_code_email(delivery_id, 1) is True  # the retry sends it


def test_a_recipient_ses_refused_is_reported_alone_and_the_others_are_marked_sent(clock, table):
    first, _, _ = registered(table)
    second, _, _ = registered(table)
    events = wiring.adapters().mailer._ses().meta.events

    class _Http:
        status_code = 200

    def second_refused(params, **_):
        # The query-protocol body: Destinations.member.N.ReplacementTemplateData, in order.
        body = params["body"]
        keys = [k for k in body if k.endswith(".ReplacementTemplateData")]
        data = [body[k] for k in sorted(keys, key=lambda k: int(k.split(".")[2]))]
        statuses = [{"Status": "Success", "MessageId": "m-1"} if first in d else {"Status": "Failed"} for d in data]
        return _Http(), {"Status": statuses}

    records = [factories.new_code_record(d, 100 + n) for n, d in enumerate([first, second])]
    events.register("before-call.ses.SendBulkTemplatedEmail", second_refused)
    try:
        result = invoke("EmailFunction", {"Records": records})
    finally:
        events.unregister("before-call.ses.SendBulkTemplatedEmail", second_refused)
    assert result == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert raw_item(table, first)["emailed_issue"] == 1
    assert raw_item(table, second)["emailed_issue"] == 0


class ThrottledBatchReads:
    """The store's real client, except that BatchGetItem leaves every key starting with `prefix`
    unprocessed, as a table does for as long as it throttles. `batch_reads` counts the calls that asked
    for such keys."""

    def __init__(self, client, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self.batch_reads = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems):
        response = self._client.batch_get_item(RequestItems=RequestItems)
        for table_name, request in RequestItems.items():
            held = [key for key in request["Keys"] if key["pk"]["S"].startswith(self._prefix)]
            if held:
                self.batch_reads += 1
                answered = response["Responses"].get(table_name, [])
                response["Responses"][table_name] = [i for i in answered if not i["pk"]["S"].startswith(self._prefix)]
                response.setdefault("UnprocessedKeys", {})[table_name] = {**request, "Keys": held}
        return response


def throttled_table(table, prefix: str) -> tuple[Table, ThrottledBatchReads, list[float]]:
    """The table, except that its batch reads of `prefix` keys stay unprocessed; and the pauses it asked for."""
    pauses: list[float] = []
    throttled = Table(table.name, sleep=pauses.append)
    client = ThrottledBatchReads(wiring.adapters().table.client, prefix)
    throttled._client = client
    return throttled, client, pauses


def assert_backed_off(client: ThrottledBatchReads, pauses: list[float]) -> None:
    assert client.batch_reads > 1, "asked again for the keys left unprocessed"
    assert len(pauses) == client.batch_reads - 1, "a pause before each repeated read"
    assert pauses[0] > 0 and pauses == sorted(pauses) and pauses[-1] > pauses[0], "pauses that grow"


@pytest.mark.parametrize(
    ("prefix", "read"),
    [
        (
            "S#",
            lambda throttled: SuppressionList(throttled, wiring.adapters().keys).suppressed(["bounced@example.com"]),
        ),
        ("D#", lambda throttled: DeliveryRepository(throttled).get_many(["IT-1"])),
    ],
    ids=["suppressed", "get_many"],
)
def test_a_batch_read_the_table_keeps_unprocessed_backs_off_then_fails_closed(clock, table, prefix, read):
    # Given a table that keeps throttling the keys asked for
    throttled, client, pauses = throttled_table(table, prefix)
    # When they are read, Then the read fails instead of answering in part, after growing pauses
    with pytest.raises(DependencyUnavailable):
        read(throttled)
    assert_backed_off(client, pauses)


def test_a_suppression_lookup_left_unprocessed_mails_no_bounced_address_and_the_batch_is_retried(
    clock, table, sent_mail
):
    # Given an address that bounced, and a new delivery to it whose code is still to be emailed
    address = f"bounced-{uuid.uuid4().hex[:8]}@example.com"
    wiring.adapters().suppression.suppress(address, "Permanent", clock.now().isoformat())
    body = factories.registration(recipient={"email": address, "locale": "it"})
    assert call("POST", "/deliveries", body=body)[0] == 201
    delivery_id = body["delivery_id"]
    record = factories.new_code_record(delivery_id, 300)
    # When the stream's email consumer runs while the table keeps the suppression keys unprocessed
    throttled, client, pauses = throttled_table(table, "S#")
    wiring.override(suppression=SuppressionList(throttled, wiring.adapters().keys))
    with pytest.raises(DependencyUnavailable):
        invoke("EmailFunction", {"Records": [record]})
    # Then nothing is sent or marked: the invocation fails, so Lambda retries the whole batch
    assert_backed_off(client, pauses)
    assert sent_mail(address) == []
    assert raw_item(table, delivery_id)["emailed_issue"] == 0
    # and once the table answers again, the retried batch finds the address suppressed and skips it
    wiring.reset()
    wiring.override(clock=clock)
    assert invoke("EmailFunction", {"Records": [record]}) == {"batchItemFailures": []}
    assert sent_mail(address) == []
