"""The end of a local delivery day and the next working day: DST, zones and holidays."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from delivery_otp import geo
from delivery_otp.calendar import end_of_day, has_ended, holiday_region, is_working_day, next_delivery_date
from delivery_otp.config import parse_weekdays
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.imports import modules_loaded_by

MON_SAT = parse_weekdays("MON-SAT")
ROME = ZoneInfo("Europe/Rome")
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@settings(max_examples=300, deadline=None)
@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2037, 12, 31)), zone=st.sampled_from(ZONES))
def test_end_of_day_is_the_first_instant_of_the_next_local_day(day, zone):
    tz = ZoneInfo(zone)
    end = end_of_day(day, tz)
    assert end.tzinfo is not None
    assert end.astimezone(tz).date() == day + timedelta(days=1)
    # one second earlier it is still the delivery day (or earlier, across a backward jump)
    assert (end - timedelta(seconds=1)).astimezone(tz).date() <= day


def test_end_of_day_in_rome_follows_summer_time():
    # Europe/Rome moves to summer time on 2027-03-28.
    assert end_of_day(date(2027, 3, 27), ROME) == datetime(2027, 3, 27, 23, 0, tzinfo=UTC)
    assert end_of_day(date(2027, 3, 28), ROME) == datetime(2027, 3, 28, 22, 0, tzinfo=UTC)
    assert end_of_day(date(2026, 11, 23), ROME) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)


def test_midnight_that_does_not_exist_ends_the_day_when_the_clocks_jump():
    # America/Santiago skips 00:00-01:00 when summer time starts (2026-09-06).
    santiago = ZoneInfo("America/Santiago")
    end = end_of_day(date(2026, 9, 5), santiago)
    assert end.astimezone(santiago).date() == date(2026, 9, 6)
    assert (end - timedelta(seconds=1)).astimezone(santiago).date() == date(2026, 9, 5)


def test_has_ended_at_local_midnight_exactly():
    end = end_of_day(date(2026, 11, 23), ROME)
    assert not has_ended(date(2026, 11, 23), ROME, end - timedelta(microseconds=1))
    assert has_ended(date(2026, 11, 23), ROME, end)


def test_sundays_and_national_holidays_are_not_working_days():
    assert not is_working_day(date(2026, 11, 29), "IT", None, MON_SAT)  # Sunday
    assert is_working_day(date(2026, 11, 28), "IT", None, MON_SAT)  # Saturday
    assert not is_working_day(date(2026, 12, 25), "IT", None, MON_SAT)
    assert not is_working_day(date(2026, 12, 26), "DE", None, MON_SAT)


def test_subdivision_holidays_count_only_where_they_apply():
    assert not is_working_day(date(2027, 1, 6), "DE", "DE-BY", MON_SAT)
    assert is_working_day(date(2027, 1, 6), "DE", "DE-BE", MON_SAT)


@pytest.mark.parametrize(
    ("country", "subdivision", "region"),
    [
        ("IT", "IT-RM", "RM"),  # a calendar of its own
        ("DE", "DE-BY", "BY"),
        ("IT", "IT-MI", "MI"),
        ("ES", "ES-B", "CT"),  # a province takes its region's
        ("GB", "GB-LND", "ENG"),
        ("GB", "GB-EDH", "SCT"),
        ("FR", "FR-67", "6AE"),  # Bas-Rhin takes Alsace's
        ("FR", "FR-75C", None),  # Paris -> Ile-de-France -> none: the national calendar
        ("FR", "FR-IDF", None),
        ("IT", "IT-25", None),  # a region does not take its provinces' calendars
        ("IT", None, None),
    ],
)
def test_the_calendar_of_a_subdivision_is_its_own_or_the_nearest_one_up(country, subdivision, region):
    assert holiday_region(country, subdivision) == region


@pytest.mark.parametrize(
    ("day", "country", "holiday_in", "working_in"),
    [
        # Sant Joan, a Catalan holiday: in the province of Barcelona, not in that of Madrid
        (date(2027, 6, 24), "ES", ["ES-B", "ES-CT"], ["ES-M", "ES-MD"]),
        # the summer bank holidays of England and of Scotland
        (date(2027, 8, 30), "GB", ["GB-LND", "GB-MAN", "GB-ENG"], ["GB-EDH", "GB-SCT"]),
        (date(2027, 8, 2), "GB", ["GB-EDH", "GB-SCT"], ["GB-LND", "GB-ENG"]),
        # St Stephen's Day, kept in Alsace (Bas-Rhin, Haut-Rhin) and Moselle, not in Paris
        (date(2026, 12, 26), "FR", ["FR-67", "FR-68", "FR-6AE", "FR-57"], ["FR-75C", "FR-IDF"]),
        # Sant'Ambrogio, Milan's: not Lombardia's as a whole
        (date(2026, 12, 7), "IT", ["IT-MI"], ["IT-25", "IT-RM"]),
    ],
)
def test_a_regions_holiday_is_kept_in_the_subdivisions_within_it(day, country, holiday_in, working_in):
    assert day.weekday() in MON_SAT
    assert [s for s in holiday_in if is_working_day(day, country, s, MON_SAT)] == []
    assert [s for s in working_in if not is_working_day(day, country, s, MON_SAT)] == []


def _inheriting(*countries: str) -> list[tuple[str, str]]:
    """(subdivision, its parent) where the holiday calendars have none of the subdivision's own."""
    import holidays

    return sorted(
        (code, parent)
        for country in countries
        for code, parent in geo.subdivisions_of(country).items()
        if parent is not None and code.partition("-")[2] not in holidays.list_supported_countries()[country]
    )


