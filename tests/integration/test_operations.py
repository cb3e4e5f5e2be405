"""The runbook's commands: `make redrive` (a dead-letter queue back to its source queue) and
`make resend-emails` (the email stream re-driven from the table's state)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime

import boto3
import pytest
from botocore.stub import Stubber
from delivery_otp import issuing, notifications, registration

from scripts import redrive, resend_owed_emails
from tests.support import factories
from tests.support.aws import REGION

DLQ_URL = "https://sqs.eu-south-1.amazonaws.com/123456789012/delivery-otp-prod-RotationDeadLetterQueue-AbC"
DLQ_ARN = "arn:aws:sqs:eu-south-1:123456789012:delivery-otp-prod-RotationDeadLetterQueue-AbC"


def _offline(service: str):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url="https://offline.invalid",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


# --- make redrive in AWS: the request SQS gets -------------------------------------------------------------


def test_redrive_starts_a_move_task_from_the_dead_letter_queue_back_to_its_sources():
    sqs = _offline("sqs")
    with Stubber(sqs) as stub:
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": DLQ_ARN}},
            {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]},
        )
        # No DestinationArn: SQS sends each message back to the queue whose redrive policy parked it.
        stub.add_response("start_message_move_task", {"TaskHandle": "task-1"}, {"SourceArn": DLQ_ARN})
        assert redrive.start_move_task(sqs, DLQ_URL) == {"SourceArn": DLQ_ARN, "TaskHandle": "task-1"}
        stub.assert_no_pending_responses()


def test_redrive_can_be_paced():
    sqs = _offline("sqs")
    with Stubber(sqs) as stub:
        stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}})
        stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "task-2"},
            {"SourceArn": DLQ_ARN, "MaxNumberOfMessagesPerSecond": 5},
        )
        redrive.start_move_task(sqs, DLQ_URL, max_per_second=5)
        stub.assert_no_pending_responses()


def test_redrive_finds_the_stacks_queue_by_its_logical_id():
    cloudformation = _offline("cloudformation")
    with Stubber(cloudformation) as stub:
        stub.add_response(
            "describe_stack_resource",
            {
                "StackResourceDetail": {
                    "LogicalResourceId": "RotationDeadLetterQueue",
                    "PhysicalResourceId": DLQ_URL,
                    "ResourceType": "AWS::SQS::Queue",
                    "LastUpdatedTimestamp": datetime(2026, 12, 1),
                    "ResourceStatus": "CREATE_COMPLETE",
                }
            },
            {"StackName": "delivery-otp-prod", "LogicalResourceId": "RotationDeadLetterQueue"},
        )
        assert redrive.queue_url("RotationDeadLetterQueue", "delivery-otp-prod", cloudformation) == DLQ_URL
    assert redrive.queue_url(DLQ_URL, "ignored", None) == DLQ_URL


def test_redrive_refuses_a_queue_no_redrive_policy_fills():
    # The email dead letters name stream records, not messages of a queue: they are re-driven from the table.
    with pytest.raises(SystemExit, match="runbook"):
        redrive.queue_url("EmailDeadLetterQueue", "delivery-otp-prod", None)
    sources = redrive.redrive_sources()
    assert sources["RotationDeadLetterQueue"] == "RotationQueue"
    assert "EmailDeadLetterQueue" not in sources and "EventPublisherDeadLetterQueue" not in sources


# --- make redrive against the local stack's moto (no move tasks there): the effect -----------------------


def test_redrive_by_hand_moves_the_dead_letters_back_to_their_source_queue(aws):
    sqs = boto3.client("sqs", region_name=REGION)
    dead_letters, source = aws["RotationDeadLetterQueue"]["Ref"], aws["RotationQueue"]["Ref"]
    bodies = {
        json.dumps({"shard": f"{n:02d}", "now": "2026-11-24T00:15:00+00:00", "t": uuid.uuid4().hex}) for n in range(3)
    }
    for body in bodies:
        sqs.send_message(QueueUrl=dead_letters, MessageBody=body)

    moved = redrive.redrive_locally(sqs, "RotationDeadLetterQueue", suffix=f"it{os.getpid()}")

    assert moved >= len(bodies)
    assert "Messages" not in sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10)
    back = []
    while got := sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10).get("Messages", []):
        back += [m["Body"] for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=source, ReceiptHandle=m["ReceiptHandle"])
    assert bodies <= set(back)


# --- make resend-emails: what the email stream's dead letters stood for, from the table ------------------


def _own_shard(monkeypatch) -> str:
    shard = f"mail-{uuid.uuid4().hex[:8]}"  # the table is shared: a shard of this test's own
    monkeypatch.setattr(issuing, "shard_of", lambda _delivery_id: shard)
    return shard


def _register(email: str, day: str = "2026-11-23") -> str:
    body = factories.registration(recipient__email=email, delivery_date=day)
    assert registration.register(body).status == 201
    return body["delivery_id"]


def test_resend_emails_sends_each_owed_code_email_once_and_no_other(clock, monkeypatch, sent_mail, aws, capsys):
    # Given, on Monday morning, two deliveries owed their first code email (their stream records were
    # lost), one already emailed, and one whose day has ended
    shard = _own_shard(monkeypatch)
    tag = uuid.uuid4().hex[:8]
    clock.freeze(datetime.fromisoformat("2026-11-22T10:00:00+01:00"))
    _register(f"ended-{tag}@example.com", day="2026-11-22")
    clock.freeze(datetime.fromisoformat("2026-11-23T10:00:00+01:00"))
    for n in range(2):
        _register(f"owed-{n}-{tag}@example.com")
    emailed = _register(f"emailed-{tag}@example.com")
    assert notifications.send_code_email(emailed, 1)
    argv = ["--local", aws["endpoint"]["Ref"], "--suffix", f"it{os.getpid()}", "--shard", shard]

    # When the re-drive runs, twice
    assert resend_owed_emails.main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resend_owed_emails.main(argv) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    # Then each owed delivery got exactly one email, the emailed one no second, the ended one none
    assert first == second == {"deliveries": 3, "unsent": 0}
    for n in range(2):
        assert len(sent_mail(f"owed-{n}-{tag}@example.com")) == 1
    assert len(sent_mail(f"emailed-{tag}@example.com")) == 1
    assert sent_mail(f"ended-{tag}@example.com") == []
