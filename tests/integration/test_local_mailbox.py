"""The local mailbox reads a moto running in this process directly, SES alone: the same messages its
`/moto-api/data.json` dump gives, without serialising every table item and queue message for them."""

from __future__ import annotations

import json

import boto3
import requests

from local import mailbox
from tests.support.aws import REGION


def _send(aws, address: str, subject: str) -> None:
    ses = boto3.client("ses", region_name=REGION)
    ses.verify_email_identity(EmailAddress="codes@example.com")
    template = aws["CodeEmailTemplate"]["Ref"]
    data = {"subject": subject, "text": "hello <b>", "html": "<p>hello</p>", "sent_at": "2026-11-23T09:00:00+01:00"}
    ses.send_bulk_templated_email(
        Source="codes@example.com",
        Template=template,
        DefaultTemplateData="{}",
        Destinations=[{"Destination": {"ToAddresses": [address]}, "ReplacementTemplateData": json.dumps(data)}],
    )
    ses.send_email(
        Source="codes@example.com",
        Destination={"ToAddresses": [address]},
        Message={"Subject": {"Data": f"plain {subject}"}, "Body": {"Text": {"Data": "plain body"}}},
    )


def test_the_in_process_read_is_what_the_dump_shows_and_needs_no_dump(aws, monkeypatch):
    endpoint = aws["endpoint"]["Ref"]
    _send(aws, "reader@example.com", "first")
    _send(aws, "other@example.com", "second")
    dumped = requests.get(f"{endpoint}/moto-api/data.json", timeout=30).json()["ses"]

    assert mailbox._ses_state(endpoint) == dumped

    def no_dump(*args, **kwargs):
        raise AssertionError("the whole moto state was dumped for the mailbox")

    monkeypatch.setattr(requests, "get", no_dump)
    mails = mailbox.read(endpoint, "Reader@example.com")
    assert [m["subject"] for m in mails][-2:] == ["first", "plain first"]
    assert all(m["to"] == "reader@example.com" for m in mails)


def test_a_moto_elsewhere_is_read_through_its_dump(monkeypatch):
    asked = []

    class _Answer:
        def json(self):
            return {"ses": {"Message": []}}

    def dump(url, timeout):
        asked.append(url)
        return _Answer()

    monkeypatch.setattr(requests, "get", dump)
    assert mailbox.read("http://127.0.0.1:1", None) == []
    assert asked == ["http://127.0.0.1:1/moto-api/data.json"]
