"""A moto server on loopback with the template's resources, and the environment the functions read.

A real server (not in-process mocks) so the concurrency tests race over HTTP as in AWS.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from local.emulator import start_moto
from local.provision import function_environment, provision
from local.template import functions

REGION = "eu-south-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_with_template(suffix: str, server: Callable[[int], Any] = start_moto) -> Iterator[dict[str, dict[str, str]]]:
    """`server` starts a moto server on a port and returns something with `stop()` (the default: in this
    process, on a thread)."""
    port = free_port()
    running = server(port)
    endpoint = f"http://127.0.0.1:{port}"
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's placeholder credentials
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_DEV": "false",
        }
    )
    try:
        refs = provision(boto3.Session(region_name=REGION), suffix=suffix)
        env: dict[str, str] = {}
        for props in functions().values():
            env.update(function_environment(props, refs))
        os.environ.update(env)
        refs["endpoint"] = {"Ref": endpoint}
        yield refs
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)
