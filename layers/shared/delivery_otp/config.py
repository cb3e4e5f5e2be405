"""Configuration from the function's environment, read once on first use and checked then.

Nothing is read at import: the local stack and the tests set the environment before the first call.
A missing required variable is an error, not a silent default.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache

DEFAULT_THRESHOLDS = {"EUR": "300", "GBP": "300", "CHF": "300", "USD": "300"}
DEFAULT_WORKING_DAYS = "MON-SAT"
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class ConfigurationError(RuntimeError):
    pass


def parse_weekdays(spec: str) -> frozenset[int]:
    """`MON-SAT`, `MON-FRI`, `MON,TUE,THU`: the weekdays (0 = Monday) deliveries go out."""
    days: set[int] = set()
    for part in spec.upper().replace(" ", "").split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            start, end = WEEKDAYS.index(first), WEEKDAYS.index(last)
            days.update(range(start, end + 1))
        elif part:
            days.add(WEEKDAYS.index(part))
    if not days:
        raise ConfigurationError(f"no working days in {spec!r}")
    return frozenset(days)


@dataclass(frozen=True)
class Settings:
    table_name: str
    code_key_secret_id: str
    email_sender: str
    # Order value at or above which a code is required, per currency, optionally per country
    # ("EUR" or "EUR:IT"); a currency with none configured always requires a code.
    code_thresholds: dict[str, Decimal] = field(default_factory=dict)
    # Working weekdays per country ("default" for the rest), holidays come from `holidays`.
    working_days: dict[str, frozenset[int]] = field(default_factory=dict)
    rotation_shards: int = 16
    retention_days: int = 400
    # Days after a delivery ended (delivered, cancelled, on hold) until its personal data is erased.
    personal_data_retention_days: int = 90
    max_days_ahead: int = 366
    # A parcel goes back to its sender after this many failed attempts, or once this many working days
    # from its first delivery date have ended without a handover.
    max_failed_attempts: int = 3
    max_open_working_days: int = 10
    # Where AWS is: the Lambda runtime sets the region; an endpoint is set only by the local stack and tests.
    region: str | None = None
    dynamodb_endpoint: str | None = None
    # Each of these is given only to the functions that use it (see template.yaml): `need` reads them.
    code_email_template: str | None = None
    code_email_configuration_set: str | None = None
    receipt_key_secret_id: str | None = None
    rotation_queue_url: str | None = None
    event_bus_name: str | None = None
    webhook_secret_key_id: str | None = None
    webhook_delivery_queue_url: str | None = None
    webhook_dead_letter_queue_url: str | None = None
    # Where the links people open point (the recipient's page, the courier app's sign-in callback), no
    # trailing slash: the shop's own domain when set, else the API's address.
    public_base_url: str | None = None
    # The courier app's sign-in: the couriers' hosted UI (empty: the app's own address serves it, as the
    # local stack does), its app client and the scopes it asks for.
    courier_signin_url: str | None = None
    # The courier app's own address behind the shop's domain (the template's PublicBaseUrl, path included):
    # the sign-in returns there. Unset: the address the app was opened at.
    courier_app_base_url: str | None = None
    courier_app_client_id: str | None = None
    courier_signin_scopes: str | None = None
    # Only the local stack turns this on: webhooks may then also go to http://127.0.0.1:PORT.
    webhook_allow_local_http: bool = False

    def threshold(self, currency: str, country: str) -> Decimal | None:
        return self.code_thresholds.get(f"{currency}:{country}", self.code_thresholds.get(currency))

    def weekdays(self, country: str) -> frozenset[int]:
        return self.working_days.get(country, self.working_days["default"])

    def need(self, name: str) -> str:
        """A setting only some functions are given: missing where it is needed is a configuration error,
        named by its environment variable, never a silent default."""
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"environment variable {name.upper()} is not set")
        return str(value)


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _optional(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _flag(name: str) -> bool:
    raw = (_optional(name) or "false").lower()
    if raw not in ("true", "false"):
        raise ConfigurationError(f"environment variable {name} must be true or false, not {raw!r}")
    return raw == "true"


def _thresholds(raw: str) -> dict[str, Decimal]:
    try:
        parsed = json.loads(raw)
        return {str(k).upper(): Decimal(str(v)) for k, v in parsed.items()}
    except (ValueError, AttributeError, InvalidOperation) as exc:
        raise ConfigurationError(f"CODE_THRESHOLDS is not a JSON object of amounts: {raw!r}") from exc


def _working_days(raw: str) -> dict[str, frozenset[int]]:
    try:
        parsed = json.loads(raw)
        days = {str(k).upper() if k != "default" else "default": parse_weekdays(v) for k, v in parsed.items()}
    except (ValueError, AttributeError) as exc:
        raise ConfigurationError(f"WORKING_DAYS is not a JSON object of weekday ranges: {raw!r}") from exc
    days.setdefault("default", parse_weekdays(DEFAULT_WORKING_DAYS))
    return days


@cache
def settings() -> Settings:
    return Settings(
        table_name=_required("TABLE_NAME"),
        code_key_secret_id=_required("CODE_KEY_SECRET_ID"),
        email_sender=_required("EMAIL_SENDER"),
        code_thresholds=_thresholds(os.environ.get("CODE_THRESHOLDS") or json.dumps(DEFAULT_THRESHOLDS)),
        working_days=_working_days(os.environ.get("WORKING_DAYS") or "{}"),
        rotation_shards=int(os.environ.get("ROTATION_SHARDS") or 16),
        retention_days=int(os.environ.get("RETENTION_DAYS") or 400),
        personal_data_retention_days=int(os.environ.get("PERSONAL_DATA_RETENTION_DAYS") or 90),
        max_failed_attempts=int(os.environ.get("MAX_FAILED_ATTEMPTS") or 3),
        max_open_working_days=int(os.environ.get("MAX_OPEN_WORKING_DAYS") or 10),
        region=_optional("AWS_REGION") or _optional("AWS_DEFAULT_REGION"),
        dynamodb_endpoint=_optional("AWS_ENDPOINT_URL_DYNAMODB") or _optional("AWS_ENDPOINT_URL"),
        code_email_template=_optional("CODE_EMAIL_TEMPLATE"),
        code_email_configuration_set=_optional("CODE_EMAIL_CONFIGURATION_SET"),
        receipt_key_secret_id=_optional("RECEIPT_KEY_SECRET_ID"),
        rotation_queue_url=_optional("ROTATION_QUEUE_URL"),
        event_bus_name=_optional("EVENT_BUS_NAME"),
        webhook_secret_key_id=_optional("WEBHOOK_SECRET_KEY_ID"),
        webhook_delivery_queue_url=_optional("WEBHOOK_DELIVERY_QUEUE_URL"),
        webhook_dead_letter_queue_url=_optional("WEBHOOK_DEAD_LETTER_QUEUE_URL"),
        public_base_url=(_optional("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        webhook_allow_local_http=_flag("WEBHOOK_ALLOW_LOCAL_HTTP"),
        courier_signin_url=(_optional("COURIER_SIGNIN_URL") or "").rstrip("/") or None,
        courier_app_base_url=(_optional("COURIER_APP_BASE_URL") or "").rstrip("/") or None,
        courier_app_client_id=_optional("COURIER_APP_CLIENT_ID"),
        courier_signin_scopes=_optional("COURIER_SIGNIN_SCOPES"),
    )
