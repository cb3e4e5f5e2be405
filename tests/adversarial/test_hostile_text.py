"""Arbitrary JSON strings in every text field of every route, then every read of that delivery.

Each example sends one route a valid body with one field (or the Idempotency-Key header, or the path's
id) replaced by a string hypothesis draws: unpaired surrogates (valid JSON as `"\\ud800"`, but no
character), NUL and the other control characters, any other character, and strings at the longest
length a field allows and one past it. Whatever it is, the answer is below 500, can be sent as UTF-8,
and, when it refuses the input, names a field of the request; text that is not text (or holds a control
character) in a field that is stored is always refused, naming that field. Then the delivery's state,
code, audit trail and receipt all still read.

In-process against the handlers and moto, as tests/integration; the example count keeps it under half a
minute.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import factories
from tests.support.lambdas import call

pytestmark = pytest.mark.xdist_group("hostile-text")

VERIFY = "POST /deliveries/{id}/verifications"
ATTEMPT = "POST /deliveries/{id}/attempts"
REGISTER = "POST /deliveries"
DELEGATES = "POST /deliveries/{id}/delegates"
COURIER = "PUT /deliveries/{id}/courier"
SCHEDULE = "PUT /deliveries/{id}/schedule"
CANCEL = "POST /deliveries/{id}/cancel"

# Each route's fields (dotted for nested ones) and a valid value of each, so that one hostile field is
# the only thing wrong with a request.
VALID: dict[str, dict[str, str]] = {
    REGISTER: {
        "delivery_id": "",  # filled per example: a fresh id
        "order_id": "402-1234567-1234567",
        "recipient.email": "maria@example.com",
        "recipient.name": "Maria Rossi",
        "recipient.locale": "it-IT",
        "destination.country": "IT",
        "destination.subdivision": "IT-RM",
        "destination.postal_code": "00184",
        "destination.timezone": "Europe/Rome",
        "order_value.amount": "349.90",
        "order_value.currency": "EUR",
        "delivery_date": "2026-11-24",
        "gift_note": "a field nobody reads",
    },
    DELEGATES: {"name": "Marco Bianchi", "email": "marco@example.com", "locale": "it-IT"},
    VERIFY: {"code": "", "courier_id": "c-17", "device_id": "d-9"},  # code: the delivery's own
    ATTEMPT: {"outcome": "RECIPIENT_UNAVAILABLE", "courier_id": "c-17", "device_id": "d-9"},
    COURIER: {"courier_id": "c-17"},
    SCHEDULE: {"delivery_date": "2026-11-25"},
}
# Fields whose text is kept (in the item, its audit trail or an answer): text that is not text, or a
# control character, is refused there. The rest are judged by their own rules (a code, an outcome).
STORED = {
    (REGISTER, field)
    for field in VALID[REGISTER]
    if field not in ("gift_note", "order_value.amount", "order_value.currency", "delivery_date")
} | {(DELEGATES, "name"), (DELEGATES, "email"), (DELEGATES, "locale")}
STORED |= {(route, field) for route in (VERIFY, ATTEMPT) for field in ("courier_id", "device_id")}
STORED |= {(COURIER, "courier_id")}
HEADER = "Idempotency-Key"
PATH = "{id}"
TARGETS = sorted(
    [(route, field) for route, fields in VALID.items() for field in fields]
    + [(route, HEADER) for route in (REGISTER, VERIFY, ATTEMPT, DELEGATES, CANCEL)]
    + [(route, PATH) for route in (VERIFY, ATTEMPT, DELEGATES, COURIER, SCHEDULE, CANCEL)]
)

SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)
CONTROL = st.sampled_from([chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))])
ODD = st.sampled_from(["\u2028", "\ufeff", "\uffff", "\U0010ffff", "\U0001f4e6", ".", "@", "-", "/", "%", " ", '"'])
CHAR = st.one_of(SURROGATE, CONTROL, ODD, st.characters())
# The longest lengths the fields allow (ids, codes, locales, countries, subdivisions, postal codes,
# zones, delivery ids, names, email addresses), and one past each.
LONGEST = [2, 3, 6, 10, 20, 35, 64, 128, 200, 254]


def hostile(valid: str) -> st.SearchStrategy[str]:
    """Any string, the valid value with a character slipped in, or a long run ending in one."""
    slipped = st.builds(lambda at, char: valid[:at] + char + valid[at:], st.integers(0, len(valid)), CHAR)
    longest = st.builds(
        lambda n, past, fill, char: fill * (n + past - 1) + char,
        st.sampled_from(LONGEST),
        st.sampled_from([0, 1]),
        st.sampled_from(["a", "é", "\U0001f4e6"]),
        CHAR,
    )
    return st.one_of(st.text(CHAR, max_size=16), slipped, longest)


def refusable(text: str) -> bool:
    # A high and a low surrogate side by side travel in JSON as one escaped pair, which the server reads
    # as the one character they spell: text as the server receives it.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    return any(0xD800 <= ord(c) <= 0xDFFF or ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)


def with_field(body: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    target = body
    *parents, last = field.split(".")
    for key in parents:
        target = target[key]
    target[last] = value
    return body


def body_of(route: str, code: str) -> dict[str, Any]:
    """A valid body for the route (registration's nested, the others flat)."""
    if route == REGISTER:
        body = factories.registration(delivery_date="2026-11-24")
        body["gift_note"] = VALID[REGISTER]["gift_note"]
        return body
    if route == CANCEL:
        return {}
    return {**VALID[route], **({"code": code} if route == VERIFY else {})}


def assert_clean(route: str, field: str, value: str, status: int, answer: Any) -> None:
    assert status < 500, (route, field, value, answer)
    if status in (400, 422):
        named = answer["error"]["message"].split(":", 1)[0]
        fields = {*VALID.get(route, {}), HEADER, "recipient", "destination", "order_value"}
        assert named in fields or named.startswith("the request body") or field == HEADER, (route, field, answer)
        if (route, field) in STORED and refusable(value):
            assert named == field, (route, field, value, answer)
    elif (route, field) in STORED and refusable(value):
        pytest.fail(f"{route} took {field}={value!r}: {status} {answer}")


def read_back(delivery_id: str) -> None:
    for route in ("/deliveries/{id}", "/deliveries/{id}/code", "/deliveries/{id}/events", "/deliveries/{id}/receipt"):
        status, _, answer = call("GET", route, delivery_id)
        assert status < 500, (route, answer)
        assert status in (200, 404, 409, 410), (route, status, answer)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(target=st.sampled_from(TARGETS), data=st.data())
def test_no_string_in_any_text_field_of_any_route_breaks_an_answer_or_a_delivery(clock, target, data):
    route, field = target
    method, path = route.split(" ")
    registration = factories.registration(delivery_date="2026-11-24")
    delivery_id = registration["delivery_id"]
    if route == REGISTER and field not in (HEADER, PATH):
        valid = delivery_id if field == "delivery_id" else VALID[REGISTER][field]
        value = data.draw(hostile(valid), label="value")
        body = with_field(body_of(REGISTER, ""), field, value)
        status, _, answer = call(method, path, body=body)
        assert_clean(route, field, value, status, answer)
        if status == 201:
            read_back(body["delivery_id"])
            return
    status, _, _ = call("POST", "/deliveries", body=registration)
    assert status == 201
    code = call("GET", "/deliveries/{id}/code", delivery_id)[2]["code"]
    if route == REGISTER:
        registration = factories.registration(delivery_date="2026-11-24")  # another delivery, the same way in
        delivery_id = registration["delivery_id"]
    body = body_of(route, code) if route != REGISTER else registration
    headers: dict[str, str] = {}
    in_path = delivery_id
    if field == HEADER:
        value = data.draw(hostile("0b9f6c2e-8d41-4f3a-b7e5-19c2a6d4e803"), label="value")
        headers = {"idempotency-key": value}
    elif field == PATH:
        value = data.draw(hostile(delivery_id), label="value")
        in_path = value
    else:
        value = data.draw(hostile(VALID[route][field] or code), label="value")
        body = with_field(body, field, value)
    status, _, answer = call(method, path, in_path if PATH in path else None, body or None, headers=headers)
    assert_clean(route, field, value, status, answer)
    read_back(delivery_id)
