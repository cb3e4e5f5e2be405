"""The events AWS hands the functions, shaped as AWS shapes them: API Gateway HTTP API (payload v2.0)
requests for the template's routes, and the records Lambda's event source mappings deliver from a
DynamoDB stream or an SQS queue."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.provision import ACCOUNT, REGION


class Route:
    """One HttpApi route of the template: its method, its path with `{parameters}`, the function it
    invokes and the authorizer it names."""

    def __init__(self, method: str, path: str, function: str, auth: dict[str, Any] | None = None) -> None:
        self.method = method
        self.path = path
        self.function = function
        self.auth = auth or {}
        self.params = re.findall(r"{([^}/]+)}", path)
        pattern = re.sub(r"{[^}/]+}", "([^/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
        self.regex = re.compile(f"^{pattern}$")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.regex.match(path)
        if not found:
            return None
        return {name: unquote(value) for name, value in zip(self.params, found.groups(), strict=True)}


def api_event(
    route: Route,
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    params: dict[str, str],
    source_ip: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event, as the real integration sends it."""
    now = datetime.now(UTC)
    lowered = {k.lower(): v for k, v in headers.items()}
    # API Gateway tells the function how it was reached; the local stack is reached over plain HTTP.
    lowered["x-forwarded-proto"] = "http"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if "cookie" in lowered:
        event["cookies"] = [c.strip() for c in lowered["cookie"].split(";")]
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if params:
        event["pathParameters"] = params
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A DynamoDB stream record (as boto3 returns it) as Lambda delivers it: plain JSON, its source named."""
    record = json.loads(json.dumps(record, default=_epoch))
    record["eventSourceARN"] = stream_arn
    record["awsRegion"] = REGION
    return record


def queue_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message (as ReceiveMessage returns it) as Lambda delivers it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
