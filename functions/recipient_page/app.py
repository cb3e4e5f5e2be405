"""GET and POST /r/{token}: the recipient's (or a delegate's) own page, from the link in their code emails,
and its stylesheet. Plain HTML forms, no JavaScript; see delivery_otp.recipient_page."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import recipient_page
from delivery_otp.observability import logger
from delivery_otp.web import page


def _show(event: dict[str, Any]) -> dict[str, Any]:
    return recipient_page.show(_token(event), event.get("rawQueryString"), _header(event, "accept-language"))


def _act(event: dict[str, Any]) -> dict[str, Any]:
    body, encoded = event.get("body"), bool(event.get("isBase64Encoded"))
    return recipient_page.act(_token(event), body, encoded, _header(event, "accept-language"))


def _style(_: dict[str, Any]) -> dict[str, Any]:
    # With the pages' headers as they are (no-store included): every answer of the page's function is one.
    return page(200, recipient_page.stylesheet(), "text/css; charset=utf-8")


ROUTES = {"GET /r/{token}": _show, "POST /r/{token}": _act, "GET /pages/page.css": _style}


def _token(event: dict[str, Any]) -> str:
    return str((event.get("pathParameters") or {}).get("token") or "")


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    return next((value for key, value in headers.items() if key.lower() == name), None)


# The event is never logged: its path holds the link's token.
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return ROUTES[event["routeKey"]](event)
