"""No code, and no brute-forceable hash of one, is anywhere but in the email and the code view.

After a full run through the real handlers (registration, code view, wrong and right codes with and
without a courier, a courier blocked, a failed attempt, the nightly rotation, emails, cancel, every POST
with an Idempotency-Key), everything the product leaves behind is gathered: every item of every table
(the idempotency table included), every stream record, every queued message, every log line and
metric the functions wrote, and every integration event the publisher put on the bus (read back from
the queue its rule fills, signed receipts decoded). Then it is searched for each issued code, and for
md5, sha1 and sha256 of every one of the 10^6 possible codes, alone and prefixed with each delivery id,
in hex or base64. The events are also searched for every nonce, MAC, name, email address and postal
code the deliveries' items ever held.

The second rule: once a delivery's personal data is erased (on request, or by the rotation when due),
none of its names, addresses or postal code is left in any table item (idempotency records and the
suppression list included), any index, any queued message or any log line; and no log line ever held
a name or a postal code in the first place (logs cannot be erased later).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import sys
import uuid
from datetime import datetime
from typing import Any

import boto3
import pytest

from tests.support import factories
from tests.support.aws import REGION
from tests.support.lambdas import http_event, invoke

pytestmark = pytest.mark.xdist_group("secrecy")

_HEX = re.compile(rb"[0-9a-fA-F]{32,}")
_B64 = re.compile(rb"[A-Za-z0-9+/_-]{21,}={0,2}")
_DIGEST_SIZES = (16, 20, 32)  # md5, sha1, sha256


class _Capture(logging.Handler):
    """Every record as the function's formatter writes it, with anything passed as `extra`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{self.format(record)} {record.__dict__!r}")


def _post(function: str, route: str, delivery_id: str | None, body: Any, courier: str | None = None, method="POST"):
    event = http_event(method, route, delivery_id, body, {"idempotency-key": str(uuid.uuid4())})
    if courier:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": {"username": courier}, "scopes": ["verify"]}}
    response = invoke(function, event)
    return response["statusCode"], json.loads(response["body"])


def _get(function: str, route: str, delivery_id: str):
    response = invoke(function, http_event("GET", route, delivery_id))
    return response["statusCode"], json.loads(response["body"])


def _register(codes: dict[str, set[str]], **overrides: Any) -> str:
    body = factories.registration(**overrides)
    status, _ = _post("RegisterFunction", "/deliveries", None, body)
    assert status == 201
    _see_code(codes, body["delivery_id"])
    return body["delivery_id"]


