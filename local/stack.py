"""The local stack: the product as `template.yaml` wires it, on one machine, with moto as its AWS.

- moto's server runs in-process on a free loopback port; the template's tables, queues and secret are
  created in it from the template's own properties (:mod:`local.provision`).
- The HTTP API serves exactly the template's HttpApi routes, invoking each function's real
  ``lambda_handler`` with API Gateway HTTP API (payload v2.0) events.
- The table's stream feeds the functions the template subscribes to it, with its batch size, partial
  batch failures, retries and on-failure queue.
- Schedules fire on request (``POST /local/schedules/run``), at the local clock's now.

A function module is loaded once per "container" and serves one request at a time, as in Lambda:
Powertools' resolver keeps the current event on a module-level object.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3

from local import function_logs, mailbox
from local.auth import LocalAuth, Refused
from local.emulator import start_moto
from local.provision import function_environment, provision, resolve
from local.template import ROOT, functions, http_route_events, resources

REGION = "eu-south-1"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_CONTAINERS = 64

log = logging.getLogger("local")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LambdaContext:
    def __init__(self, name: str, timeout_s: int, memory: int) -> None:
        self.function_name = name
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Container:
    """One loaded copy of a function's handler module, with what a Lambda execution environment keeps
    for itself between invocations: its log keys (see :mod:`local.function_logs`)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.log_keys: dict[Any, dict[str, Any]] = {}


class Function:
    """One template function: a pool of loaded copies of its handler module ("containers")."""

    def __init__(self, name: str, props: dict[str, Any]) -> None:
        self.name = name
        module_file, self.handler_name = props["Handler"].rsplit(".", 1)
        self.path = Path(ROOT, props["CodeUri"], f"{module_file}.py")
        self.timeout = int(props.get("Timeout", 3))
        self.memory = int(props.get("MemorySize", 128))
        self._idle: list[Container] = []
        self._loaded = 0
        self._available = threading.Condition()
        function_logs.install()

    def _load(self) -> Container:
        spec = importlib.util.spec_from_file_location(f"lambda_{self.name}_{self._loaded}", self.path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return Container(module)

    def _acquire(self) -> Container:
        with self._available:
            while not self._idle and self._loaded >= MAX_CONTAINERS:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._loaded += 1
        return self._load()

    def invoke(self, event: Any) -> Any:
        container = self._acquire()
        try:
            handler: Callable[[Any, Any], Any] = getattr(container.module, self.handler_name)
            # Functions run at once on the stack's threads; each logs with its own container's keys.
            with function_logs.keys_of(container.log_keys):
                return handler(event, LambdaContext(self.name, self.timeout, self.memory))
        finally:
            with self._available:
                self._idle.append(container)
                self._available.notify()


class Route:
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
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
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


class StreamConsumer(threading.Thread):
    """Polls a table's stream and feeds one function, as a Lambda event source mapping does."""

    def __init__(
        self,
        stack: LocalStack,
        function: Function,
        stream_arn: str,
        props: dict[str, Any],
        on_failure_queue: str | None,
    ) -> None:
        super().__init__(name=f"stream-{function.name}", daemon=True)
        self.stack = stack
        self.function = function
        self.stream_arn = stream_arn
        self.batch_size = int(props.get("BatchSize", 100))
        self.max_retries = int(props.get("MaximumRetryAttempts", 2))
        self.on_failure_queue = on_failure_queue
        self.iterators: dict[str, str] = {}
        self.cycles = 0
        self.cycle_done = threading.Condition()

    def run(self) -> None:
        client = self.stack.session.client("dynamodbstreams")
        while not self.stack.stopping.is_set():
            try:
                busy = self._poll(client)
            except Exception:  # noqa: BLE001 - keep consuming; report what went wrong
                log.error("stream consumer %s failed:\n%s", self.function.name, traceback.format_exc())
                busy = False
            with self.cycle_done:
                if not busy:
                    self.cycles += 1
                self.cycle_done.notify_all()
            if not busy:
                self.stack.stopping.wait(0.1)

    def _poll(self, client: Any) -> bool:
        shards = client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        busy = False
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self.iterators:
                self.iterators[shard_id] = client.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            response = client.get_records(ShardIterator=self.iterators[shard_id], Limit=self.batch_size)
            self.iterators[shard_id] = response["NextShardIterator"]
            records = [self._lambda_record(r) for r in response["Records"]]
            if records:
                busy = True
                self._deliver(records)
        return busy

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        record = json.loads(json.dumps(record, default=_epoch))
        record["eventSourceARN"] = self.stream_arn
        record["awsRegion"] = REGION
        return record

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        pending = records
        for _attempt in range(self.max_retries + 1):
            try:
                result = self.function.invoke({"Records": pending}) or {}
                failures = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
            except Exception:  # noqa: BLE001 - a failed invocation retries the whole batch, as in AWS
                log.warning("%s failed a batch:\n%s", self.function.name, traceback.format_exc(limit=3))
                failures = [pending[0]["dynamodb"]["SequenceNumber"]]
            if not failures:
                return
            first = min(i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] in set(failures))
            pending = pending[first:]
        if self.on_failure_queue:
            self.stack.session.client("sqs").send_message(
                QueueUrl=self.on_failure_queue,
                MessageBody=json.dumps(
                    {
                        "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function.name},
                        "DDBStreamBatchInfo": {
                            "streamArn": self.stream_arn,
                            "startSequenceNumber": pending[0]["dynamodb"]["SequenceNumber"],
                            "endSequenceNumber": pending[-1]["dynamodb"]["SequenceNumber"],
                            "batchSize": len(pending),
                        },
                    }
                ),
            )

    def drain(self, timeout_s: float = 30.0) -> None:
        """Return once a full poll that started after this call found nothing new."""
        with self.cycle_done:
            target = self.cycles + 2
            self.cycle_done.wait_for(lambda: self.cycles >= target or self.stack.stopping.is_set(), timeout_s)


