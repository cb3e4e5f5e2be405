"""The rotation's batching: a shard read a page at a time and written back 100 items a transaction must
rotate everything due, and one delivery that changed meanwhile must cost only itself (and lose nothing)."""

from __future__ import annotations

from datetime import datetime

from delivery_otp import bounces, dispatch, reads, rotation, wiring

from tests.support import factories

NIGHT = datetime.fromisoformat("2026-11-24T00:20:00+01:00")


def test_a_shard_larger_than_a_page_and_a_batch_is_rotated_in_full(clock, monkeypatch):
    shard, ids = factories.registered_in_one_shard(monkeypatch, 7)
    monkeypatch.setattr(rotation, "ROTATION_QUERY_PAGE", 3)
    monkeypatch.setattr(rotation, "ROTATION_BATCH", 2)
    assert rotation.rotate_shard(shard, NIGHT) == {"rotated": 7, "skipped": 0}
    assert {reads.get_delivery(i)["issue_number"] for i in ids} == {2}
    assert rotation.rotate_shard(shard, NIGHT) == {"rotated": 0, "skipped": 0}


def test_a_delivery_that_changes_between_read_and_write_costs_only_its_own_rotation(clock, monkeypatch):
    shard, ids = factories.registered_in_one_shard(monkeypatch, 5)
    victim = ids[2]
    build = rotation.roll_over

    def cancelled_meanwhile(delivery, now):
        if delivery.delivery_id == victim:
            dispatch.cancel(victim)  # after the item was read, before the batch is written
        return build(delivery, now)

    monkeypatch.setattr(rotation, "roll_over", cancelled_meanwhile)
    assert rotation.rotate_shard(shard, NIGHT) == {"rotated": 4, "skipped": 1}
    assert reads.get_delivery(victim)["status"] == "CANCELLED"
    assert all(reads.get_delivery(i)["issue_number"] == 2 for i in ids if i != victim)
    rotated = [e for e in reads.audit_trail(victim)["events"] if e["type"] == "ROTATED"]
    assert rotated == []


def test_a_write_the_rotation_does_not_decide_on_is_not_lost_when_it_lands_meanwhile(clock, monkeypatch):
    """The rotation writes items back whole: a courier assigned and a bounce recorded between its read and
    its write must survive (the write is refused on the moved rev, and the next run rotates afresh)."""
    shard, ids = factories.registered_in_one_shard(monkeypatch, 3)
    victim = ids[1]
    build = rotation.roll_over

    def changed_meanwhile(delivery, now):
        if delivery.delivery_id == victim:
            dispatch.assign_courier(victim, {"courier_id": "c-late"})
            bounces.mark_undeliverable(victim, "Bounce", [delivery.email])
        return build(delivery, now)

    monkeypatch.setattr(rotation, "roll_over", changed_meanwhile)
    assert rotation.rotate_shard(shard, NIGHT) == {"rotated": 2, "skipped": 1}
    monkeypatch.setattr(rotation, "roll_over", build)
    assert rotation.rotate_shard(shard, NIGHT) == {"rotated": 1, "skipped": 0}
    item = wiring.adapters().deliveries.get(victim)
    assert (item.issue_number, item.assigned_courier, item.email_undeliverable) == (2, "c-late", True)
