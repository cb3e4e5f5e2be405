"""The webhook URL guard: only https URLs whose host resolves to public addresses only, checked with
the address kept for the connection; every hostile spelling of an internal address is refused."""

from __future__ import annotations

import pytest
from delivery_otp.ssrf import RefusedUrl, check_url

PUBLIC = "93.184.215.14"


def resolver_of(table: dict[str, list[str]]):
    def resolve(host: str) -> list[str]:
        return table[host]

    return resolve


def no_lookup(host: str) -> list[str]:
    raise AssertionError(f"{host!r} is an address literal: it must not be looked up")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.1/hook",
        "https://0x7f000001/hook",
        "https://017700000001/hook",
        "https://2130706433/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:7f00:1]/hook",
        "https://0.0.0.0/hook",
        "https://0/hook",
        "https://[::]/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://[64:ff9b::808:808]/hook",  # NAT64 of a public address: the form itself is refused
        "https://[2002:a9fe:a9fe::]/hook",
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
        "https://[::127.0.0.1]/hook",  # IPv4-compatible
        "https://10.0.0.1/hook",
        "https://172.16.5.4/hook",
        "https://192.168.1.1/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "https://224.0.0.1/hook",
        "https://255.255.255.255/hook",
    ],
)
def test_internal_addresses_in_any_spelling_are_refused(url: str) -> None:
    with pytest.raises(RefusedUrl) as refused:
        check_url(url, resolver=no_lookup)
    assert refused.value.field == "url"


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["127.0.0.1"],
        ["::1"],
        ["fd12:3456::1"],
        [PUBLIC, "192.168.0.10"],  # one private address among public ones is enough to refuse
        ["::ffff:10.0.0.1"],
    ],
)
def test_a_name_that_resolves_to_an_internal_address_is_refused(addresses: list[str]) -> None:
    with pytest.raises(RefusedUrl, match="not a public address|embeds"):
        check_url("https://hooks.shop.example/in", resolver=resolver_of({"hooks.shop.example": addresses}))


def test_a_public_https_url_keeps_the_checked_address_for_the_connection() -> None:
    target = check_url(
        "https://hooks.shop.example:8443/in?tenant=7", resolver=resolver_of({"hooks.shop.example": [PUBLIC]})
    )
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https",
        "hooks.shop.example",
        8443,
        "/in?tenant=7",
        PUBLIC,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.shop.example/in",
        "ftp://hooks.shop.example/in",
        "https://user:pw@hooks.shop.example/in",
        "https:///in",
        "not a url",
        "",
        None,
        42,
        "https://hooks.shop.example:99999/in",
        "https://" + "a" * 2050 + ".example/",
    ],
)
def test_anything_but_a_plain_https_url_is_refused(url: object) -> None:
    with pytest.raises(RefusedUrl):
        check_url(url, resolver=resolver_of({"hooks.shop.example": [PUBLIC]}))


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(RefusedUrl, match="does not resolve"):
        check_url("https://nowhere.example/", resolver=resolver_of({"nowhere.example": []}))


def test_local_http_to_127_0_0_1_only_when_the_setting_allows_it() -> None:
    with pytest.raises(RefusedUrl):
        check_url("http://127.0.0.1:8080/hook", resolver=no_lookup)
    target = check_url("http://127.0.0.1:8080/hook", resolver=no_lookup, allow_local_http=True)
    assert (target.scheme, target.address, target.port) == ("http", "127.0.0.1", 8080)
    # Only that exact form: not another spelling, not without a port, not https to loopback.
    for url in (
        "http://127.1:8080/hook",
        "http://localhost:8080/hook",
        "http://127.0.0.1/hook",
        "https://127.0.0.1:8080/",
    ):
        with pytest.raises(RefusedUrl):
            check_url(url, resolver=resolver_of({"localhost": ["127.0.0.1"]}), allow_local_http=True)


def test_the_template_keeps_local_http_off_for_every_function() -> None:
    from local.template import functions

    for name, props in functions().items():
        value = props["Environment"]["Variables"].get("WEBHOOK_ALLOW_LOCAL_HTTP")
        assert value in (None, "false"), name
