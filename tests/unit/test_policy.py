"""Who needs a code, the attempt budgets, and configuration read from the environment."""

from decimal import Decimal

import pytest
from delivery_otp import policy
from delivery_otp.config import ConfigurationError, Settings, _thresholds, _working_days, parse_weekdays, settings

SETTINGS = Settings(
    table_name="t",
    code_key_secret_id="s",
    email_sender="e@example.com",
    code_thresholds=_thresholds('{"EUR": "300", "EUR:DE": "500", "GBP": "250.50"}'),
    working_days=_working_days('{"DE": "MON-FRI"}'),
)


@pytest.mark.parametrize(
    ("amount", "currency", "country", "override", "expected"),
    [
        ("300", "EUR", "IT", None, True),  # at the threshold
        ("299.9999", "EUR", "IT", None, False),
        ("499.99", "EUR", "DE", None, False),  # per-country threshold
        ("500", "EUR", "DE", None, True),
        ("250.50", "GBP", "GB", None, True),
        ("0", "JPY", "JP", None, True),  # no threshold configured: a code is required
        ("10", "EUR", "IT", True, True),
        ("10000", "EUR", "IT", False, False),
    ],
)
def test_code_required(amount, currency, country, override, expected):
    assert (
        policy.code_required(SETTINGS, amount=Decimal(amount), currency=currency, country=country, override=override)
        is expected
    )


def test_attempts_left_is_the_smaller_budget():
    assert policy.wrong_attempts_left(0, 0) == 5
    assert policy.wrong_attempts_left(2, 8) == 2
    assert policy.wrong_attempts_left(4, 4) == 1
    assert policy.wrong_attempts_left(5, 5) == 0
    assert policy.wrong_attempts_left(0, 10) == 0


def test_working_days_parse_ranges_and_lists():
    assert parse_weekdays("MON-SAT") == frozenset(range(6))
    assert parse_weekdays("MON,WED,FRI") == frozenset({0, 2, 4})
    assert SETTINGS.weekdays("DE") == frozenset(range(5))
    assert SETTINGS.weekdays("IT") == frozenset(range(6))
    with pytest.raises(ValueError):
        parse_weekdays("FUNDAY")


def test_missing_configuration_is_an_error_not_a_silent_default(monkeypatch):
    monkeypatch.delenv("TABLE_NAME", raising=False)
    settings.cache_clear()
    with pytest.raises(ConfigurationError):
        settings()
    settings.cache_clear()


def test_malformed_thresholds_are_refused():
    with pytest.raises(ConfigurationError):
        _thresholds("[1, 2]")
    with pytest.raises(ConfigurationError):
        _thresholds('{"EUR": "lots"}')
