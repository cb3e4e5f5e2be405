"""The night's rotation: a delivery whose day has ended without a handover gets its next working day
and a new code (docs/behaviour.md, "The night's rotation").

Each delivery is decided from its own state: the sparse index holds only deliveries that may rotate,
keyed by when their day ends (and ended ones, keyed by when their personal data is due for erasure,
which the same pass erases: see `erasure`), so a missed run is caught up by the next and a replayed or backdated run
finds nothing it has not already done. In AWS a planner hands each shard of the index to its own worker
(:func:`rotate_shard`) through a queue; :func:`rotate_all` is the same work in one process.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from delivery_otp import audit, erasure
from delivery_otp.audit import Actor
from delivery_otp.calendar import has_ended, nth_working_day
from delivery_otp.config import settings
from delivery_otp.deliveries import (
    day_of,
    epoch,
    erasure_due,
    life_limit_of,
    next_date,
    zone_of,
)
from delivery_otp.issuing import issue_code, shards
from delivery_otp.model import OPEN_STATES, RETURNED, SCHEDULED, WRITES_PER_TRANSACTION, DeliveryModel
from delivery_otp.wiring import adapters


def rotate_all(now: datetime | None = None, only: Iterable[str] | None = None) -> dict[str, int]:
    """Rotate every due delivery, shard after shard (`only`: just these shards)."""
    now = now or adapters().clock.now()
    counts = {"rotated": 0, "skipped": 0}
    for shard in only or shards():
        for name, value in rotate_shard(shard, now).items():
            counts[name] += value
    return counts


# One write per delivery either way; batching saves round trips, and a refused condition only sends the
# rest again.
ROTATION_BATCH = WRITES_PER_TRANSACTION
# Index entries are keys only: a page of 1,000 is ~100 KB, well under Query's 1 MB.
ROTATION_QUERY_PAGE = 1000


def rotate_shard(shard: str, now: datetime) -> dict[str, int]:
    """Rotate the due deliveries of one shard: a page of the index at a time, then 100 at a time read
    whole (one strongly consistent BatchGetItem) and written back rotated (one transaction), so a
    concurrent write has only that short window to make a put refuse, and a worker holds 100 items.

    Each is written back only if its `rev` is still the one read, so a delivery that changed meanwhile
    (delivered, cancelled, a wrong code) is left alone and looked at afresh by the next run. After a
    page with something new, the same page is read again: what was rotated has left the due range (its
    new day ends later), so what comes next is still due, with no cursor into the part of the index the
    writes themselves are changing. A delivery tried once is not tried twice in a run; the cursor steps
    past a page of those.
    """
    repository = adapters().deliveries
    counts = {"rotated": 0, "skipped": 0}
    tried: set[str] = set()
    start: dict[str, Any] | None = None
    while True:
        page, next_start = repository.due_page(shard, epoch(now), ROTATION_QUERY_PAGE, start)
        fresh = [delivery_id for delivery_id in page if delivery_id not in tried]
        tried.update(fresh)
        for batch_start in range(0, len(fresh), ROTATION_BATCH):
            batch = fresh[batch_start : batch_start + ROTATION_BATCH]
            found = repository.get_many(batch)
            writes = [
                d
                for d in (found.get(i) for i in batch)
                if d is not None and (roll_over(d, now) or erasure.erase_due(d, now))
            ]
            applied = repository.replace_many(writes) if writes else []
            counts["rotated"] += sum(applied)
            counts["skipped"] += len(batch) - sum(applied)
        if next_start is None:
            return counts
        if not fresh:
            start = next_start  # a page of deliveries already tried: step past it


# A delivery still due this long after its day ended was missed by several runs (every 15 minutes): late.
LATE_AFTER = timedelta(hours=1)


def late(shard: str, now: datetime | None = None) -> int:
    """How many deliveries of a shard are still due more than `LATE_AFTER` after their day ended (by the
    clock, not the run's instant: a run that waited in the queue counts what waited with it): what the
    rotation should have done and has not (the rotation lag alarm watches it)."""
    now = now or adapters().clock.now()
    return adapters().deliveries.count_due(shard, epoch(now - LATE_AFTER) - 1)


def roll_over(delivery: DeliveryModel, now: datetime) -> bool:
    """Roll the item in hand over to its next working day (a new code, a fresh per-code budget, the audit
    events), or end it as returned to its sender when it has had its failed attempts or its working days;
    or leave it untouched and answer False when it is not due. Only the caller's write makes it so."""
    if (
        delivery.status not in OPEN_STATES
        or not delivery.code_required
        or delivery.due_at is None
        or int(delivery.life_wrong_attempts) >= life_limit_of(delivery)
        or not has_ended(day_of(delivery), zone_of(delivery), now)
    ):
        return False
    if out_of_chances(delivery, now):
        _return_to_sender(delivery, now)
        return True
    new_day = next_date(delivery, now)
    issue = int(delivery.issue_number) + 1
    issued = issue_code(delivery, issue, new_day)
    scheduler = Actor(audit.SCHEDULER)
    events = [
        audit.event("ROTATED", now, scheduler, issue_number=issue, outcome=f"{delivery.delivery_date} -> {new_day}"),
        audit.event("CODE_ISSUED", now, scheduler, issue_number=issue),
    ]
    delivery.delivery_date = new_day.isoformat()
    delivery.status = SCHEDULED
    delivery.wrong_attempts = 0
    issued.apply(delivery)
    delivery.events = [*delivery.events, *events]
    return True


def out_of_chances(delivery: DeliveryModel, now: datetime) -> bool:
    """The parcel has had its `MaxFailedAttempts` failed attempts, or the `MaxOpenWorkingDays`-th working
    day counted from its first delivery date (that day included; a reschedule or a release counts
    afresh) has ended without a handover."""
    config = settings()
    if int(delivery.failed_attempts or 0) >= config.max_failed_attempts:
        return True
    first = date.fromisoformat(delivery.open_since or delivery.delivery_date)
    last = nth_working_day(
        first,
        config.max_open_working_days,
        country=delivery.country,
        subdivision=delivery.subdivision,
        weekdays=config.weekdays(delivery.country),
    )
    return last is None or has_ended(last, zone_of(delivery), now)


def _return_to_sender(delivery: DeliveryModel, now: datetime) -> None:
    """End the item in hand as RETURNED: no code, no email, no more rotation; it stays in the rotation's
    index only until its personal data is due for erasure."""
    failed = int(delivery.failed_attempts or 0)
    delivery.status = RETURNED
    for name in ("code_valid_until", "code_mac", "code_nonce", "delegate_macs"):
        setattr(delivery, name, None)
    delivery.due_shard, delivery.due_at = erasure_due(delivery.delivery_id, now)
    outcome = f"{failed} failed attempts" if failed >= settings().max_failed_attempts else "working days over"
    delivery.events = [*delivery.events, audit.event("RETURNED", now, Actor(audit.SCHEDULER), outcome=outcome)]
