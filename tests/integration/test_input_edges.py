"""Input at the edges, through the handlers: text that is not text, the last days of the calendar, bodies
over the limit, ids a URL cannot carry, and what a courier is told when the delivery is not theirs."""

from __future__ import annotations

import pytest

from tests.support import factories
from tests.support.lambdas import answer, call, http_event, invoke

VERIFY = "/deliveries/{id}/verifications"
ATTEMPT = "/deliveries/{id}/attempts"
SURROGATE = "\ud800"


def registered(**overrides) -> tuple[str, str]:
    body = factories.registration(**overrides)
    status, _, _ = call("POST", "/deliveries", body=body)
    assert status == 201
    delivery_id = body["delivery_id"]
    return delivery_id, call("GET", "/deliveries/{id}/code", delivery_id)[2]["code"]


def trail(delivery_id: str) -> list[dict]:
    status, _, body = call("GET", "/deliveries/{id}/events", delivery_id)
    assert status == 200
    return body["events"]


# --- text that cannot be stored or sent back as UTF-8 -----------------------------------------------


@pytest.mark.parametrize(
    ("route", "payload", "field"),
    [
        (VERIFY, '{"code": "000000", "device_id": "d-\\ud800"}', "device_id"),
        (VERIFY, '{"code": "000000", "courier_id": "c-\\udc17"}', "courier_id"),
        (VERIFY, '{"code": "00000\\ud800"}', "code"),
        (ATTEMPT, '{"outcome": "ACCESS_PROBLEM", "device_id": "d-\\ud800"}', "device_id"),
        (ATTEMPT, '{"outcome": "ACCESS_PROBLEM", "courier_id": "\\udfff"}', "courier_id"),
    ],
)
def test_a_courier_device_sending_an_unpaired_surrogate_is_refused_before_anything_is_written(
    clock, route, payload, field
):
    delivery_id, code = registered()
    status, _, refused = call("POST", route, delivery_id, payload)
    assert status == 422 and refused["error"]["message"].startswith(f"{field}:")
    assert [e["type"] for e in trail(delivery_id)] == ["REGISTERED", "CODE_ISSUED"]
    state = call("GET", "/deliveries/{id}", delivery_id)[2]
    assert state["status"] == "SCHEDULED" and state["wrong_attempts_left"] == 5
    # The delivery's evidence is intact and it is still delivered as usual.
    assert call("POST", VERIFY, delivery_id, {"code": code, "device_id": "d-9"})[0] == 200
    assert call("GET", "/deliveries/{id}/receipt", delivery_id)[0] == 200


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("POST /deliveries", {"order_id": SURROGATE}, "order_id"),
        (
            "POST /deliveries",
            {"recipient": {"email": "maria@example.com", "name": f"Maria{SURROGATE}"}},
            "recipient.name",
        ),
        ("POST /deliveries", {"destination": {"country": "IT", "postal_code": SURROGATE}}, "destination.postal_code"),
        ("POST /deliveries", {"gift_note": f"for {SURROGATE}"}, "gift_note"),
        ("POST /deliveries/{id}/delegates", {"name": SURROGATE, "email": "marco@example.com"}, "name"),
        (
            "POST /deliveries/{id}/delegates",
            {"name": "Marco", "email": "marco@example.com", "locale": SURROGATE},
            "locale",
        ),
        ("PUT /deliveries/{id}/courier", {"courier_id": SURROGATE}, "courier_id"),
        ("PUT /deliveries/{id}/schedule", {"delivery_date": f"2026-11-24{SURROGATE}"}, "delivery_date"),
    ],
)
def test_storefront_text_with_an_unpaired_surrogate_is_bad_input_naming_the_field(clock, route, body, field):
    method, path = route.split(" ")
    if path == "/deliveries":
        status, _, refused = call(method, path, body=factories.registration() | body)
    else:
        delivery_id, _ = registered()
        status, _, refused = call(method, path, delivery_id, body)
        assert [e["type"] for e in trail(delivery_id)] == ["REGISTERED", "CODE_ISSUED"]
    assert status == 422 and refused["error"]["message"].startswith(f"{field}:"), refused


def test_header_and_path_text_that_is_not_text_is_a_clean_4xx(clock):
    delivery_id, _ = registered()
    status, _, refused = call(
        "POST", VERIFY, delivery_id, {"code": "000000"}, headers={"idempotency-key": f"k-{SURROGATE}"}
    )
    assert status == 400 and "Idempotency-Key" in refused["error"]["message"]
    # An id no delivery can have, with an Idempotency-Key that makes the request fingerprinted first.
    status, _, unknown = call(
        "POST", "/deliveries/{id}/cancel", f"IT-{SURROGATE}", headers={"idempotency-key": "cancel-1"}
    )
    assert status == 404 and unknown["error"]["code"] == "NOT_FOUND"


def test_a_trail_stored_by_earlier_versions_with_an_unpaired_surrogate_still_reads_and_signs(clock, table):
    delivery_id, code = registered()
    call("POST", VERIFY, delivery_id, {"code": f"{(int(code) + 1) % 1_000_000:06d}", "device_id": "d-9"})
    assert call("POST", VERIFY, delivery_id, {"code": code, "device_id": "d-9"})[0] == 200
    # Earlier versions stored a device_id "d-\ud800" as they were sent it: a JSON escape in the event.
    key = {"pk": f"D#{delivery_id}"}
    stored = table.get_item(Key=key)["Item"]["events"]
    table.update_item(
        Key=key,
        UpdateExpression="SET events = :events",
        ExpressionAttributeValues={":events": [e.replace('"d-9"', '"d-\\ud800"') for e in stored]},
    )
    devices = [e["actor"]["device_id"] for e in trail(delivery_id) if e["actor"]["device_id"]]
    assert devices == ["d-\ufffd", "d-\ufffd", "d-\ufffd"]  # the wrong code, the right one, the handover
    status, _, receipt = call("GET", "/deliveries/{id}/receipt", delivery_id)
    assert status == 200 and receipt["claims"]["device_id"] == "d-\ufffd"


