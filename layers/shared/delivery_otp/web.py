"""Answers of the pages people open in a browser: the recipient's page and the courier's app.

Both share one set of headers. A page may show a delivery code, so nothing is cached anywhere
(`no-store`), no address leaves with a click (`no-referrer`: the recipient's link holds its token), the
page loads nothing from other origins and may not be framed (clickjacking a "replace my code" button).
"""

from __future__ import annotations

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " manifest-src 'self'; worker-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none';"
        " frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Permissions-Policy": "camera=(self), geolocation=(), microphone=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

HTML = "text/html; charset=utf-8"


def page(status: int, body: str, content_type: str = HTML, **headers: str) -> dict:
    """An API Gateway (payload 2.0) answer carrying the security headers; extra headers by keyword
    (`Location="..."`)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **SECURITY_HEADERS, **headers},
        "body": body,
    }


def redirect(location: str) -> dict:
    """303 See Other: the browser follows with a GET, so a reload never repeats the action."""
    return page(303, "", Location=location)
