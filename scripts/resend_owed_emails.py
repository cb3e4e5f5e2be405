"""Re-drive the email stream from the table: send every email a live code is still owed.

The email function's dead letters name stream records, and a stream keeps its records 24 hours, so they
cannot be replayed; what they would have sent is in the table itself (each delivery's marks say which
emails went out). Safe to run at any time and more than once: nothing is sent twice.

    make resend-emails [STACK=delivery-otp-prod]        # the deployed stack (AWS credentials)
    make resend-emails LOCAL=http://127.0.0.1:<port>    # the local stack's moto (its /local/health says)

It runs with the email function's own configuration (read from the function), so it sends what the
function would, from the same identity, template and configuration set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import boto3


def function_environment(stack: str, logical_id: str = "EmailFunction") -> dict[str, str]:
    """The deployed function's environment variables (names and ARNs; no secret is kept there)."""
    cloudformation = boto3.client("cloudformation")
    name = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)["StackResourceDetail"][
        "PhysicalResourceId"
    ]
    configuration = boto3.client("lambda").get_function_configuration(FunctionName=name)
    return configuration["Environment"]["Variables"]


def local_environment(endpoint: str, suffix: str = "local") -> dict[str, str]:
    """What the local stack gives its email function, against its moto (named as `provision` names)."""
    from local.provision import REGION, function_environment
    from local.template import functions, resources

    refs: dict[str, dict[str, str]] = {}
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    for name in resources("AWS::SQS::Queue"):
        refs[name] = {"Ref": sqs.get_queue_url(QueueName=f"{name}-{suffix}")["QueueUrl"]}
    for name in resources("AWS::DynamoDB::Table"):
        refs[name] = {"Ref": f"{name}-{suffix}", "Arn": ""}
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    for name in resources("AWS::SecretsManager::Secret"):
        refs[name] = {"Ref": secrets.describe_secret(SecretId=f"{name}-{suffix}")["ARN"]}
    for name in resources("AWS::SES::Template"):
        refs[name] = {"Ref": f"{name}-{suffix}"}
    return function_environment(functions()["EmailFunction"], refs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default=os.environ.get("STACK", "delivery-otp-dev"))
    parser.add_argument("--local", metavar="ENDPOINT", help="the local stack's AWS endpoint (moto)")
    parser.add_argument("--suffix", default="local", help=argparse.SUPPRESS)  # the tests' own moto names
    parser.add_argument("--shard", action="append", help="only this shard of the due index (repeatable)")
    args = parser.parse_args(argv)
    if args.local:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": args.local,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "eu-south-1",
            }
        )
        os.environ.update(local_environment(args.local, args.suffix))
    else:
        os.environ.update(function_environment(args.stack))

    from delivery_otp.notifications import send_owed_code_emails

    counts = send_owed_code_emails(only=args.shard)
    print(json.dumps(counts))
    return 1 if counts["unsent"] else 0


if __name__ == "__main__":
    sys.exit(main())