# --- the last days of the calendar ------------------------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "9999-12-30"])
@pytest.mark.parametrize(
    "destination",
    [
        {"country": "IT", "timezone": "Europe/Rome"},
        {"country": "KI", "timezone": "Pacific/Kiritimati"},  # UTC+14
        {"country": "US", "timezone": "Pacific/Honolulu"},  # UTC-10
    ],
)
def test_the_last_days_of_the_calendar_are_out_of_reach_not_a_server_error(clock, day, destination):
    status, _, _ = call("POST", "/deliveries", body=factories.registration(destination=destination))
    assert status == 201  # the place itself is fine
    status, _, refused = call(
        "POST", "/deliveries", body=factories.registration(destination=destination, delivery_date=day)
    )
    assert status == 422 and refused["error"]["message"].startswith("delivery_date:")
    delivery_id, _ = registered(destination=destination)
    status, _, refused = call("PUT", "/deliveries/{id}/schedule", delivery_id, {"delivery_date": day})
    assert status == 422 and refused["error"]["message"].startswith("delivery_date:")


# --- bodies over the limit --------------------------------------------------------------------------

BODY_ROUTES = [
    ("POST", "/deliveries"),
    ("PUT", "/deliveries/{id}/courier"),
    ("PUT", "/deliveries/{id}/schedule"),
    ("POST", "/deliveries/{id}/delegates"),
    ("POST", VERIFY),
    ("POST", ATTEMPT),
]


@pytest.mark.parametrize(("method", "route"), BODY_ROUTES)
def test_a_body_over_64_kib_is_413_on_every_route_that_takes_one(clock, method, route):
    delivery_id, _ = registered()
    huge = '{"padding": "' + "x" * (64 * 1024) + '"}'
    status, _, refused = call(method, route, delivery_id if "{id}" in route else None, huge)
    assert status == 413 and refused["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # Just under the limit is read (and judged on its fields).
    status, _, _ = call(method, route, delivery_id if "{id}" in route else None, '{"padding": "' + "x" * 60_000 + '"}')
    assert status in (400, 422)


# --- ids a URL path cannot carry --------------------------------------------------------------------


@pytest.mark.parametrize("delivery_id", [".", "..", "....."])
def test_an_id_made_only_of_dots_is_refused_at_registration(clock, delivery_id):
    status, _, refused = call("POST", "/deliveries", body=factories.registration(delivery_id=delivery_id))
    assert status == 422 and refused["error"]["message"].startswith("delivery_id:")


# --- a delivery assigned to another courier ---------------------------------------------------------


def with_token(route: str, delivery_id: str, payload: dict, username: str) -> dict:
    event = http_event("POST", route, delivery_id, payload)
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"username": username}, "scopes": ["verify"]}}
    return invoke("VerifyFunction" if route == VERIFY else "AttemptFunction", event)


@pytest.mark.parametrize(
    ("route", "payload"),
    [(VERIFY, {"code": "123456"}), (VERIFY, {"code": "12"}), (ATTEMPT, {"outcome": "ACCESS_PROBLEM"})],
)
def test_with_a_token_the_404_of_a_delivery_assigned_to_another_is_byte_identical_to_an_unknown_id(
    clock, route, payload
):
    body = factories.registration()
    delivery_id = body["delivery_id"]
    before = with_token(route, delivery_id, payload, "c-99")  # not registered yet
    call("POST", "/deliveries", body=body)
    call("PUT", "/deliveries/{id}/courier", delivery_id, {"courier_id": "c-17"})
    hidden = with_token(route, delivery_id, payload, "c-99")
    assert hidden["statusCode"] == before["statusCode"] == 404
    assert hidden["body"] == before["body"]


@pytest.mark.parametrize(
    ("route", "payload", "named"),
    [
        (VERIFY, {"code": "123456"}, "names no courier"),
        (VERIFY, {"code": "12", "courier_id": "c-99"}, "names courier 'c-99'"),
        (ATTEMPT, {"outcome": "ACCESS_PROBLEM"}, "names no courier"),
        (ATTEMPT, {"outcome": "DOG", "courier_id": "c-99"}, "names courier 'c-99'"),
    ],
)
def test_with_no_authorizer_the_404_of_an_assigned_delivery_says_the_body_names_the_courier(
    clock, route, payload, named
):
    delivery_id, code = registered()
    call("PUT", "/deliveries/{id}/courier", delivery_id, {"courier_id": "c-17"})
    event = http_event("POST", route, delivery_id, payload)
    assert "authorizer" not in event["requestContext"]  # as the local stack sends it with auth off
    status, _, hidden = answer(invoke("VerifyFunction" if route == VERIFY else "AttemptFunction", event))
    message = hidden["error"]["message"]
    assert status == 404 and named in message and "assigned" in message and "courier_id" in message
    # An id that is simply unknown says nothing more than that.
    status, _, unknown = call("POST", route, "NEVER-REGISTERED", payload)
    assert status == 404 and "assigned" not in unknown["error"]["message"]
    # Naming the courier in the body is what it takes.
    status, _, accepted = call("POST", VERIFY, delivery_id, {"code": code, "courier_id": "c-17"})
    assert status == 200 and accepted["result"] == "ACCEPTED"