class QueueConsumer(threading.Thread):
    """Polls a queue and feeds one function, as Lambda's SQS event source mapping does: deletes what
    the function handled, lets a reported failure come back, and parks a message in the queue's
    dead-letter queue after the redrive policy's `maxReceiveCount` receives."""

    def __init__(self, stack: LocalStack, function: Function, queue: str, props: dict[str, Any]) -> None:
        super().__init__(name=f"queue-{function.name}", daemon=True)
        self.stack = stack
        self.function = function
        self.queue_url = stack.refs[queue]["Ref"]
        self.queue_arn = stack.refs[queue]["Arn"]
        self.batch_size = min(int(props.get("BatchSize", 10)), 10)
        redrive = resources("AWS::SQS::Queue")[queue].get("Properties", {}).get("RedrivePolicy", {})
        self.max_receives = int(redrive.get("maxReceiveCount", 0)) or None
        target = redrive.get("deadLetterTargetArn", {})
        self.dead_letters = stack._queue_url(target)
        self.cycles = 0
        self.cycle_done = threading.Condition()

    def run(self) -> None:
        sqs = self.stack.session.client("sqs")
        while not self.stack.stopping.is_set():
            try:
                busy = self._poll(sqs)
            except Exception:  # noqa: BLE001 - keep consuming; report what went wrong
                log.error("queue consumer %s failed:\n%s", self.function.name, traceback.format_exc())
                busy = False
            with self.cycle_done:
                if not busy:
                    self.cycles += 1
                self.cycle_done.notify_all()
            if not busy:
                self.stack.stopping.wait(0.1)

    def _poll(self, sqs: Any) -> bool:
        got = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            VisibilityTimeout=1,
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not got:
            return False
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": self.queue_arn,
                "awsRegion": REGION,
            }
            for m in got
        ]
        try:
            result = self.function.invoke({"Records": records}) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - a failed invocation returns the whole batch, as in AWS
            log.warning("%s failed a batch:\n%s", self.function.name, traceback.format_exc(limit=3))
            failed = {r["messageId"] for r in records}
        for message in got:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if message["MessageId"] in failed and (self.max_receives is None or receives < self.max_receives):
                continue  # visible again after the (short, local) visibility timeout
            if message["MessageId"] in failed and self.dead_letters:
                sqs.send_message(QueueUrl=self.dead_letters, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return True

    def drain(self, timeout_s: float = 120.0) -> None:
        """Return once a poll that started after this call found the queue empty."""
        with self.cycle_done:
            target = self.cycles + 2
            self.cycle_done.wait_for(lambda: self.cycles >= target or self.stack.stopping.is_set(), timeout_s)


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class LocalStack:
    def __init__(self, port: int = 3000, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.stopping = threading.Event()
        self.functions: dict[str, Function] = {}
        self.routes: list[Route] = []
        self.consumers: list[StreamConsumer | QueueConsumer] = []
        self.schedules: dict[str, Any] = {}
        self.refs: dict[str, dict[str, str]] = {}
        self.auth: LocalAuth | None = None
        self.ready = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> int:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_port = free_port()
        self.moto = start_moto(moto_port)
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's placeholder credentials
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        self.session = boto3.Session(region_name=REGION)
        self.refs = provision(self.session)
        templates = functions()
        for props in templates.values():
            os.environ.update(function_environment(props, self.refs))
        # Lambda puts layers on the path (/opt/python); the local stack does the same for the template's.
        for layer in resources("AWS::Serverless::LayerVersion").values():
            content = str(Path(ROOT, layer["Properties"]["ContentUri"]))
            if content not in sys.path:
                sys.path.insert(0, content)

        from delivery_otp import wiring
        from delivery_otp.clock import SettableClock

        wiring.reset()
        self.clock = SettableClock()
        wiring.override(clock=self.clock)

        self.functions = {name: Function(name, props) for name, props in templates.items()}
        self.routes = [Route(method, path, fn, auth) for method, path, fn, auth in http_route_events()]
        # Authentication as API Gateway enforces it, unless a newcomer switches it off for curl experiments.
        self.auth = (
            None
            if os.environ.get("LOCAL_AUTH", "on").lower() == "off"
            else LocalAuth(REGION, self.moto_url, self.refs, self.session)
        )
        self._wire_events(templates)

        self.server = _Server((self.host, self.port), _handler_for(self))
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="http", daemon=True).start()
        for consumer in self.consumers:
            consumer.start()
        self.ready = True
        return self.port

    def _wire_events(self, templates: dict[str, dict[str, Any]]) -> None:
        for name, props in templates.items():
            for event in props.get("Events", {}).values():
                ev = event.get("Properties", {})
                if event.get("Type") == "DynamoDB":
                    stream = resolve(ev["Stream"], self.refs)
                    destination = ev.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                    queue = self._queue_url(destination)
                    self.consumers.append(StreamConsumer(self, self.functions[name], stream, ev, queue))
                elif event.get("Type") == "SQS":
                    queue = ev["Queue"]["Fn::GetAtt"][0]
                    self.consumers.append(QueueConsumer(self, self.functions[name], queue, ev))
                elif event.get("Type") in ("ScheduleV2", "Schedule"):
                    self.schedules[name] = json.loads(ev.get("Input", "{}"))
        for schedule in resources("AWS::Scheduler::Schedule").values():
            target = schedule["Properties"]["Target"]
            arn = target["Arn"]
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                self.schedules[arn["Fn::GetAtt"][0]] = json.loads(target.get("Input", "{}"))

    def _queue_url(self, destination: Any) -> str | None:
        if isinstance(destination, dict) and "Fn::GetAtt" in destination:
            return self.refs.get(destination["Fn::GetAtt"][0], {}).get("Ref")
        return None

    def stop(self) -> None:
        self.stopping.set()
        if hasattr(self, "server"):
            self.server.shutdown()
            self.server.server_close()
        for consumer in self.consumers:
            if consumer.is_alive():
                consumer.join(timeout=5)
        if hasattr(self, "moto"):
            self.moto.stop()

    # -- local-only routes -------------------------------------------------------------------------

    def run_schedules(self) -> dict[str, Any]:
        results = {name: self.functions[name].invoke(event) for name, event in self.schedules.items()}
        self.drain()
        return {"results": results}

    def drain(self) -> None:
        # Queues first (a rotation shard writes what the stream then emails), then the streams.
        for consumer in sorted(self.consumers, key=lambda c: not isinstance(c, QueueConsumer)):
            consumer.drain()

    def mailbox(self, to: str | None) -> dict[str, Any]:
        self.drain()
        return {"messages": mailbox.read(self.moto_url, to)}


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 resets connections when a burst of couriers arrives at once.
    request_queue_size = 256
    daemon_threads = True


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"error": {"code": code, "message": message}})