def _see_code(codes: dict[str, set[str]], delivery_id: str) -> str | None:
    status, shown = _get("StorefrontFunction", "/deliveries/{id}/code", delivery_id)
    if status != 200:
        return None
    codes.setdefault(delivery_id, set()).add(shown["code"])
    return shown["code"]


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _drain_stream(stream_arn: str, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stream's records not yet seen, shaped as Lambda's event source hands them over."""
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    known = {record["dynamodb"]["SequenceNumber"] for record in seen}
    fresh = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            fresh += [r for r in page["Records"] if r["dynamodb"]["SequenceNumber"] not in known]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    seen.extend(fresh)
    return [{**r, "eventSourceARN": stream_arn} for r in json.loads(json.dumps(fresh, default=str))]


def _rotate_through_the_queue() -> None:
    """The planner's shard messages, each handled by the worker as the queue would hand it over."""
    assert invoke("RotationFunction", {"source": "aws.scheduler"})["shards_queued"] >= 1
    sqs = boto3.client("sqs", region_name=REGION)
    queue = os.environ["ROTATION_QUEUE_URL"]
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
        assert invoke("RotationWorkerFunction", {"Records": records}) == {"batchItemFailures": []}
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def _full_run(aws, clock, codes: dict[str, set[str]]) -> list[dict[str, Any]]:
    table_name = aws["DeliveriesTable"]["Ref"]
    stream_arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table_name)["Table"][
        "LatestStreamArn"
    ]
    seen: list[dict[str, Any]] = []
    _drain_stream(stream_arn, seen)  # earlier tests' records are not this run's

    def send_emails() -> None:
        records = _drain_stream(stream_arn, seen)
        assert invoke("EmailFunction", {"Records": records}) == {"batchItemFailures": []}

    verify = ("VerifyFunction", "/deliveries/{id}/verifications")
    delivered = _register(codes)
    requeued = _register(codes)
    american = _register(
        codes,
        destination={"country": "US", "subdivision": "US-NY", "timezone": "America/New_York"},
        order_value={"amount": "999.00", "currency": "USD"},
        recipient={"email": "sam@example.com", "locale": "en-US"},
    )
    send_emails()
    assign = ("StorefrontFunction", "/deliveries/{id}/courier")
    assert _post(*assign, delivered, {"courier_id": "c-1"}, method="PUT")[0] == 200

    [code] = codes[delivered]
    assert _post(*verify, delivered, {"code": _wrong(code), "device_id": "d-1"}, "c-1")[0] == 403
    assert _post(*verify, delivered, {"code": code, "device_id": "d-1"}, "c-1")[0] == 200
    for _ in range(5):
        assert _post(*verify, requeued, {"code": _wrong(next(iter(codes[requeued])))}, None)[0] == 403
    attempt = ("AttemptFunction", "/deliveries/{id}/attempts")
    assert _post(*attempt, requeued, {"outcome": "RECIPIENT_UNAVAILABLE"})[0] == 200

    # A courier guessing across parcels: 20 wrong codes, then 429 and a CourierBlocked metric.
    targets = [_register(codes) for _ in range(4)]
    for target in targets:
        for _ in range(5):
            assert _post(*verify, target, {"code": _wrong(next(iter(codes[target])))}, "c-thief")[0] == 403
    assert _post(*verify, american, {"code": next(iter(codes[american]))}, "c-thief")[0] == 429

    clock.freeze(datetime.fromisoformat("2026-11-24T07:00:00+01:00"))
    _rotate_through_the_queue()
    send_emails()
    renewed = _see_code(codes, requeued)
    assert renewed is not None and len(codes[requeued]) >= 1
    assert _post(*verify, requeued, {"code": renewed}, None)[0] == 200
    # The customer's controls: a resend, a replaced code, a new day (each a new code to find).
    controls = _register(codes, delivery_date="2026-11-24")
    assert _post("StorefrontFunction", "/deliveries/{id}/code/resend", controls, {})[0] == 200
    assert _post("StorefrontFunction", "/deliveries/{id}/code/rotate", controls, {})[0] == 200
    _see_code(codes, controls)
    moved = _post(
        "StorefrontFunction", "/deliveries/{id}/schedule", controls, {"delivery_date": "2026-11-26"}, method="PUT"
    )
    assert moved[0] == 200
    _see_code(codes, controls)
    # Delegates: each gets a code of their own (by email); one is revoked, the other opens the parcel.
    delegates = ("StorefrontFunction", "/deliveries/{id}/delegates")
    for person in ("neighbour", "colleague"):
        assert _post(*delegates, controls, {"name": person, "email": f"{person}@example.com"})[0] == 201
    send_emails()
    kept, revoked = _delegate_codes(controls)
    codes[controls] |= {kept, revoked}
    revoke = http_event("DELETE", "/deliveries/{id}/delegates/{delegate_id}", controls, params={"delegate_id": "dlg-2"})
    assert invoke("StorefrontFunction", revoke)["statusCode"] == 200
    assert _post(*verify, controls, {"code": revoked}, None)[0] == 403
    clock.freeze(datetime.fromisoformat("2026-11-26T09:00:00+01:00"))
    assert _post(*verify, controls, {"code": kept, "device_id": "d-3"}, None)[0] == 200
    assert _get("StorefrontFunction", "/deliveries/{id}/receipt", controls)[0] == 200
    send_emails()
    assert _get("StorefrontFunction", "/deliveries/{id}/receipt", requeued)[0] == 200
    assert _post("StorefrontFunction", "/deliveries/{id}/cancel", american, {})[0] == 200
    paged = _use_the_page(codes, send_emails)
    for delivery_id in [delivered, requeued, american, controls, paged, *targets]:
        assert _get("StorefrontFunction", "/deliveries/{id}/events", delivery_id)[0] == 200
    return seen


