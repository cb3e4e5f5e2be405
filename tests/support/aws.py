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
            "AWS_SECRET_ACCESS_KEY": "testing",
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
        # As on the local stack: the tests' webhook receivers listen on http://127.0.0.1:PORT.
        os.environ["WEBHOOK_ALLOW_LOCAL_HTTP"] = "true"
        refs["endpoint"] = {"Ref": endpoint}
        yield refs
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)


class StreamTail:
    """The deliveries table's stream from the moment this is made, its records shaped as Lambda's event
    source mapping hands them over (so a test can feed the email function what AWS would)."""

    def __init__(self, table_name: str) -> None:
        self.streams = boto3.client("dynamodbstreams", region_name=REGION)
        table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table_name)["Table"]
        self.arn = table["LatestStreamArn"]
        shards = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self.iterators = {
            shard["ShardId"]: self.streams.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for shard in shards
        }

    def records(self) -> list[dict[str, Any]]:
        """What was written since the last call, oldest first."""
        import json

        fresh: list[dict[str, Any]] = []
        for shard, iterator in self.iterators.items():
            while True:
                page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = page["NextShardIterator"]
                fresh += page["Records"]
                if not page["Records"]:
                    break
            self.iterators[shard] = iterator
        shaped = json.loads(json.dumps(fresh, default=lambda instant: int(instant.timestamp())))
        return [{**record, "eventSourceARN": self.arn} for record in shaped]
