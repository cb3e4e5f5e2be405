"""Countries, their subdivisions and time zones, from the IANA database (tzdata) and ``holidays``.

A time zone may be left out only where every zone of the country keeps the same local time all year
(IT, DE, FR, GB), because the end of the delivery day must be unambiguous.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo


def _read_tab(name: str) -> list[list[str]]:
    text = resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@cache
def countries() -> frozenset[str]:
    return frozenset(row[0] for row in _read_tab("iso3166.tab"))


@cache
def zones_of(country: str) -> tuple[str, ...]:
    return tuple(row[2] for row in _read_tab("zone.tab") if row[0] == country)


def _offsets(zone: ZoneInfo, start: datetime) -> tuple[timedelta | None, ...]:
    # Every 6 hours over two years catches any DST rule difference between zones.
    return tuple((start + timedelta(hours=6 * i)).astimezone(zone).utcoffset() for i in range(4 * 730))


@cache
def default_zone(country: str) -> str | None:
    """The country's zone when all of its zones agree on local time; otherwise None (must be given)."""
    names = zones_of(country)
    if not names:
        return None
    start = datetime(datetime.now(UTC).year, 1, 1, tzinfo=UTC)
    reference = _offsets(ZoneInfo(names[0]), start)
    if all(_offsets(ZoneInfo(name), start) == reference for name in names[1:]):
        return names[0]
    return None


@cache
def subdivisions_of(country: str) -> frozenset[str] | None:
    """ISO 3166-2 codes (`IT-RM`) the holidays package knows for the country, None if it has none."""
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        return None
    return frozenset(f"{country}-{code}" for code in supported[country])
