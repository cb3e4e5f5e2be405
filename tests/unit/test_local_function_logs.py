"""The local stack runs every function in one process, where Powertools loggers of one service share
their keys; a log line must still name the function that wrote it, as in AWS (one process each)."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from delivery_otp.observability import logger

from local.containers import Function

# A handler as the product writes them: the shared logger, its Lambda context injected.
HANDLER = """
from delivery_otp.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event, context):
    event["entered"].set()
    assert event["may_log"].wait(10)
    logger.info(event["message"])
"""


@pytest.fixture
def log_lines():
    """What the shared logger writes, one JSON object a line."""
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.registered_handler.setStream(previous)


def function(tmp_path: Path, name: str) -> Function:
    (tmp_path / name).mkdir()
    (tmp_path / name / "app.py").write_text(HANDLER)
    return Function(name, {"Handler": "app.lambda_handler", "CodeUri": str(tmp_path / name)})


def invocation(message: str, *, may_log: bool) -> dict:
    event = {"message": message, "entered": threading.Event(), "may_log": threading.Event()}
    if may_log:
        event["may_log"].set()
    return event


def test_a_function_logs_under_its_own_name_while_another_runs_on_another_thread(tmp_path, log_lines):
    first, second = function(tmp_path, "FirstFunction"), function(tmp_path, "SecondFunction")
    logger.info("outside, before")
    # Given the first function has started on one thread and not logged yet
    waiting = invocation("from the first", may_log=False)
    running = threading.Thread(target=first.invoke, args=(waiting,))
    running.start()
    assert waiting["entered"].wait(10)
    # When the second function runs to its end on this thread, then the first one logs
    second.invoke(invocation("from the second", may_log=True))
    waiting["may_log"].set()
    running.join(10)
    # Then each line names the function that wrote it, with that invocation's context
    named = {line["message"]: line.get("function_name") for line in log_lines()}
    assert (named["from the first"], named["from the second"]) == ("FirstFunction", "SecondFunction")
    # And the invocations left the keys of lines written outside any function as they were
    logger.info("outside, after")
    assert log_lines()[-1].get("function_name") == named["outside, before"]
