"""The courier app's answers: its page in the device's language with the sign-in settings, its files with
their types and the pages' headers, the connect-src it opens to the sign-in domain, and its first load
under 100 KB."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from local.template import ROOT

ASSETS = ROOT / "functions" / "courier_app" / "assets"
SHELL = ["app.js", "auth.js", "pending.js", "app.css", "manifest.webmanifest", "sw.js"]


@pytest.fixture
def app(monkeypatch):
    from delivery_otp import config, courier_app

    for name, value in {
        "TABLE_NAME": "t",
        "CODE_KEY_SECRET_ID": "s",
        "EMAIL_SENDER": "e@example.com",
        "COURIER_SIGNIN_URL": "https://shop-couriers.auth.eu-south-1.amazoncognito.com",
        "COURIER_APP_CLIENT_ID": "client-1",
        "COURIER_SIGNIN_SCOPES": "openid delivery-otp/verify",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    config.settings.cache_clear()
    yield courier_app
    config.settings.cache_clear()


def event(asset: str | None = None, language: str = "de-CH,de;q=0.9") -> dict:
    sample = json.loads((ROOT / "events" / ("courier_app_asset.json" if asset else "courier_app.json")).read_text())
    sample["headers"]["accept-language"] = language
    if asset:
        sample["pathParameters"] = {"asset": asset}
    return sample


def embedded(body: str, element_id: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', body, re.S)
    assert found
    return json.loads(found.group(1))


def test_the_page_speaks_the_devices_language_and_names_the_sign_in(app):
    answer = app.answer(event(), ASSETS)
    assert answer["statusCode"] == 200 and '<html lang="de">' in answer["body"]
    assert "Code prüfen" in answer["body"]
    config = embedded(answer["body"], "config")
    host = "https://a1b2c3d4e5.execute-api.eu-south-1.amazonaws.com"
    assert config == {
        "base": host,
        "authorize_url": "https://shop-couriers.auth.eu-south-1.amazoncognito.com/oauth2/authorize",
        "token_url": "https://shop-couriers.auth.eu-south-1.amazoncognito.com/oauth2/token",
        "client_id": "client-1",
        "scope": "openid delivery-otp/verify",
        "redirect_uri": f"{host}/courier/",
    }
    assert "Falscher Code" in embedded(answer["body"], "strings")["REJECTED"]


def test_the_sign_in_returns_to_the_address_the_app_was_opened_at(app, monkeypatch):
    """Without the shop's domain, the app returns where it was opened: the PKCE verifier waits in that
    origin's session storage (the email links' own setting, which the local stack shares, plays no part)."""
    from delivery_otp import config

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://elsewhere.example.com")
    monkeypatch.delenv("COURIER_APP_BASE_URL", raising=False)
    config.settings.cache_clear()
    opened = event()
    opened["requestContext"]["domainName"] = "courier.example.net"
    body = app.answer(opened, ASSETS)["body"]
    assert embedded(body, "config")["redirect_uri"] == "https://courier.example.net/courier/"


def test_behind_the_shops_domain_the_sign_in_returns_there_path_included(app, monkeypatch):
    """The app client's callback is the shop's address + /courier/: a path in it must survive."""
    from delivery_otp import config

    monkeypatch.setenv("COURIER_APP_BASE_URL", "https://shop.example.com/parcels/")
    config.settings.cache_clear()
    config_ = embedded(app.answer(event(), ASSETS)["body"], "config")
    assert config_["redirect_uri"] == "https://shop.example.com/parcels/courier/"
    assert config_["base"] == "https://shop.example.com/parcels"


def test_scripts_may_reach_only_this_origin_and_the_sign_in_domain(app):
    csp = app.answer(event(), ASSETS)["headers"]["Content-Security-Policy"]
    assert "connect-src 'self' https://shop-couriers.auth.eu-south-1.amazoncognito.com;" in csp
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp


def test_connect_to_takes_bare_origins_only():
    from delivery_otp import web

    with pytest.raises(ValueError):
        web.security_headers(("https://x.example.com; script-src *",))
    assert "connect-src 'self';" in web.SECURITY_HEADERS["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript"),
        ("sw.js", "text/javascript"),
        ("app.css", "text/css"),
        ("manifest.webmanifest", "application/manifest+json"),
        ("icon.svg", "image/svg+xml"),
    ],
)
def test_each_file_is_served_with_its_type_and_the_pages_headers(app, name, content_type):
    answer = app.answer(event(name), ASSETS)
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"].startswith(content_type)
    assert answer["headers"]["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("name", ["../app.py", "app.py", "nothing.js", "APP.JS", ".hidden.js"])
def test_anything_else_is_not_found(app, name):
    assert app.answer(event(name), ASSETS)["statusCode"] == 404


def test_tokens_are_never_put_in_lasting_storage():
    scripts = "".join((ASSETS / name).read_text() for name in ("app.js", "auth.js", "pending.js", "sw.js"))
    assert "indexedDB" not in scripts and "document.cookie" not in scripts
    assert "localStorage." not in (ASSETS / "auth.js").read_text()


def test_the_first_load_is_under_100_kb(app):
    """What a device downloads on first start, icons aside: the page and every shell file, as sent
    (uncompressed, the worst case) and as gzip would send them."""
    bodies = [app.answer(event(), ASSETS)["body"]] + [app.answer(event(n), ASSETS)["body"] for n in SHELL]
    raw = sum(len(b.encode()) for b in bodies)
    assert raw < 100 * 1024, raw
    assert sum(len(gzip.compress(b.encode())) for b in bodies) < raw
