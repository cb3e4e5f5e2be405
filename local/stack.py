"""The local stack: the product as `template.yaml` wires it, on one machine, with moto as its AWS.

- moto's server runs in-process on a free loopback port; the template's tables, queues and secret are
  created in it from the template's own properties (:mod:`local.provision`).
- The HTTP API serves exactly the template's HttpApi routes, invoking each function's real
  ``lambda_handler`` with API Gateway HTTP API (payload v2.0) events (:mod:`local.server`,
  :mod:`local.events`, :mod:`local.containers`).
- The table's stream feeds the functions the template subscribes to it, with its batch size, partial
  batch failures, retries and on-failure queue; so does the rotation queue (:mod:`local.consumers`).
- Schedules fire on request (``POST /local/schedules/run``), at the local clock's now.
- What reached each event bus is read back through a local-only rule and queue of its own
  (``GET /local/bus``), so the product's own rules and queues lose nothing to it.

This module starts and stops all of it and wires the template's pieces together.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Any

import boto3

from local import mailbox
from local.auth import LocalAuth
from local.consumers import Consumer, QueueConsumer, StreamConsumer, drain_together
from local.containers import Function
from local.emulator import start_moto
from local.events import Route
from local.local_routes import LOCAL_PATHS, local_route
from local.oauth import LocalSignIn
from local.provision import REGION, api_urls, function_environment, provision, resolve
from local.server import http_server
from local.template import ROOT, functions, http_route_events, resources

# Pollers per queue at most, whatever concurrency the template allows: enough to show one slow message
# does not hold up the others, few enough for a laptop.
MAX_QUEUE_POLLERS = 4


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalStack:
    """The whole product on one machine: `start` brings it up, `stop` takes it down."""

    def __init__(self, port: int = 3000, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.stopping = threading.Event()
        self.functions: dict[str, Function] = {}
        self.routes: list[Route] = []
        self.consumers: list[Consumer] = []
        self.schedules: dict[str, Any] = {}
        self.refs: dict[str, dict[str, str]] = {}
        self.auth: LocalAuth | None = None
        self.sign_in: LocalSignIn | None = None
        self.ready = False
        self.bus_tap: str | None = None
        self.bus_log: list[dict[str, Any]] = []
        self.bus_lock = threading.Lock()

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
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        self.session = boto3.Session(region_name=REGION)
        self.refs = provision(self.session)
        self.bus_tap = self._tap_buses()
        templates = functions()
        for props in templates.values():
            os.environ.update(function_environment(props, self.refs))
        self._local_settings()
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
        if self.auth is not None:
            client = next(iter(resources("AWS::Cognito::UserPoolClient")))
            self.sign_in = LocalSignIn(self.auth, self.refs[client]["Ref"])
        self._wire_events(templates)

        self.server = http_server(
            (self.host, self.port), self.routes, self.functions, self.auth, partial(local_route, self), LOCAL_PATHS
        )
        self.port = self.server.server_address[1]
        self._serve_api_at(f"http://127.0.0.1:{self.port}", templates)
        threading.Thread(target=self.server.serve_forever, name="http", daemon=True).start()
        for consumer in self.consumers:
            consumer.start()
        self.ready = True
        return self.port

    def _serve_api_at(self, url: str, templates: dict[str, dict[str, Any]]) -> None:
        """The template's HTTP API is this stack: what names its address (an email's link to the
        recipient's page) gets the stack's own URL, known once the server has its port."""
        from delivery_otp.config import settings

        api_urls(self.refs, url)
        for props in templates.values():
            os.environ.update(function_environment(props, self.refs))
        self._local_settings()
        settings.cache_clear()

    @staticmethod
    def _local_settings() -> None:
        """What the local stack sets unlike the template."""
        # The stack serves the couriers' sign-in itself (local/oauth.py), at the courier app's own address.
        os.environ["COURIER_SIGNIN_URL"] = ""
        # The local stack's receivers run on this machine: webhooks may go to http://127.0.0.1:PORT here.
        os.environ["WEBHOOK_ALLOW_LOCAL_HTTP"] = "true"

    def _wire_events(self, templates: dict[str, dict[str, Any]]) -> None:
        for name, props in templates.items():
            for event in props.get("Events", {}).values():
                ev = event.get("Properties", {})
                if event.get("Type") == "DynamoDB":
                    self.consumers.append(self._stream_consumer(self.functions[name], ev))
                elif event.get("Type") == "SQS":
                    # Lambda polls a queue with many invocations at once (up to the mapping's maximum
                    # concurrency): a few pollers here, so one slow message does not hold up the rest.
                    pollers = min(int(ev.get("ScalingConfig", {}).get("MaximumConcurrency", 1)), MAX_QUEUE_POLLERS)
                    self.consumers += [self._queue_consumer(self.functions[name], ev, n) for n in range(pollers)]
                elif event.get("Type") in ("ScheduleV2", "Schedule"):
                    self.schedules[name] = json.loads(ev.get("Input", "{}"))
        for schedule in resources("AWS::Scheduler::Schedule").values():
            target = schedule["Properties"]["Target"]
            arn = target["Arn"]
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                self.schedules[arn["Fn::GetAtt"][0]] = json.loads(target.get("Input", "{}"))

    def _stream_consumer(self, function: Function, ev: dict[str, Any]) -> StreamConsumer:
        stream = resolve(ev["Stream"], self.refs)
        on_failure = self._queue_url(ev.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"))
        return StreamConsumer(function, self.session, self.stopping, stream, ev, on_failure)

    def _queue_consumer(self, function: Function, ev: dict[str, Any], poller: int = 0) -> QueueConsumer:
        queue = ev["Queue"]["Fn::GetAtt"][0]
        redrive = resources("AWS::SQS::Queue")[queue].get("Properties", {}).get("RedrivePolicy", {})
        dead_letters = self._queue_url(redrive.get("deadLetterTargetArn", {}))
        return QueueConsumer(function, self.session, self.stopping, self.refs[queue], ev, redrive, dead_letters, poller)

    def _queue_url(self, destination: Any) -> str | None:
        if isinstance(destination, dict) and "Fn::GetAtt" in destination:
            return self.refs.get(destination["Fn::GetAtt"][0], {}).get("Ref")
        return None

    def _tap_buses(self) -> str | None:
        """A local-only queue behind every archived bus, by a rule with the archive's pattern: what the
        archive would keep for replay is what `GET /local/bus` shows."""
        archives = resources("AWS::Events::Archive")
        if not archives:
            return None
        sqs, events = self.session.client("sqs"), self.session.client("events")
        url = sqs.create_queue(QueueName="LocalBusTap-local")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for name, spec in archives.items():
            props = spec["Properties"]
            bus = resolve(props["SourceArn"], self.refs).rsplit("/", 1)[-1]
            rule = f"LocalBusTap-{name}"
            events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]))
            events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "local-bus-tap", "Arn": arn}])
        return url

    def stop(self) -> None:
        self.stopping.set()
        for consumer in self.consumers:
            consumer.stop()
        if hasattr(self, "server"):
            self.server.shutdown()
            self.server.server_close()
        import time

        deadline = time.monotonic() + 5  # all of them together, however many pollers there are
        for consumer in self.consumers:
            if consumer.is_alive():
                consumer.join(timeout=max(0.0, deadline - time.monotonic()))
        if hasattr(self, "moto"):
            self.moto.stop()

    # -- local-only routes -------------------------------------------------------------------------

    def run_schedules(self) -> dict[str, Any]:
        results = {name: self.functions[name].invoke(event) for name, event in self.schedules.items()}
        self.drain()
        return {"results": results}

    def drain(self) -> None:
        # Queues first (a rotation shard writes what the stream then emails), then the streams; one
        # function's pollers together, the functions in turn in the template's order, so what one hands
        # on is there when the next is drained (the email's own trail entry, then the event publisher).
        ordered = sorted(self.consumers, key=lambda c: not isinstance(c, QueueConsumer))
        for _function, pollers in itertools.groupby(ordered, key=lambda c: c.function.name):
            drain_together(list(pollers))

    def bus(self) -> dict[str, Any]:
        """Every event that reached the stack's bus, oldest first (each event's `detail`: the CloudEvent)."""
        self.drain()
        if self.bus_tap is None:
            return {"events": []}
        sqs = self.session.client("sqs")
        with self.bus_lock:
            while got := sqs.receive_message(QueueUrl=self.bus_tap, MaxNumberOfMessages=10).get("Messages", []):
                for message in got:
                    self.bus_log.append(json.loads(message["Body"])["detail"])
                    sqs.delete_message(QueueUrl=self.bus_tap, ReceiptHandle=message["ReceiptHandle"])
            return {"events": list(self.bus_log)}

    def mailbox(self, to: str | None) -> dict[str, Any]:
        self.drain()
        return {"messages": mailbox.read(self.moto_url, to)}