@settings(max_examples=300, deadline=None)
@given(
    child=st.sampled_from(_inheriting("IT", "FR", "ES", "GB", "DE")),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
)
def test_a_subdivision_without_a_calendar_works_the_days_its_parent_works(child, day):
    code, parent = child
    country = code[:2]
    assert is_working_day(day, country, code, MON_SAT) == is_working_day(day, country, parent, MON_SAT)


def test_next_delivery_date_skips_sunday_and_christmas():
    now = datetime(2026, 12, 24, 23, 30, tzinfo=UTC)  # 00:30 on the 25th in Rome
    nxt = next_delivery_date(date(2026, 12, 24), country="IT", subdivision=None, zone=ROME, weekdays=MON_SAT, now=now)
    assert nxt == date(2026, 12, 28)  # 25th and 26th holidays, 27th Sunday


def test_next_delivery_date_catches_up_days_that_already_ended():
    # The rotation missed three nights: the next date is one that can still be delivered.
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    nxt = next_delivery_date(date(2026, 11, 23), country="IT", subdivision=None, zone=ROME, weekdays=MON_SAT, now=now)
    assert nxt == date(2026, 11, 26)


def test_working_days_are_configurable_per_country():
    mon_fri = parse_weekdays("MON-FRI")
    now = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    nxt = next_delivery_date(date(2026, 11, 27), country="IT", subdivision=None, zone=ROME, weekdays=mon_fri, now=now)
    assert nxt == date(2026, 11, 30)


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
    late_hours=st.integers(min_value=0, max_value=24 * 6),
    country_zone=st.sampled_from(
        [
            ("IT", "Europe/Rome"),
            ("DE", "Europe/Berlin"),
            ("US", "America/Los_Angeles"),
            ("GB", "Europe/London"),
            ("ES", "Atlantic/Canary"),
        ]
    ),
)
def test_next_delivery_date_is_a_working_day_after_the_failed_day_that_has_not_ended(day, late_hours, country_zone):
    country, zone_name = country_zone
    zone = ZoneInfo(zone_name)
    now = end_of_day(day, zone) + timedelta(hours=late_hours)
    nxt = next_delivery_date(day, country=country, subdivision=None, zone=zone, weekdays=MON_SAT, now=now)
    assert nxt > day
    assert is_working_day(nxt, country, None, MON_SAT)
    assert not has_ended(nxt, zone, now)
    # and it is the first such day
    probe = day + timedelta(days=1)
    while probe < nxt:
        assert not is_working_day(probe, country, None, MON_SAT) or has_ended(probe, zone, now)
        probe += timedelta(days=1)


def test_the_verify_function_imports_no_holiday_calendars_subdivisions_catalogs_or_templates():
    # The courier waits at the door through the verify function's cold start: geo data, the wording's
    # catalogs and the email and page templates load elsewhere.
    forbidden = ("pycountry", "holidays", "jinja2", "markupsafe", "babel", "delivery_otp.wording")
    forbidden += ("delivery_otp.email_render", "delivery_otp.alert_render", "delivery_otp.notifications")
    assert modules_loaded_by("verify", forbidden) == set()


@settings(max_examples=100, deadline=None)
@given(
    day=st.dates(min_value=date.max - timedelta(days=3)),
    zone=st.sampled_from(["Pacific/Kiritimati", "Etc/GMT+12", "Europe/Rome", "America/Los_Angeles", "UTC"]),
)
def test_the_last_days_of_the_calendar_end_without_overflowing(day, zone):
    tz = ZoneInfo(zone)
    end = end_of_day(day, tz)
    assert end.tzinfo is not None
    assert not has_ended(day, tz, datetime(2026, 11, 23, tzinfo=UTC))
    if day < date.max:
        assert end <= end_of_day(day + timedelta(days=1), tz)


def test_no_working_day_after_the_end_of_the_calendar_is_a_plain_error():
    now = datetime(2026, 11, 23, tzinfo=UTC)
    for failed_day in (date.max, date.max - timedelta(days=1)):
        with pytest.raises(ValueError, match="no working day"):
            next_delivery_date(failed_day, country="IT", subdivision=None, zone=ROME, weekdays=frozenset(), now=now)
