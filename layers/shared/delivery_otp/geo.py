"""Countries, their subdivisions and time zones: countries and zones from the IANA database (tzdata),
subdivisions from pycountry (ISO 3166-2).

A time zone may be left out only where every zone of the country keeps the same local time all year
(IT, DE, FR, GB), because the end of the delivery day must be unambiguous.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Mapping

# The shape of an ISO 3166-2 code: the country, a dash, one to three capital letters or digits.
SUBDIVISION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}", re.ASCII)


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
def subdivisions_of(country: str) -> Mapping[str, str | None]:
    """The country's ISO 3166-2 subdivision codes (`IT-RM`), each with the code of the subdivision it
    lies in (`IT-62`, Lazio), or None at the top. From pycountry, which lists every level (regions,
    provinces, departments, London boroughs...), loaded on first use: the verify path never needs it.

    Codes the holidays package has a calendar under that pycountry's list does not have yet (Norway's
    counties of 2024) are kept, at the top, so a code that has a calendar is never refused."""
    import holidays
    import pycountry

    found: dict[str, str | None] = {
        entry.code: entry.parent_code for entry in pycountry.subdivisions.get(country_code=country) or ()
    }
    for code in holidays.list_supported_countries().get(country, ()):
        # The package also has calendars of a few cities under their names ("Barcelona"): not codes.
        if SUBDIVISION.fullmatch(f"{country}-{code}"):
            found.setdefault(f"{country}-{code}", None)
    return MappingProxyType(found)
