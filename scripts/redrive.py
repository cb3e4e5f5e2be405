"""Move a dead-letter queue's messages back to the queue they came from.

    make redrive QUEUE=RotationDeadLetterQueue [STACK=delivery-otp-prod]   # a logical id of the stack
    make redrive QUEUE=https://sqs.eu-south-1.amazonaws.com/123456789012/x  # or a queue URL
    make redrive QUEUE=RotationDeadLetterQueue LOCAL=http://127.0.0.1:<port> # the local stack's moto

In AWS this starts an SQS message move task (StartMessageMoveTask): SQS moves every message back to the
queue whose redrive policy parked it, at its own pace, and the task can be watched
(`aws sqs list-message-move-tasks --source-arn ...`) or cancelled. moto has no move tasks, so against
the local stack the same effect is made by hand: receive, send to the source queue, delete.

Only a queue that is some queue's redrive target can be re-driven so. The email function's dead letters
name stream records gone after 24 hours: re-drive those with `make resend-emails` (from the table).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import boto3

from local.template import resources

REGION = "eu-south-1"


def redrive_sources() -> dict[str, str]:
    """Dead-letter queue -> the queue whose redrive policy parks messages there (logical ids)."""
    sources = {}
    for name, spec in resources("AWS::SQS::Queue").items():
        target = spec.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            sources[target["Fn::GetAtt"][0]] = name
    return sources


def queue_url(queue: str, stack: str, cloudformation: Any) -> str:
    """A queue URL as given, or the URL of the stack's queue of that logical id."""
    if queue.startswith(("https://", "http://")):
        return queue
    if queue not in resources("AWS::SQS::Queue"):
        raise SystemExit(f"{queue!r} is neither a queue URL nor a queue of template.yaml")
    if queue not in redrive_sources():
        raise SystemExit(f"{queue} is no queue's redrive target: see docs/runbook.md for how to re-drive it")
    detail = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=queue)
    return detail["StackResourceDetail"]["PhysicalResourceId"]


def start_move_task(sqs: Any, dead_letter_url: str, max_per_second: int | None = None) -> dict[str, str]:
    """Start moving every message of the dead-letter queue back to its source queue (SQS remembers which)."""
    arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    request: dict[str, Any] = {"SourceArn": arn}
    if max_per_second is not None:
        request["MaxNumberOfMessagesPerSecond"] = max_per_second
    handle = sqs.start_message_move_task(**request)["TaskHandle"]
    return {"SourceArn": arn, "TaskHandle": handle}


def move_by_hand(sqs: Any, dead_letter_url: str, source_url: str) -> int:
    """What a move task does, for an SQS without them (moto): each message sent back, then deleted."""
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dead_letter_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            attributes = message.get("MessageAttributes")
            sqs.send_message(
                QueueUrl=source_url,
                MessageBody=message["Body"],
                **({"MessageAttributes": attributes} if attributes else {}),
            )
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def redrive_locally(sqs: Any, queue: str, suffix: str = "local") -> int:
    """Re-drive a queue of the local stack (named as local/provision.py names them) by hand."""
    source = redrive_sources().get(queue)
    if source is None:
        raise SystemExit(f"{queue} is no queue's redrive target in template.yaml")
    dead_letters = sqs.get_queue_url(QueueName=f"{queue}-{suffix}")["QueueUrl"]
    return move_by_hand(sqs, dead_letters, sqs.get_queue_url(QueueName=f"{source}-{suffix}")["QueueUrl"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queue", help="the dead-letter queue: a logical id of template.yaml or a queue URL")
    parser.add_argument("--stack", default=os.environ.get("STACK", "delivery-otp-dev"))
    parser.add_argument("--local", metavar="ENDPOINT", help="the local stack's AWS endpoint (moto)")
    parser.add_argument("--max-per-second", type=int, help="pace of the move task (SQS's default: as fast as it can)")
    args = parser.parse_args(argv)
    if args.local:
        # moto takes any credentials: the local stack's own dummies, as it sets them for its functions.
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        sqs = boto3.client("sqs", endpoint_url=args.local, region_name=REGION)
        print(json.dumps({"moved": redrive_locally(sqs, args.queue)}))
        return 0
    url = queue_url(args.queue, args.stack, boto3.client("cloudformation"))
    print(json.dumps(start_move_task(boto3.client("sqs"), url, args.max_per_second)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
