"""Codes: six ASCII digits, derived with a keyed PRF, never guessable from what is stored."""

import hashlib

from delivery_otp import codes
from hypothesis import given
from hypothesis import strategies as st

KEY = b"k" * 64


@given(delivery_id=st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True), issue=st.integers(1, 10_000))
def test_derived_codes_are_six_ascii_digits_and_stable(delivery_id, issue):
    nonce = codes.new_nonce()
    code = codes.derive_code(KEY, delivery_id, issue, nonce)
    assert codes.is_well_formed(code)
    assert code == codes.derive_code(KEY, delivery_id, issue, nonce)


def test_codes_depend_on_the_key_the_issue_and_the_nonce():
    nonce = codes.new_nonce()
    base = codes.derive_code(KEY, "IT-1", 1, nonce)
    variants = {
        codes.derive_code(b"x" * 64, "IT-1", 1, nonce),
        codes.derive_code(KEY, "IT-1", 2, nonce),
        codes.derive_code(KEY, "IT-1", 1, codes.new_nonce()),
    }
    assert len(variants | {base}) >= 3  # a collision of 1 in 10^6 is allowed, not three


def test_leading_zeros_are_kept():
    found = {codes.derive_code(KEY, f"D{i}", 1, "n") for i in range(3000)}
    assert any(code.startswith("0") for code in found)
    assert all(len(code) == 6 for code in found)


def test_codes_spread_over_all_digits():
    found = [codes.derive_code(KEY, "IT-1", i, "n") for i in range(5000)]
    first_digits = {code[0] for code in found}
    assert first_digits == set("0123456789")


@given(st.text(max_size=8))
def test_only_exactly_six_ascii_digits_are_well_formed(text):
    expected = len(text) == 6 and all(ch in "0123456789" for ch in text)
    assert codes.is_well_formed(text) is expected


def test_lookalike_digits_and_other_types_are_malformed():
    for candidate in ["١٢٣٤٥٦", "１２３４５６", "12345", "1234567", " 12345", "12345\n", 123456, None, ["123456"]]:
        assert not codes.is_well_formed(candidate)


def test_the_stored_mac_is_keyed_not_a_plain_hash():
    mac = codes.code_mac(KEY, "IT-1", "012345")
    assert mac != hashlib.sha256(b"012345").hexdigest()
    assert mac != hashlib.sha256(b"IT-1012345").hexdigest()
    assert mac != codes.code_mac(b"y" * 64, "IT-1", "012345")
    assert mac == codes.code_mac(KEY, "IT-1", "012345")
