"""Which deliveries need a code, and the guessing limits. Amounts are Decimals, never floats."""

from __future__ import annotations

from decimal import Decimal

from delivery_otp.config import Settings

WRONG_CODES_PER_CODE = 5
WRONG_CODES_PER_LIFE = 10


def code_required(settings: Settings, *, amount: Decimal, currency: str, country: str, override: bool | None) -> bool:
    if override is not None:
        return override
    threshold = settings.threshold(currency, country)
    # A currency nobody configured is not a reason to hand a valuable parcel over unchecked.
    return threshold is None or amount >= threshold


def wrong_attempts_left(wrong_for_code: int, wrong_for_life: int) -> int:
    return max(0, min(WRONG_CODES_PER_CODE - wrong_for_code, WRONG_CODES_PER_LIFE - wrong_for_life))
