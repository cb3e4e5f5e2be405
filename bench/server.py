"""A moto server in a process of its own, as `moto_server` runs, for the rotation benchmark.

In the test suite moto serves from a thread of the test process, which is simplest. For a benchmark
of parallel workers that would put the workers' own Python (building, signing and parsing requests)
under the same interpreter lock as the server, so every worker slowed the "database" down; in AWS the
workers and DynamoDB share nothing. Here the server has its own process and the workers theirs. The
server runs with the same fidelity patches as everywhere else (`local.emulator`), and counts the
seconds it spends in each DynamoDB action, so a figure can say how much of it is the emulator's work.

A second, diagnostic variant (`plain_answers`) answers DynamoDB's attribute values as plain
JSON instead of walking each one through the API model. For the attribute and key types this project
uses the answers are the same (`tests/integration/test_bench_server.py`); only the read path's cost
changes. It shows how much of the rotation's ratio is moto 5.2's price for reading an item rather than
our work. It is never the figure for the goal; the local stack and the product's tests never use it.
"""

from __future__ import annotations

import base64
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

# How long the server may take to start, or to answer a question about its counters.
ANSWER_SECONDS = 60.0


def _plain(value: Any) -> Any:
    """An attribute value as DynamoDB's JSON carries it (binary as base64), without the API model."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# The services whose JSON answers carry DynamoDB attribute values (moto has other shapes of that name).
_DYNAMODB_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})


@contextmanager
def plain_answers() -> Iterator[None]:
    """While open, this process's moto answers DynamoDB's attribute values (an item's attributes, keys,
    images) as plain JSON. moto 5.2's serialiser otherwise visits each of the ten members of the
    `AttributeValue` shape for every value, which makes reading an item cost ~5x writing it. Process-wide:
    a moto server on a thread of this process answers plainly too while the block is open."""
    from moto.core.serialize import BaseJSONSerializer

    modelled = BaseJSONSerializer._serialize_type_structure

    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        dynamodb = self.service_model.service_name in _DYNAMODB_SERVICES
        if dynamodb and shape.name == "AttributeValue" and value is not None:
            self._default_serialize(serialized, _plain(value), shape, key)
            return
        modelled(self, serialized, value, shape, key)

    serialize.plain_attribute_values = True  # type: ignore[attr-defined]
    BaseJSONSerializer._serialize_type_structure = serialize  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseJSONSerializer._serialize_type_structure = modelled  # type: ignore[method-assign]


def answers_plainly() -> bool:
    """Whether this process's moto answers attribute values plainly now (what the server reports)."""
    from moto.core.serialize import BaseJSONSerializer

    return getattr(BaseJSONSerializer._serialize_type_structure, "plain_attribute_values", False)


def _serve(port: int, commands: Connection, plain_attribute_values: bool) -> None:
    with plain_answers() if plain_attribute_values else nullcontext():
        _serve_counting(port, commands)


def _serve_counting(port: int, commands: Connection) -> None:
    import bench  # noqa: F401 - puts the layer and the project on the path
    from local.emulator import start_moto

    server = start_moto(port)
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    spent: Counter[str] = Counter()
    guard = threading.Lock()
    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        """Timed inside the emulator's lock (one DynamoDB call at a time), so queueing is not counted."""
        if not isinstance(self, DynamoHandler):
            return original(self)
        started = time.perf_counter()
        try:
            return original(self)
        finally:
            action = str(self.headers.get("X-Amz-Target", "?")).rsplit(".", 1)[-1]
            with guard:
                spent[action] += time.perf_counter() - started

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    commands.send(("up", answers_plainly()))
    while commands.recv() == "seconds":
        with guard:
            commands.send(dict(spent))
    server.stop()


@dataclass
class MotoProcess:
    """What `tests.support.aws.moto_with_template` needs of a server (`stop`), and the seconds spent."""

    process: Any
    commands: Connection
    # As the server process itself reported when it came up, not as it was asked to.
    answers_plainly: bool = False

    def seconds(self) -> Counter[str]:
        """Seconds the server has spent in each DynamoDB action so far."""
        self.commands.send("seconds")
        return Counter(self.answer())

    def answer(self, within: float = ANSWER_SECONDS) -> Any:
        """The server's next answer; a server that died or went silent is an error, never a hang."""
        deadline = time.monotonic() + within
        while not self.commands.poll(1):
            if not self.process.is_alive():
                raise RuntimeError(f"the moto server process exited (code {self.process.exitcode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the moto server process did not answer within {within:.0f} s")
        try:
            return self.commands.recv()
        except EOFError:  # its end of the pipe closed: it has exited
            self.process.join(timeout=5)
            raise RuntimeError(f"the moto server process exited (code {self.process.exitcode})") from None

    def stop(self) -> None:
        try:
            self.commands.send("stop")
        except OSError:
            pass  # already gone
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def start(port: int, plain_attribute_values: bool = False) -> MotoProcess:
    """A moto server on `port` in a process of its own (the diagnostic variant when
    `plain_attribute_values`)."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the parent's state
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(port, theirs, plain_attribute_values), daemon=True)
    process.start()
    theirs.close()  # the child's end lives in the child only, so its death reads as an end of file here
    server = MotoProcess(process, ours)
    try:
        greeting = server.answer()
        if not (isinstance(greeting, tuple) and greeting[0] == "up"):
            raise RuntimeError("the moto server process did not start")
        server.answers_plainly = greeting[1]
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def moto_process(
    suffix: str, plain_attribute_values: bool = False
) -> Iterator[tuple[dict[str, dict[str, str]], MotoProcess]]:
    """The template's resources on a moto server in its own process, and that server."""
    from tests.support.aws import moto_with_template

    started: list[MotoProcess] = []

    def launch(port: int) -> MotoProcess:
        started.append(start(port, plain_attribute_values))
        return started[0]

    with moto_with_template(suffix=suffix, server=launch) as refs:
        yield refs, started[0]
