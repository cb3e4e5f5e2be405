"""Delivery days: when a local day ends, which days are working days, and which day comes next.

A code lives until the first instant of the next local day at the destination, so every boundary is
computed in the destination's IANA zone (DST-correct through zoneinfo) and compared in UTC.
Public holidays come from the ``holidays`` package, per country and subdivision; a subdivision it has no
calendar for takes that of the nearest subdivision it lies in that has one (see `holiday_region`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from delivery_otp import geo

# A delivery that cannot find a working day within a year points at a broken calendar configuration.
_MAX_SEARCH_DAYS = 400
# Stands for the end of a day that ends past what datetime can hold.
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """First instant (UTC) of the local day after ``day``.

    Local midnight may fall in a DST gap (it then does not exist) or a fold (it happens twice). zoneinfo
    maps a gap to the instant the clocks jump, which is the first instant of the new day, and fold=0 picks
    the first of two midnights; the loop below guards zones with exotic transitions anyway.

    The calendar's last day (``date.max``) has no next day to start: its end, like any end past what
    ``datetime`` can hold, is given as the last instant it can hold, which no clock reaches.
    """
    if day == date.max:
        return END_OF_TIME
    following = day + timedelta(days=1)
    try:
        instant = datetime.combine(following, time(0), tzinfo=zone).astimezone(UTC)
        while instant.astimezone(zone).date() < following:
            instant += timedelta(minutes=15)
        while (instant - timedelta(minutes=15)).astimezone(zone).date() >= following:
            instant -= timedelta(minutes=15)
    except OverflowError:
        return END_OF_TIME
    return instant


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def has_ended(day: date, zone: ZoneInfo, now: datetime) -> bool:
    return now >= end_of_day(day, zone)


@cache
def _holiday_calendar(country: str, subdivision: str | None) -> Any:
    # Imported here: the verify path (a courier at the door) never needs holiday calendars.
    import holidays

    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        # The package has no calendar for this country: only the weekly rest days apply.
        return None


@cache
def holiday_region(country: str, subdivision: str | None) -> str | None:
    """Whose public holidays apply in `subdivision`, as the holidays package names it (`IT-RM` -> `RM`):
    the subdivision's own calendar when the package has one, else that of the nearest subdivision it
    lies in that has one (a province takes its region's: `ES-B` Barcelona -> `CT` Catalonia; `FR-67`
    Bas-Rhin -> `6AE` Alsace), else None: the country's national calendar (`FR-75C` Paris -> `FR-IDF`
    -> none). The package's city calendars (ES "Barcelona", DE "Augsburg") are never chosen."""
    if not subdivision:
        return None
    import holidays

    modelled = set(holidays.list_supported_countries().get(country, ()))
    if subdivision.partition("-")[2] in modelled:
        return subdivision.partition("-")[2]  # its own calendar: no need for the ISO list
    parents = geo.subdivisions_of(country)
    seen: set[str] = set()
    code = subdivision
    while code and code not in seen:
        seen.add(code)
        region = code.partition("-")[2]
        if region in modelled:
            return region
        code = parents.get(code)
    return None


def is_working_day(day: date, country: str, subdivision: str | None, weekdays: frozenset[int]) -> bool:
    if day.weekday() not in weekdays:
        return False
    calendar = _holiday_calendar(country, holiday_region(country, subdivision))
    return calendar is None or day not in calendar


def nth_working_day(
    first: date, n: int, *, country: str, subdivision: str | None, weekdays: frozenset[int]
) -> date | None:
    """The `n`-th working day counted from `first` (that day included when it is one); None when the
    calendar ends first."""
    day, seen = first, 0
    for _ in range(_MAX_SEARCH_DAYS * max(1, n)):
        if is_working_day(day, country, subdivision, weekdays):
            seen += 1
            if seen >= n:
                return day
        if day == date.max:
            return None
        day += timedelta(days=1)
    return None


def next_delivery_date(
    failed_day: date,
    *,
    country: str,
    subdivision: str | None,
    zone: ZoneInfo,
    weekdays: frozenset[int],
    now: datetime,
) -> date:
    """The first working day after ``failed_day`` that has not itself ended at ``now``.

    Skipping days that have already ended is what makes a missed night's rotation catch up: a
    delivery rotated two days late gets a day that can still be delivered, not a dead one.
    """
    day = failed_day
    for _ in range(_MAX_SEARCH_DAYS):
        if day == date.max:
            break  # the calendar ends here: no next day at all
        day += timedelta(days=1)
        if is_working_day(day, country, subdivision, weekdays) and not has_ended(day, zone, now):
            return day
    raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days after {failed_day} in {country}")
