"""The courier's installable web app: its page, in the device's language, and its static files.

The page carries the sign-in's settings (the couriers' hosted UI, the app client, the scopes, the address
the sign-in returns to) and every string the scripts show, so the scripts need no second request and no
build step. The app's address is the shop's domain when one is configured, else the host the request
came to (an API function cannot be told the API's own address: the API depends on it). The local stack
serves the sign-in itself, at the app's own address.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from delivery_otp import web, wording
from delivery_otp.config import settings

# Each static file's type, by suffix; a file of any other kind is not served.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
}
_ASSET_NAME = re.compile(r"[a-z][a-z0-9-]*\.[a-z]+")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def answer(event: dict[str, Any], assets: Path) -> dict[str, Any]:
    """An API Gateway (payload 2.0) answer for `GET /courier/` or `GET /courier/{asset}`."""
    name = (event.get("pathParameters") or {}).get("asset")
    if name is None:
        return index(event)
    if not _ASSET_NAME.fullmatch(name) or Path(name).suffix not in CONTENT_TYPES or not (assets / name).is_file():
        return web.page(404, "Not found", "text/plain; charset=utf-8")
    return web.page(200, (assets / name).read_text(encoding="utf-8"), CONTENT_TYPES[Path(name).suffix])


def index(event: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    language = wording.language_from_header(headers.get("accept-language"))
    config = signin_config(event, headers)
    body = wording.render("courier/index.html", language, config=config)
    token_origin = _origin(config["token_url"])
    base_origin = _origin(config["base"])
    return web.page(200, body, connect_to=(token_origin,) if token_origin != base_origin else ())


def signin_config(event: dict[str, Any], headers: dict[str, str]) -> dict[str, str]:
    """Where the app signs in and where the sign-in returns to."""
    current = settings()
    # Behind the shop's domain, that address (its path included: the app calls the API under it too);
    # else the address the app was opened at. The sign-in returns there, to the origin whose session
    # storage holds the PKCE verifier.
    base = current.courier_app_base_url or _request_base(event, headers)
    signin = current.courier_signin_url or base
    return {
        "base": base,
        "authorize_url": f"{signin}/oauth2/authorize",
        "token_url": f"{signin}/oauth2/token",
        "client_id": current.need("courier_app_client_id"),
        "scope": current.need("courier_signin_scopes"),
        "redirect_uri": f"{base}/courier/",
    }


def _request_base(event: dict[str, Any], headers: dict[str, str]) -> str:
    """The address the request came to: API Gateway names the host and the scheme it was reached by."""
    host = event.get("requestContext", {}).get("domainName") or headers.get("host", "")
    if not _HOST.fullmatch(host):
        raise ValueError(f"not a host name: {host!r}")
    scheme = "http" if headers.get("x-forwarded-proto") == "http" else "https"
    return f"{scheme}://{host}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
