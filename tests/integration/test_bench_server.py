"""The benchmark's diagnostic server variant answers exactly what moto answers, only without walking
each attribute value through the API model: otherwise its figure would measure a different database.
(Refusals are not compared: moto writes their JSON itself, so neither variant's serialiser touches them.
Tables with binary keys are not either: moto encodes those twice in stream records, the plain variant
once; this project's keys are strings.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core.serialize import BaseJSONSerializer

from bench.server import answers_plainly, plain_answers
from local.emulator import start_moto
from tests.support.aws import REGION, free_port

# Its own table on its own server, never `mock_aws`: starting and stopping that resets moto's backends,
# which every moto server of this process shares, so the other tests in this worker lost their resources.
TABLE = f"bench-server-{uuid.uuid4().hex[:8]}"

# Every attribute type DynamoDB has, nested and empty ones included.
ITEM = {
    "pk": {"S": "D#IT-1"},
    "text": {"S": "Grüße €"},
    "number": {"N": "349.90"},
    "binary": {"B": b"\x00\xff mac"},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "binaries": {"BS": [b"\x01", b"\x02\x03"]},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "events": {"L": [{"S": "REGISTERED"}, {"M": {"issue": {"N": "1"}, "tags": {"L": []}}}]},
    "empty": {"M": {}},
}


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    port = free_port()
    server = start_moto(port)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    client = boto3.client("dynamodb", region_name=REGION)
    try:
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.put_item(TableName=TABLE, Item=ITEM)
        client.put_item(TableName=TABLE, Item={"pk": {"S": "D#IT-2"}})  # so a scan has a next page
        yield client
    finally:
        client.delete_table(TableName=TABLE)
        server.stop()


def _answers(client: Any) -> list[Any]:
    """What the benchmark and the product read back: items, keys, new images, stream records."""
    key = {"pk": ITEM["pk"]}
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    answers = [
        client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"],
        client.batch_get_item(RequestItems={TABLE: {"Keys": [key], "ConsistentRead": True}})["Responses"],
        client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": ITEM["pk"]},
            Limit=1,
        )["Items"],
        client.scan(TableName=TABLE, Limit=1)["LastEvaluatedKey"],
        client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET flag = :same",
            ExpressionAttributeValues={":same": {"BOOL": True}},
            ReturnValues="ALL_NEW",
        )["Attributes"],
        # The fixture's two inserts (the update above adds a record each time this runs).
        [r["dynamodb"] for r in streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"][:2]],
    ]
    for record in answers[-1]:
        record.pop("ApproximateCreationDateTime", None)  # when it was written, not what
    return answers


def test_the_plain_variant_answers_exactly_what_moto_answers(dynamodb: Any) -> None:
    modelled = _answers(dynamodb)

    with plain_answers():
        plain = _answers(dynamodb)

    assert modelled[0] == ITEM  # moto itself gives the item back whole
    assert plain == modelled


def test_the_plain_variant_skips_the_api_model_walk(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    visited: list[str] = []
    walk = BaseJSONSerializer._serialize_structure_member

    def counted(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        visited.append(key)
        walk(self, serialized, value, shape, key)

    monkeypatch.setattr(BaseJSONSerializer, "_serialize_structure_member", counted)

    def members_visited_reading_the_item() -> int:
        visited.clear()
        dynamodb.get_item(TableName=TABLE, Key={"pk": ITEM["pk"]}, ConsistentRead=True)
        return len(visited)

    modelled = members_visited_reading_the_item()
    with plain_answers():
        plain = members_visited_reading_the_item()
        reported_inside = answers_plainly()
    after = members_visited_reading_the_item()

    assert plain < modelled / 10  # the item's values were not walked one member at a time
    assert after == modelled  # and leaving the block restores moto's own serialiser
    # What the benchmark's server process reports about itself, so its figures say which server they are.
    assert reported_inside and not answers_plainly()
