"""Which deliveries need a code, and the guessing limits. Amounts are Decimals, never floats."""

from __future__ import annotations

from decimal import Decimal

from delivery_otp.config import Settings

WRONG_CODES_PER_CODE = 5
WRONG_CODES_PER_LIFE = 10
# A held parcel may be released twice, each release granting another life's worth: at most 30 wrong
# codes in any delivery's life.
RELEASES_PER_DELIVERY = 2


def life_limit(releases: int) -> int:
    """The wrong codes a delivery's life may take after `releases` releases from hold."""
    return WRONG_CODES_PER_LIFE * (1 + min(releases, RELEASES_PER_DELIVERY))


def code_required(settings: Settings, *, amount: Decimal, currency: str, country: str, override: bool | None) -> bool:
    if override is not None:
        return override
    threshold = settings.threshold(currency, country)
    # A currency nobody configured is not a reason to hand a valuable parcel over unchecked.
    return threshold is None or amount >= threshold


def wrong_attempts_left(wrong_for_code: int, wrong_for_life: int, life: int = WRONG_CODES_PER_LIFE) -> int:
    """What is left for this code and for the delivery's life (`life`: its limit, see `life_limit`)."""
    return max(0, min(WRONG_CODES_PER_CODE - wrong_for_code, life - wrong_for_life))