def _page(method: str, token: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    from urllib.parse import urlencode

    event = {
        "routeKey": f"{method} /r/{{token}}",
        "rawPath": f"/r/{token}",
        "rawQueryString": "",
        "headers": {"accept-language": "it"},
        "pathParameters": {"token": token},
        "body": urlencode(form) if form else None,
        "isBase64Encoded": False,
    }
    return invoke("RecipientPageFunction", event)


def _use_the_page(codes: dict[str, set[str]], send_emails: Any) -> str:
    """The recipient's and a delegate's pages: looked at, the codes shown, a resend, a delegate's code
    taken back and the recipient's code replaced (a new link), each through the page's own function."""
    from delivery_otp import links
    from delivery_otp.wiring import adapters

    key = adapters().keys.key()
    paged = _register(codes, delivery_date="2026-11-26")
    for person in ("friend", "sister"):
        body = {"name": person, "email": f"{person}@example.com"}
        assert _post("StorefrontFunction", "/deliveries/{id}/delegates", paged, body)[0] == 201
    send_emails()
    item = adapters().deliveries.get(paged)
    recipient = links.token(key, paged, "recipient", item.link_salt)
    friend = links.token(key, paged, "dlg-1", links.salt_of(item, "dlg-1"))
    for token in (recipient, friend):
        csrf = links.csrf_token(key, token)
        assert _page("GET", token)["statusCode"] == 200
        assert _page("POST", token, {"action": "show", "csrf": csrf})["statusCode"] == 200
    csrf = links.csrf_token(key, recipient)
    for action, extra in (("resend", {}), ("revoke", {"delegate_id": "dlg-2"}), ("replace", {})):
        assert _page("POST", recipient, {"action": action, "csrf": csrf, **extra})["statusCode"] == 303
    _see_code(codes, paged)
    codes[paged] |= set(_delegate_codes(paged))
    send_emails()
    assert _page("GET", recipient)["statusCode"] == 404  # replaced: the old link is dead
    return paged


def _link_tokens(records: list[dict[str, Any]]) -> set[str]:
    """Every page link token the deliveries' salts ever made (recipient's and delegates')."""
    from delivery_otp import links
    from delivery_otp.wiring import adapters

    key = adapters().keys.key()
    tokens = set()
    for record in records:
        for image in (record["dynamodb"].get("NewImage"), record["dynamodb"].get("OldImage")):
            if not image or not image["pk"]["S"].startswith("D#"):
                continue
            delivery_id = image["delivery_id"]["S"]
            if "link_salt" in image:
                tokens.add(links.token(key, delivery_id, "recipient", image["link_salt"]["S"]))
            for who, delegate in image.get("delegates", {}).get("M", {}).items():
                if "link_salt" in delegate["M"]:
                    tokens.add(links.token(key, delivery_id, who, delegate["M"]["link_salt"]["S"]))
    return tokens


def _publish_events(aws, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every stream record through the event publisher onto the bus; what the bus's rule queued, each
    event with the claims of a signed receipt decoded beside it."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue = aws["WebhookEventsQueue"]["Ref"]
    while old := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in old:  # earlier tests' events
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert invoke("EventPublisherFunction", {"Records": records}) == {"batchItemFailures": []}
    events = []
    while got := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in got:
            event = json.loads(message["Body"])
            receipt = event["detail"]["data"].get("receipt")
            if receipt:
                payload = receipt.split(".")[1]
                event["receipt_claims"] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            events.append(event)
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return events


def _personal_and_secret_values(records: list[dict[str, Any]]) -> set[str]:
    """Every nonce, MAC, name, email address and postal code the deliveries' images ever held."""
    found: set[str] = set()

    def take(attribute: dict[str, Any] | None) -> None:
        if attribute and "S" in attribute:
            found.add(attribute["S"])

    for record in records:
        for image in (record["dynamodb"].get("NewImage"), record["dynamodb"].get("OldImage")):
            if not image or not image["pk"]["S"].startswith("D#"):
                continue
            for name in ("code_nonce", "code_mac", "email", "recipient_name", "postal_code", "link_salt"):
                take(image.get(name))
            found.update(image.get("delegate_macs", {}).get("M", {}))
            for delegate in image.get("delegates", {}).get("M", {}).values():
                take(delegate["M"].get("name"))
                take(delegate["M"].get("email"))
                take(delegate["M"].get("link_salt"))
    return found


def _delegate_codes(delivery_id: str) -> tuple[str, ...]:
    """The delegates' codes, derived as the email sender derives them (the mailbox is not searched)."""
    from delivery_otp import codes as derivation
    from delivery_otp.wiring import adapters

    item = adapters().deliveries.get(delivery_id)
    every = derivation.delegate_codes(
        adapters().keys.key(), delivery_id, int(item.issue_number), item.code_nonce, int(item.delegate_count)
    )
    return tuple(every[who] for who in sorted(every))


def _haystack(aws, stream_records: list[dict[str, Any]], logs: list[str], printed: str) -> bytes:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    parts: list[str] = []
    for name in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=name):
            parts += [repr(item) for item in page["Items"]]
    parts += [repr(record) for record in stream_records]
    sqs = boto3.client("sqs", region_name=REGION)
    for url in sqs.list_queues().get("QueueUrls", []):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        parts += [repr(message) for message in got.get("Messages", [])]
    parts += logs
    parts.append(printed)
    return "\n".join(parts).encode()


def _digest_candidates(haystack: bytes) -> set[bytes]:
    """Every byte string of a digest's length that the haystack spells in hex or base64."""
    found: set[bytes] = set()
    for run in _HEX.findall(haystack):
        for size in _DIGEST_SIZES:
            width = 2 * size
            for start in range(0, len(run) - width + 1):
                found.add(bytes.fromhex(run[start : start + width].decode()))
    for run in _B64.findall(haystack):
        text = run.rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
        for start in range(0, max(len(text) - 20, 1), 4):
            chunk = text[start:]
            chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk
            try:
                raw = base64.b64decode(chunk + b"=" * (-len(chunk) % 4))
            except binascii.Error:
                continue
            for size in _DIGEST_SIZES:
                for offset in range(0, max(len(raw) - size + 1, 0), 3):
                    found.add(raw[offset : offset + size])
    return found


def _hashed_codes_in(candidates: set[bytes], prefixes: list[bytes]) -> list[str]:
    md5, sha1, sha256 = hashlib.md5, hashlib.sha1, hashlib.sha256
    every_code = [b"%06d" % n for n in range(10**6)]
    hits = []
    for prefix in prefixes:
        for code in every_code:
            text = prefix + code
            if md5(text).digest() in candidates or sha1(text).digest() in candidates:
                hits.append(text.decode())
            elif sha256(text).digest() in candidates:
                hits.append(text.decode())
    return hits


def test_no_code_nor_a_hash_of_one_is_left_anywhere(aws, clock, capsys):
    capture = _Capture()
    from delivery_otp.observability import logger

    capture.setFormatter(logger.registered_formatter)
    watched = [logging.getLogger(), logging.getLogger(logger.name)]
    for watched_logger in watched:
        watched_logger.addHandler(capture)
    codes: dict[str, set[str]] = {}
    try:
        stream_records = _full_run(aws, clock, codes)
        bus = _publish_events(aws, stream_records)
    finally:
        for watched_logger in watched:
            watched_logger.removeHandler(capture)
    printed = capsys.readouterr().out

    haystack = _haystack(aws, stream_records, capture.lines, printed) + b"\n" + json.dumps(bus).encode()
    issued = sorted({code for seen in codes.values() for code in seen})
    assert len(issued) >= 8 and len(stream_records) >= 10 and capture.lines and "CourierBlocked" in printed
    kinds = {event["detail"]["type"] for event in bus}
    assert {"delivery.wrong_code", "delivery.locked", "delivery.delivered", "courier.blocked"} <= kinds
    # Three of this run's deliveries were handed over. After other tests in the same process the stream
    # tail (moto's LATEST iterator) can hand back their earlier records too: more to search, never less.
    handed_over = {e["detail"]["id"] for e in bus if "receipt_claims" in e and e["detail"]["subject"] in codes}
    assert len(handed_over) == 3
    on_the_bus = json.dumps(bus, ensure_ascii=False)
    private = _personal_and_secret_values(stream_records)
    assert len(private) >= 20 and {"neighbour", "neighbour@example.com", "sam@example.com"} <= private
    assert sorted(value for value in private if value in on_the_bus) == []
    assert "aws_xray_sdk" not in sys.modules, "a tracer would record subsegments: search them too"

    for code in issued:
        around = re.search(rb"(?<![0-9])" + code.encode() + rb"(?![0-9])", haystack)
        assert around is None, f"code found: ...{haystack[around.start() - 80 : around.end() + 80]!r}..."

    # Page links: no token anywhere (the table keeps only its SHA-256, which is fine), nor on the bus.
    tokens = _link_tokens(stream_records)
    assert len(tokens) >= 4
    from delivery_otp import links

    assert any(links.token_hash(token).encode() in haystack for token in tokens)  # the lookups are there
    assert sorted(token for token in tokens if token.encode() in haystack or token in on_the_bus) == []

    candidates = _digest_candidates(haystack)
    assert len(candidates) > 100  # the MACs, nonces and ids are there: the search does see encoded bytes
    prefixes = [b""] + [delivery_id.encode() for delivery_id in sorted(codes)]
    assert _hashed_codes_in(candidates, prefixes) == []


def test_the_digest_search_finds_what_it_looks_for():
    """The searcher itself: a sha1 in hex and a prefixed md5 in base64 are both found."""
    planted = (
        b'{"x": "'
        + hashlib.sha1(b"004217").hexdigest().encode()
        + b'", "y": "'
        + base64.b64encode(hashlib.md5(b"IT-1004217").digest())
        + b'"}'
    )
    candidates = _digest_candidates(planted)
    assert _hashed_codes_in(candidates, [b"", b"IT-1"]) == ["004217", "IT-1004217"]


# --- the second rule: once erased, a delivery's personal data is nowhere we keep ---------------------


def _bounce(delivery_id: str, address: str) -> dict[str, Any]:
    """The sample SES bounce, for this delivery (its tag) and this address."""
    from tests.support.lambdas import EVENTS

    event = json.loads((EVENTS / "ses_bounce.json").read_text())
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message["mail"]["destination"] = [address]
    message["mail"]["tags"]["delivery"] = [delivery_id.encode().hex()]
    message["bounce"]["bouncedRecipients"][0]["emailAddress"] = address
    message["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = f"smtp; 550 5.1.1 <{address}> user unknown"
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def _person(tag: str) -> dict[str, str]:
    """Values nobody else in the tables holds: finding one anywhere means it was kept."""
    unique = uuid.uuid4().hex[:10]
    return {"name": f"{tag} Sweep{unique}", "email": f"{tag}.{unique}@example.com", "postal": f"Z{unique}"}


def _erasure_run(aws, clock) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Deliveries whose personal data went everywhere a request can take it, then erased: one on request,
    one by the rotation once due. Returns (the erased people, a person whose delivery is still open)."""
    from datetime import timedelta

    from delivery_otp.config import settings

    table_name = aws["DeliveriesTable"]["Ref"]
    stream_arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table_name)["Table"][
        "LatestStreamArn"
    ]
    seen: list[dict[str, Any]] = []
    _drain_stream(stream_arn, seen)

    def send_emails() -> None:
        assert invoke("EmailFunction", {"Records": _drain_stream(stream_arn, seen)}) == {"batchItemFailures": []}

    def registered(person: dict[str, str]) -> str:
        body = factories.registration(
            recipient={"name": person["name"], "email": person["email"], "locale": "it"},
            destination__postal_code=person["postal"],
        )
        assert _post("RegisterFunction", "/deliveries", None, body)[0] == 201
        return body["delivery_id"]

    store = "StorefrontFunction"
    erased_people, kept = [], _person("kept")
    registered(kept)
    on_request, by_rotation = _person("asked"), _person("due")
    helpers = [_person("neighbour"), _person("colleague")]
    asked, due = registered(on_request), registered(by_rotation)
    for helper in helpers:  # the answers stored for these requests name the delegates
        body = {"name": helper["name"], "email": helper["email"]}
        assert _post(store, "/deliveries/{id}/delegates", asked, body)[0] == 201
    assert _post(store, "/deliveries/{id}/code/resend", asked, {})[0] == 200
    send_emails()
    assert invoke("BounceFunction", _bounce(asked, on_request["email"]))["marked"] == 1
    assert _post(store, "/deliveries/{id}/cancel", asked, {})[0] == 200
    code = _see_code({}, due)
    assert code is not None
    verify = ("VerifyFunction", "/deliveries/{id}/verifications")
    assert _post(*verify, due, {"code": code, "device_id": "d-1"}, "c-1")[0] == 200
    send_emails()

    erase = http_event("DELETE", "/deliveries/{id}/personal-data", asked)
    assert invoke(store, erase)["statusCode"] == 200
    clock.freeze(clock.now() + timedelta(days=settings().personal_data_retention_days, hours=1))
    _rotate_through_the_queue()
    assert _get(store, "/deliveries/{id}", due)[1]["personal_data_erased"] is True
    # What the erasures changed reaches the email sender too: it mails nobody.
    send_emails()
    erased_people += [on_request, by_rotation, *helpers]
    return erased_people, [kept]


def _everywhere_we_keep(aws, logs: list[str], printed: str) -> str:
    """Every item of every table and of the rotation's index, every queued message, every log line."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    parts = [_haystack(aws, [], logs, printed).decode()]
    for name in dynamodb.list_tables()["TableNames"]:
        for index in dynamodb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", []):
            for page in dynamodb.get_paginator("scan").paginate(TableName=name, IndexName=index["IndexName"]):
                parts += [repr(item) for item in page["Items"]]
    return "\n".join(parts).casefold()


def test_after_erasure_the_erased_values_are_nowhere_we_keep_and_no_log_ever_held_them(aws, clock, capsys):
    capture = _Capture()
    from delivery_otp.observability import logger

    capture.setFormatter(logger.registered_formatter)
    watched = [logging.getLogger(), logging.getLogger(logger.name)]
    for watched_logger in watched:
        watched_logger.addHandler(capture)
    try:
        erased, kept = _erasure_run(aws, clock)
    finally:
        for watched_logger in watched:
            watched_logger.removeHandler(capture)
    printed = capsys.readouterr().out
    logged = "\n".join(capture.lines).casefold()
    haystack = _everywhere_we_keep(aws, capture.lines, printed)

    # No log line ever held a name, an address or a postal code, erased or not.
    assert capture.lines and "personal data erased" in logged
    for person in [*erased, *kept]:
        assert [value for value in person.values() if value.casefold() in logged] == []
    # What was erased is nowhere; what was not is still there (the search sees the table).
    for person in erased:
        assert [value for value in person.values() if value.casefold() in haystack] == []
    assert all(value.casefold() in haystack for person in kept for value in person.values())


def test_no_webhook_secret_is_left_anywhere(aws, clock, capsys):
    """Webhook secrets are derived, never kept: after registrations, rotations, Idempotency-Key replays,
    test events, sends, retries and dead letters, nothing the product leaves behind (table, stream,
    queues, idempotency records, logs) holds a secret, in its `whsec_` form, as base64 or as hex; nor
    any receiver's answer."""
    from datetime import timedelta

    from delivery_otp import wiring
    from delivery_otp.observability import logger

    from tests.support.receivers import RESPONSE_BODY_MARK, receiver

    store = wiring.adapters().webhooks
    for endpoint in store.endpoints():
        store.remove(endpoint["id"])
    table_name = aws["DeliveriesTable"]["Ref"]
    stream_arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table_name)["Table"][
        "LatestStreamArn"
    ]
    seen: list[dict[str, Any]] = []
    _drain_stream(stream_arn, seen)
    capture = _Capture()
    capture.setFormatter(logger.registered_formatter)
    watched = [logging.getLogger(), logging.getLogger(logger.name)]
    for watched_logger in watched:
        watched_logger.addHandler(capture)
    secrets: list[str] = []

    def post(route: str, endpoint_id: str | None, body: Any, key: str | None = None) -> dict[str, Any]:
        headers = {"idempotency-key": key} if key else None
        event = http_event("POST", route, endpoint_id, body, headers)
        response = invoke("StorefrontFunction", event)
        assert 200 <= response["statusCode"] < 300, response
        return json.loads(response["body"])

    def dispatch_all() -> None:
        sqs = boto3.client("sqs", region_name=REGION)
        queue = aws["WebhookDeliveryQueue"]["Ref"]
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                invoke("WebhookDispatchFunction", {"Records": [{"messageId": m["MessageId"], "body": m["Body"]}]})
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

    try:
        with receiver("fail") as failing, receiver() as fine:
            key = str(uuid.uuid4())
            created = post("/webhooks", None, {"url": failing.url}, key)
            assert post("/webhooks", None, {"url": failing.url}, key) == created  # a replay, derived again
            other = post("/webhooks", None, {"url": fine.url})
            secrets += [created["secret"], other["secret"]]
            rotate_key = str(uuid.uuid4())
            rotated = post("/webhooks/{id}/secret/rotate", created["id"], {"keep_old_seconds": 600}, rotate_key)
            assert post("/webhooks/{id}/secret/rotate", created["id"], {"keep_old_seconds": 600}, rotate_key) == rotated
            secrets += [rotated["secret"], post("/webhooks/{id}/secret/rotate", other["id"], {})["secret"]]
            for endpoint in (created, other):
                post("/webhooks/{id}/test", endpoint["id"], {}, str(uuid.uuid4()))
            event = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": "delivery.delivered", "data": {}}
            envelope = {"detail-type": event["type"], "source": "delivery-otp", "detail": event}
            invoke("WebhookFanoutFunction", {"Records": [{"messageId": "m1", "body": json.dumps(envelope)}]})
            dispatch_all()
            for wait in [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]:
                clock.freeze(clock.now() + wait)
                invoke("WebhookRetryFunction", {})
                dispatch_all()
            assert len(failing.received) >= 5 and fine.received
    finally:
        for watched_logger in watched:
            watched_logger.removeHandler(capture)
    stream_records = _drain_stream(stream_arn, seen)
    haystack = _haystack(aws, stream_records, capture.lines, capsys.readouterr().out)
    assert b"W#endpoints" in haystack and b"W#retry#" in haystack and b"W#log#" in haystack  # the search sees them

    assert len(set(secrets)) == 4
    for secret in secrets:
        raw = base64.b64decode(secret.removeprefix("whsec_"))
        for spelling in (secret, secret.removeprefix("whsec_"), raw.hex(), base64.urlsafe_b64encode(raw).decode()):
            assert spelling.encode() not in haystack, f"a webhook secret is stored ({spelling[:12]}...)"
        assert raw not in _digest_candidates(haystack)
    assert RESPONSE_BODY_MARK.encode() not in haystack
