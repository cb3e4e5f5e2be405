"""Checks on what callers send. Every failure names the offending field and answers 4xx.

Written by hand rather than with pydantic: the rules are few, the error shape is the product's own,
and the functions stay light to start (cold start is a courier waiting at a door).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from delivery_otp import geo
from delivery_otp.errors import InvalidInput, MalformedRequest, PayloadTooLarge

MAX_BODY_BYTES = 64 * 1024
# Not only dots: "." and ".." cannot be the {id} of a URL path (clients and proxies resolve them away).
DELIVERY_ID = re.compile(r"(?!\.+$)[A-Za-z0-9._-]{1,64}", re.ASCII)
AMOUNT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,4})?", re.ASCII)
CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)
COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f.]+(\.[^@\s\x00-\x1f\x7f.]+)+")
LOCALE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}", re.ASCII)
COURIER_ID = re.compile(r"[A-Za-z0-9._@+-]{1,128}", re.ASCII)
ATTEMPT_OUTCOMES = frozenset({"RECIPIENT_UNAVAILABLE", "CODE_NOT_PROVIDED", "ACCESS_PROBLEM"})
# Control characters (C0, DEL and C1, NUL included) in no text we keep: they garble logs, emails and
# the receipts people read, and no name, address or id needs one.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def parse_json_object(raw: str | bytes | None) -> dict[str, Any]:
    if raw is None or raw == "" or raw == b"":
        raise MalformedRequest("the request body is empty; a JSON object is expected")
    if _size(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest("the request body is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise MalformedRequest("the request body must be a JSON object")
    _refuse_non_text(parsed)
    return parsed


def _size(raw: str | bytes) -> int:
    """Bytes on the wire (the limit is in bytes, and a character may take four)."""
    if isinstance(raw, bytes) or raw.isascii():
        return len(raw)
    return len(raw.encode("utf-8", "surrogatepass"))


def unencodable(text: str) -> str | None:
    """The first character UTF-8 cannot carry, or None. JSON can spell an unpaired surrogate
    (`"\\ud800"`), but it is no character: it could be neither stored nor sent back."""
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _not_text(field: str, char: str) -> InvalidInput:
    return InvalidInput(field, f"must be Unicode text: \\u{ord(char):04x} is an unpaired surrogate, not a character")


def _refuse_non_text(body: dict[str, Any]) -> None:
    """Every string of the body, field names and fields nobody reads included (a request's fingerprint
    covers all of it), must be text UTF-8 can carry. The offending field is named by its path."""
    pending: list[tuple[str, Any]] = [("", body)]
    while pending:  # iterative: a body nests as deep as JSON lets it
        path, value = pending.pop()
        if isinstance(value, str):
            if (char := unencodable(value)) is not None:
                raise _not_text(path, char)
        elif isinstance(value, dict):
            for key, item in value.items():
                name = key.encode("utf-8", "backslashreplace").decode()
                name = f"{path}.{name}" if path else name
                if (char := unencodable(key)) is not None:
                    raise _not_text(name, char)
                pending.append((name, item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))


def is_delivery_id(value: object) -> bool:
    return isinstance(value, str) and DELIVERY_ID.fullmatch(value) is not None


def _object(body: dict[str, Any], field: str, *, required: bool) -> dict[str, Any]:
    value = body.get(field)
    if value is None:
        if required:
            raise InvalidInput(field, "is required")
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be a JSON object")
    return value


def _string(obj: dict[str, Any], key: str, field: str, *, required: bool, max_length: int = 256) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidInput(field, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if required and not value.strip():
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    if (char := unencodable(value)) is not None:
        raise _not_text(field, char)
    if CONTROL.search(value):
        raise InvalidInput(field, "must not contain control characters")
    return value


def parse_date(value: object, field: str) -> date:
    if not isinstance(value, str) or ISO_DATE.fullmatch(value) is None:
        raise InvalidInput(field, "must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(field, f"{value} is not a calendar date") from exc


@dataclass(frozen=True)
class Registration:
    delivery_id: str
    order_id: str
    email: str
    recipient_name: str | None
    locale: str
    country: str
    subdivision: str | None
    postal_code: str | None
    timezone: str
    amount: str
    currency: str
    delivery_date: date
    require_code: bool | None
    request_hash: str


def request_fingerprint(body: dict[str, Any]) -> str:
    """Equal JSON, equal fingerprint: key order and white space do not make a request different."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a body handed in directly (not through parse_json_object) still gets a fingerprint.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def parse_registration(body: dict[str, Any]) -> Registration:  # noqa: C901 - one check per field, in field order
    delivery_id = body.get("delivery_id")
    if delivery_id is None:
        raise InvalidInput("delivery_id", "is required")
    if not is_delivery_id(delivery_id):
        raise InvalidInput("delivery_id", "must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-', and not only dots")
    order_id = _string(body, "order_id", "order_id", required=True, max_length=128)

    recipient = _object(body, "recipient", required=True)
    email = _string(recipient, "email", "recipient.email", required=True, max_length=254)
    if email is None or EMAIL.fullmatch(email) is None:
        raise InvalidInput("recipient.email", "is not an e-mail address")
    name = _string(recipient, "name", "recipient.name", required=False, max_length=200)
    locale = _string(recipient, "locale", "recipient.locale", required=False, max_length=35) or "en"
    if LOCALE.fullmatch(locale) is None:
        raise InvalidInput("recipient.locale", "must be a language tag such as it-IT")

    destination = _object(body, "destination", required=True)
    country = _string(destination, "country", "destination.country", required=True, max_length=2)
    if country is None or COUNTRY.fullmatch(country) is None or country not in geo.countries():
        raise InvalidInput("destination.country", "must be an ISO 3166-1 alpha-2 country code such as IT")
    subdivision = _string(destination, "subdivision", "destination.subdivision", required=False, max_length=10)
    if subdivision is not None:
        if geo.SUBDIVISION.fullmatch(subdivision) is None or subdivision not in geo.subdivisions_of(country):
            raise InvalidInput("destination.subdivision", f"must be an ISO 3166-2 subdivision of {country}")
    postal_code = _string(destination, "postal_code", "destination.postal_code", required=False, max_length=20)
    zone = _string(destination, "timezone", "destination.timezone", required=False, max_length=64)
    if zone is None:
        zone = geo.default_zone(country)
        if zone is None:
            raise InvalidInput(
                "destination.timezone", f"is required for {country}: its regions keep different local times"
            )
    elif zone not in geo.zones_of(country):
        raise InvalidInput("destination.timezone", f"must be an IANA time zone of {country}")

    order_value = _object(body, "order_value", required=True)
    amount = order_value.get("amount")
    if amount is None:
        raise InvalidInput("order_value.amount", "is required")
    if not isinstance(amount, str):
        raise InvalidInput("order_value.amount", 'must be a decimal string such as "349.90", not a number')
    if AMOUNT.fullmatch(amount) is None or len(amount) > 24:
        raise InvalidInput("order_value.amount", 'must be a decimal string such as "349.90"')
    currency = order_value.get("currency")
    if currency is None:
        raise InvalidInput("order_value.currency", "is required")
    if not isinstance(currency, str) or CURRENCY.fullmatch(currency) is None:
        raise InvalidInput("order_value.currency", "must be an ISO 4217 code of three capital letters")

    if body.get("delivery_date") is None:
        raise InvalidInput("delivery_date", "is required")
    delivery_date = parse_date(body.get("delivery_date"), "delivery_date")

    require_code = body.get("require_code")
    if require_code is not None and not isinstance(require_code, bool):
        raise InvalidInput("require_code", "must be true or false")

    return Registration(
        delivery_id=delivery_id,
        order_id=order_id or "",
        email=email,
        recipient_name=name,
        locale=locale,
        country=country,
        subdivision=subdivision,
        postal_code=postal_code,
        timezone=zone,
        amount=amount,
        currency=currency,
        delivery_date=delivery_date,
        require_code=require_code,
        request_hash=request_fingerprint(body),
    )


def parse_delegate(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """A trusted person: a name (the receipt names them), an address, and a language (None: the
    recipient's, since a person one trusts with a parcel most often shares it)."""
    name = _string(body, "name", "name", required=True, max_length=200)
    email = _string(body, "email", "email", required=True, max_length=254)
    if email is None or EMAIL.fullmatch(email) is None:
        raise InvalidInput("email", "is not an e-mail address")
    locale = _string(body, "locale", "locale", required=False, max_length=35)
    if locale is not None and LOCALE.fullmatch(locale) is None:
        raise InvalidInput("locale", "must be a language tag such as it-IT")
    return name or "", email, locale


def optional_id(body: dict[str, Any], key: str) -> str | None:
    return _string(body, key, key, required=False, max_length=128)
