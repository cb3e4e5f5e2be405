"""The local stack as a newcomer runs it: `python -m local` in a subprocess, on a free loopback port.

The stacks are session fixtures, so each xdist worker starts its own (a few seconds) and runs its tests on
them one at a time: e2e tests need no xdist group of their own, and spread over the workers like any other
test. A test on a shared stack sees other tests' deliveries and events, and the clock they last set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import local_stack

# Where each running stack writes its output (its functions' JSON log lines among it), by URL.
STACK_LOGS: dict[str, Path] = {}


@pytest.fixture(scope="session")
def stack_url():
    """Authentication off, as a newcomer experimenting with curl runs it."""
    yield from _stack("off")


@pytest.fixture(scope="session")
def secure_stack_url():
    """Authentication on: the default, enforcing what API Gateway enforces in AWS."""
    yield from _stack("on")


@pytest.fixture
def stack_log(stack_url):
    """The JSON log lines the stack (auth off) has written so far, each as a dict."""

    def lines() -> list[dict]:
        text = STACK_LOGS[stack_url].read_text(errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith('{"level"')]

    return lines


@pytest.fixture
def stack_output(stack_url):
    """Everything the stack (auth off) has written so far, log lines or not."""
    return lambda: STACK_LOGS[stack_url].read_text(errors="replace")


@pytest.fixture
def stack_sqs(stack_url):
    """A client of the stack's own SQS (moto), at the address the stack names when it starts."""
    import re

    import boto3

    found = re.search(r"AWS emulated by moto at (http://[0-9.:]+)", STACK_LOGS[stack_url].read_text(errors="replace"))
    assert found, "the local stack names its moto endpoint when it starts"
    return boto3.client(
        "sqs", endpoint_url=found.group(1), region_name="eu-south-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _stack(auth: str):
    process, url, log = local_stack.start(auth, f"local-stack-{auth}-")
    print(f"local stack ({auth}) log: {log}")
    STACK_LOGS[url] = log
    yield url
    assert local_stack.stop(process) == 0, "Ctrl-C should stop the local stack cleanly"
