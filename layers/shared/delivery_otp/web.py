"""Answers of the pages people open in a browser: the recipient's page and the courier's app.

Both share one set of headers. A page may show a delivery code, so nothing is cached anywhere
(`no-store`), no address leaves with a click (`no-referrer`: the recipient's link holds its token), the
page loads nothing from other origins and may not be framed (clickjacking a "replace my code" button).
"""

from __future__ import annotations

import re

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {connect};"
    " manifest-src 'self'; worker-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none';"
    " frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": _CSP.format(connect="'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Permissions-Policy": "camera=(self), geolocation=(), microphone=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

HTML = "text/html; charset=utf-8"


def security_headers(connect_to: tuple[str, ...] = ()) -> dict[str, str]:
    """The security headers, letting scripts also reach the origins in `connect_to` (the courier app's
    sign-in token endpoint: Cognito's domain in AWS). Each must be a bare origin (`https://host[:port]`),
    so no path, quote or semicolon can widen the policy."""
    for origin in connect_to:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"not an origin: {origin!r}")
    extra = "".join(f" {origin}" for origin in dict.fromkeys(connect_to))
    return {**SECURITY_HEADERS, "Content-Security-Policy": _CSP.format(connect="'self'" + extra)}


def page(status: int, body: str, content_type: str = HTML, *, connect_to: tuple[str, ...] = (), **headers: str) -> dict:
    """An API Gateway (payload 2.0) answer carrying the security headers; extra headers by keyword
    (`Location="..."`), extra origins scripts may reach in `connect_to`."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **security_headers(connect_to), **headers},
        "body": body,
    }


def redirect(location: str) -> dict:
    """303 See Other: the browser follows with a GET, so a reload never repeats the action."""
    return page(303, "", Location=location)
