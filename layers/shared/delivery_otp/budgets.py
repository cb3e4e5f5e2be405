"""The courier's guessing budget: 20 wrong codes in any rolling 24 hours, across all deliveries.

The log of the last wrong codes lives in DynamoDB (never in memory) and is replaced by one
conditional write on its version, so concurrent guesses from many devices cannot overrun it.
"""

from __future__ import annotations

import math

WRONG_CODES_PER_COURIER = 20
WINDOW_SECONDS = 24 * 3600


def recent(log: list[int], now: float) -> list[int]:
    return [int(t) for t in log if t > now - WINDOW_SECONDS]


def after_wrong_code(log: list[int], now: float) -> tuple[list[int], int | None]:
    """The new log, and until when the courier is blocked if this wrong code used up the budget.

    Blocked until the oldest of the last 20 wrong codes leaves the 24-hour window: only then may a
    21st fall inside any window."""
    entries = [*recent(log, now), int(now)][-WRONG_CODES_PER_COURIER:]
    if len(entries) >= WRONG_CODES_PER_COURIER:
        return entries, entries[0] + WINDOW_SECONDS
    return entries, None


def retry_after(blocked_until: float, now: float) -> int:
    return max(1, math.ceil(blocked_until - now))