def _handler_for(stack: LocalStack) -> type[BaseHTTPRequestHandler]:
    from local.local_routes import local_route

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "delivery-otp-local"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            if os.environ.get("LOCAL_ACCESS_LOG"):
                super().log_message(format, *args)

        def _respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _dispatch(self) -> None:
            declared = self.headers.get("Content-Length") or "0"
            if not declared.isdigit():  # a body whose end cannot be known: nothing after it can be read
                self.close_connection = True
                self._respond(*_json(400, {"message": "Bad Request"}))
                return
            length = int(declared)
            if length > MAX_BODY_BYTES:
                # As API Gateway: refused from its declared size, before it is read.
                self.close_connection = True
                self._respond(*_json(413, {"message": "Request Entity Too Large"}))
                return
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            try:
                if url.path.startswith("/local/"):
                    answer = local_route(stack, self.command, url.path, url.query, body)
                else:
                    answer = self._api(url.path, url.query, body)
            except Exception:  # noqa: BLE001 - as API Gateway: a bare 500, the trace only in the log
                log.error("%s %s failed:\n%s", self.command, url.path, traceback.format_exc())
                answer = _json(500, {"message": "Internal Server Error"})
            self._respond(*answer)

        def _api(self, path: str, query: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
            for route in stack.routes:
                params = route.match(self.command, path)
                if params is None:
                    continue
                headers = dict(self.headers.items())
                event = api_event(route, self.command, path, query, headers, body, params, self.client_address[0])
                if stack.auth is not None:
                    try:
                        rule = stack.auth.for_route(route.auth)
                        authorizer = stack.auth.check(rule, self.command, path, query, headers, body)
                    except Refused as refused:
                        return _json(refused.status, {"message": refused.message})
                    if authorizer:
                        event["requestContext"]["authorizer"] = authorizer
                return _from_lambda(stack.functions[route.function].invoke(event))
            return _json(404, {"message": "Not Found"})

        def __getattr__(self, name: str) -> Any:
            # Every method, even ones http.server never heard of, is routed (and answered 404 when no
            # route declares it), as API Gateway does.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

    return Handler


def _from_lambda(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Map a handler's answer as the HTTP API does for payload format 2.0."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _json(200, result)
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(v) for v in values)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return int(result["statusCode"]), headers, raw
