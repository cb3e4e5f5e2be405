"""The courier's guessing budget: 20 wrong codes in any rolling 24 hours, across all deliveries.

The courier's item holds the instants of its wrong codes, newest first. Prepending is a blind write
(no read needed), and the rule is a condition on one fixed position: a courier is blocked exactly
when its 20th most recent wrong code is less than 24 hours old. So a wrong code is counted in the
same request as the delivery's counters, and concurrent guesses from many devices cannot overrun it:
each write is judged against the list as it is at that instant.

The list is capped at `KEPT` entries by the same condition; the wrong code that would pass the cap
(at most once every 20 wrong codes) and the one that blocks the courier (so the block is recorded
and measured as it happens) take one more request, with the list read and replaced exactly.
"""

from __future__ import annotations

import math

WRONG_CODES_PER_COURIER = 20
WINDOW_SECONDS = 24 * 3600
KEPT = 2 * WRONG_CODES_PER_COURIER


def window_start(now: float) -> int:
    """Wrong codes at or before this instant no longer count."""
    return math.floor(now) - WINDOW_SECONDS


def blocked_until(log: list[int], now: float) -> int | None:
    """Until when a courier with this log (newest first) is refused, or None when it is not."""
    if len(log) >= WRONG_CODES_PER_COURIER and log[WRONG_CODES_PER_COURIER - 1] > window_start(now):
        return int(log[WRONG_CODES_PER_COURIER - 1]) + WINDOW_SECONDS
    return None


def after_wrong_code(log: list[int], now: float) -> tuple[list[int], int | None]:
    """The log to store (old entries dropped, this one first) and, if this wrong code used up the
    budget, until when the courier is blocked."""
    entries = [int(now), *(int(t) for t in log if t > window_start(now))][:WRONG_CODES_PER_COURIER]
    return entries, blocked_until(entries, now)


def retry_after(until: float, now: float) -> int:
    return max(1, math.ceil(until - now))
