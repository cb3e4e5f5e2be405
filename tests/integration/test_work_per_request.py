"""The work each request makes, in the suite and not only in `make bench`: the AWS requests each path
makes, counted with a botocore hook against moto (`bench.work`), after a warm-up of the same path."""

from __future__ import annotations

from collections import Counter

from delivery_otp import idempotency

from bench import work

# Requests no path may make once its container is warm (the code key is cached after the first fetch).
PER_CONTAINER_ONLY = ("secretsmanager:", "kms:", "sts:", "ssm:")


def test_each_path_makes_only_the_requests_it_must(aws):
    idempotency._persistence.cache_clear()  # its client is made afresh, so its requests are counted too
    counted = {scenario: Counter(calls) for scenario, calls in work.measure().items()}

    # The item and its page link's lookup item: one transaction.
    assert counted["registration"] == {"dynamodb:TransactWriteItems": 1}
    for who, write in (("no courier", "dynamodb:UpdateItem"), ("with courier", "dynamodb:TransactWriteItems")):
        assert counted[f"verify right code, {who}"] == {write: 1}
        assert counted[f"verify wrong code, {who}"].total() <= 2
        assert set(counted[f"verify wrong code, {who}"]) == {write}
    assert counted["verify a delegate's right code"] == {"dynamodb:UpdateItem": 1}
    # Only because the caller sent an Idempotency-Key: Powertools' record (a put, then the stored answer).
    keyed = counted["verify right code + Idempotency-Key"]
    assert keyed - Counter({"dynamodb:PutItem": 1, "dynamodb:UpdateItem": 1}) == {"dynamodb:TransactWriteItems": 1}
    assert counted["same Idempotency-Key replayed"] == {"dynamodb:PutItem": 1}
    assert counted["registration email (stream consumer)"]["ses:SendBulkTemplatedEmail"] == 1, counted
    for scenario, calls in counted.items():
        assert not [op for op in calls if op.startswith(PER_CONTAINER_ONLY)], scenario
