"""Bad input of every kind is refused with the offending field named, before anything is written."""

import pytest
from delivery_otp.errors import InvalidInput, MalformedRequest, PayloadTooLarge
from delivery_otp.validation import parse_json_object, parse_registration
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.support.factories import DELETE, registration


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"delivery_id": DELETE}, "delivery_id"),
        ({"delivery_id": ""}, "delivery_id"),
        ({"delivery_id": "x" * 65}, "delivery_id"),
        ({"delivery_id": "IT/1"}, "delivery_id"),
        ({"delivery_id": "IT-1\n"}, "delivery_id"),
        ({"delivery_id": 12}, "delivery_id"),
        ({"order_id": DELETE}, "order_id"),
        ({"order_id": 5}, "order_id"),
        ({"recipient": DELETE}, "recipient"),
        ({"recipient": "maria"}, "recipient"),
        ({"recipient__email": DELETE}, "recipient.email"),
        ({"recipient__email": "not-an-address"}, "recipient.email"),
        ({"recipient__email": "a b@example.com"}, "recipient.email"),
        ({"recipient__locale": "italiano!"}, "recipient.locale"),
        ({"recipient__name": ["x"]}, "recipient.name"),
        ({"destination__country": DELETE}, "destination.country"),
        ({"destination__country": "XX"}, "destination.country"),
        ({"destination__country": "it"}, "destination.country"),
        ({"destination__subdivision": "DE-BY"}, "destination.subdivision"),
        ({"destination__subdivision": "IT-ZZ"}, "destination.subdivision"),
        ({"destination__timezone": "Europe/Berlin"}, "destination.timezone"),
        ({"destination__timezone": "Mars/Olympus"}, "destination.timezone"),
        ({"destination": {"country": "US"}}, "destination.timezone"),
        ({"destination": {"country": "ES"}}, "destination.timezone"),
        ({"order_value__amount": 349.9}, "order_value.amount"),
        ({"order_value__amount": "349,90"}, "order_value.amount"),
        ({"order_value__amount": "0349.90"}, "order_value.amount"),
        ({"order_value__amount": "1.23456"}, "order_value.amount"),
        ({"order_value__amount": "-1"}, "order_value.amount"),
        ({"order_value__amount": "１２３"}, "order_value.amount"),
        ({"order_value__amount": "NaN"}, "order_value.amount"),
        ({"order_value__amount": DELETE}, "order_value.amount"),
        ({"order_value__currency": "eur"}, "order_value.currency"),
        ({"order_value__currency": "EURO"}, "order_value.currency"),
        ({"delivery_date": DELETE}, "delivery_date"),
        ({"delivery_date": "2026-02-30"}, "delivery_date"),
        ({"delivery_date": "20261123"}, "delivery_date"),
        ({"delivery_date": "23/11/2026"}, "delivery_date"),
        ({"require_code": "yes"}, "require_code"),
        ({"require_code": 1}, "require_code"),
    ],
)
def test_each_bad_field_is_named(overrides, field):
    with pytest.raises(InvalidInput) as raised:
        parse_registration(registration(**overrides))
    assert raised.value.field == field
    assert raised.value.message.startswith(field)


def test_a_good_registration_parses_and_fills_defaults():
    parsed = parse_registration(registration(destination={"country": "DE"}, recipient={"email": "a@b.de"}))
    assert parsed.timezone == "Europe/Berlin" and parsed.locale == "en"
    assert parsed.subdivision is None


def test_unknown_fields_are_ignored_but_make_a_different_request():
    plain = parse_registration(registration(delivery_id="X-1"))
    extra = parse_registration({**registration(delivery_id="X-1"), "gift_wrap": True})
    assert plain.delivery_id == extra.delivery_id
    assert plain.request_hash != extra.request_hash


def test_key_order_does_not_change_the_request():
    body = registration(delivery_id="X-2")
    reordered = dict(reversed(list(body.items())))
    assert parse_registration(body).request_hash == parse_registration(reordered).request_hash


@pytest.mark.parametrize("raw", ["", "{", "[]", "42", '"text"', "null", b"\xff\xfe", "{" * 5000 + "}" * 5000])
def test_bodies_that_are_not_json_objects_are_malformed(raw):
    with pytest.raises(MalformedRequest):
        parse_json_object(raw)


def test_huge_bodies_are_refused_as_too_large():
    with pytest.raises(PayloadTooLarge) as raised:
        parse_json_object('{"a": "' + "x" * 70_000 + '"}')
    assert raised.value.status == 413 and raised.value.code == "PAYLOAD_TOO_LARGE"


def test_the_body_limit_counts_bytes_not_characters():
    parse_json_object('{"a": "' + "x" * 65_000 + '"}')
    with pytest.raises(PayloadTooLarge):
        parse_json_object('{"a": "' + "\u00e9" * 40_000 + '"}')  # 40,000 characters, 80,000 bytes


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"device_id": "d-\\ud800"}', "device_id"),
        ('{"recipient": {"name": "\\udfff Rossi"}}', "recipient.name"),
        ('{"gift_wrap": ["ok", {"note": "\\ud83d"}]}', "gift_wrap[1].note"),
        ('{"x\\ud800y": 1}', "x\\ud800y"),
    ],
)
def test_an_unpaired_surrogate_anywhere_in_a_body_is_refused_naming_where(raw, field):
    with pytest.raises(InvalidInput) as raised:
        parse_json_object(raw)
    assert raised.value.field == field and raised.value.status == 422
    raised.value.message.encode()  # the answer itself can be sent


