"""The repository's bulk conditional updates: any number of writes, in transactions of at most 100 (the
limit DynamoDB sets), each judged on its own condition."""

from __future__ import annotations

from delivery_otp import registration
from delivery_otp.model import DeliveryModel
from delivery_otp.wiring import adapters

from tests.support import factories


def test_more_writes_than_one_transaction_holds_are_all_applied_each_on_its_own_condition(clock):
    ids = []
    for _ in range(101):
        body = factories.registration()
        registration.register(body)
        ids.append(body["delivery_id"])
    repository = adapters().deliveries
    # The 101st is refused by its condition; the other hundred apply, across a transaction and a plain write.
    writes = [
        (delivery_id, [DeliveryModel.resend_seq.add(1)], DeliveryModel.order_id.exists()) for delivery_id in ids[:-1]
    ]
    writes.append((ids[-1], [DeliveryModel.resend_seq.add(1)], DeliveryModel.order_id.does_not_exist()))
    writes.append((ids[0], [DeliveryModel.resend_seq.add(1)], DeliveryModel.order_id.exists()))

    applied = repository.update_many(writes)

    assert applied == [True] * 100 + [False, True]
    counts = {i: int(repository.get(i).resend_seq or 0) for i in ids}
    assert counts[ids[0]] == 2 and counts[ids[-1]] == 0
    assert all(counts[i] == 1 for i in ids[1:-1])