def test_a_surrogate_pair_spelt_as_two_escapes_is_one_character():
    assert parse_json_object('{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\x85", "\x9f", "\ud800"])
@pytest.mark.parametrize(
    "overrides",
    ["order_id", "recipient__name", "recipient__email", "recipient__locale", "destination__postal_code"],
)
def test_every_stored_text_field_refuses_control_characters_and_surrogates(overrides, char):
    with pytest.raises(InvalidInput) as raised:
        parse_registration(registration(**{overrides: f"ab{char}cd"}))
    assert raised.value.field == overrides.replace("__", ".")


@pytest.mark.parametrize("delivery_id", [".", "..", "...", "." * 64])
def test_ids_made_only_of_dots_cannot_be_registered(delivery_id):
    with pytest.raises(InvalidInput) as raised:
        parse_registration(registration(delivery_id=delivery_id))
    assert raised.value.field == "delivery_id"


def test_ids_with_dots_among_other_characters_are_fine():
    for delivery_id in ["a.", ".a", "..a..", "IT.000123"]:
        assert parse_registration(registration(delivery_id=delivery_id)).delivery_id == delivery_id


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_any_json_value_in_any_field_is_a_clean_4xx_or_accepted(value):
    for field in [
        "delivery_id",
        "order_id",
        "recipient",
        "destination",
        "order_value",
        "delivery_date",
        "require_code",
    ]:
        try:
            parse_registration({**registration(), field: value})
        except (InvalidInput, MalformedRequest):
            pass


# Zones of the countries below, for those whose zones disagree (a registration there must name one).
_ZONES = {"ES": "Europe/Madrid", "US": "America/New_York"}


def _to(country: str, subdivision: str) -> dict:
    destination = {"country": country, "subdivision": subdivision}
    if country in _ZONES:
        destination["timezone"] = _ZONES[country]
    return registration(destination=destination)


@pytest.mark.parametrize(
    ("country", "subdivision"),
    [
        # ISO 3166-2 codes the holiday calendars have no calendar of their own for
        ("FR", "FR-IDF"),  # a region
        ("FR", "FR-75C"),  # Paris, in FR-IDF
        ("IT", "IT-25"),  # Lombardia, a region
        ("ES", "ES-B"),  # the province of Barcelona, in Catalonia
        ("GB", "GB-LND"),  # the City of London, in England
        ("GB", "GB-EDH"),  # Edinburgh, in Scotland
        ("FR", "FR-67"),  # Bas-Rhin, in Alsace
        # and codes they do have one for
        ("IT", "IT-RM"),
        ("IT", "IT-MI"),
        ("DE", "DE-BY"),
        ("ES", "ES-CT"),
        ("GB", "GB-ENG"),
        ("FR", "FR-971"),  # Guadeloupe: three digits
        ("US", "US-NY"),
        ("NO", "NO-31"),  # a county of 2024: the holiday calendars have it, pycountry's list not yet
    ],
)
def test_every_iso_subdivision_of_the_country_is_accepted(country, subdivision):
    parsed = parse_registration(_to(country, subdivision))
    assert (parsed.country, parsed.subdivision) == (country, subdivision)


@pytest.mark.parametrize(
    ("country", "subdivision"),
    [
        ("IT", "IT-BY"),  # Bayern's letters, in Italy
        ("DE", "DE-RM"),  # Roma's letters, in Germany
        ("IT", "DE-BY"),  # a code of another country
        ("FR", "GB-LND"),
        ("FR", "FR-75"),  # not a code (Paris is FR-75C)
        ("GB", "GB-lnd"),
        ("GB", "GB-LNDN"),
        ("IT", "IT-"),
        ("IT", "ITRM"),
        ("IT", " IT-RM"),
    ],
)
def test_a_code_that_is_not_a_subdivision_of_that_country_is_refused(country, subdivision):
    with pytest.raises(InvalidInput) as raised:
        parse_registration(_to(country, subdivision))
    assert raised.value.field == "destination.subdivision"
    assert country in raised.value.message


def _iso_codes(*countries: str) -> list[str]:
    import pycountry

    return sorted(entry.code for c in countries for entry in pycountry.subdivisions.get(country_code=c))


_COUNTRIES = ("IT", "FR", "ES", "GB", "DE")


@settings(max_examples=300, deadline=None)
@given(code=st.sampled_from(_iso_codes(*_COUNTRIES)))
def test_any_iso_code_is_accepted_in_its_own_country(code):
    assert parse_registration(_to(code[:2], code)).subdivision == code


@settings(max_examples=300, deadline=None)
@given(code=st.sampled_from(_iso_codes(*_COUNTRIES)), country=st.sampled_from(_COUNTRIES))
def test_any_iso_code_is_refused_in_another_country(code, country):
    assume(code[:2] != country)
    with pytest.raises(InvalidInput) as raised:
        parse_registration(_to(country, code))
    assert raised.value.field == "destination.subdivision"
