"""The couriers' hosted sign-in as the local stack serves it: `/oauth2/authorize` and `/oauth2/token`,
the authorization code flow with PKCE (S256) as Cognito's hosted UI runs it, so the courier app signs in
the same way here and in AWS. Never deployed.

- `GET /oauth2/authorize` checks the request (the app client, a loopback `redirect_uri`, an S256
  challenge) and shows a one-field form: the courier id (no password: every local courier is trusted).
- Its `POST` issues a code, single-use and valid for a minute, and returns to `redirect_uri` with it and
  the caller's `state`.
- `POST /oauth2/token` exchanges a code for tokens once, when the `code_verifier` hashes to the challenge
  and the client and `redirect_uri` are the ones the code was issued to; `grant_type=refresh_token`
  mints a new access token until the refresh token's 12 hours are over.

The access tokens are the ones `POST /local/tokens/courier` hands out, so the stack's authorizer accepts
them as API Gateway accepts Cognito's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from local.auth import COURIER_ID

if TYPE_CHECKING:
    from local.auth import LocalAuth

PATHS = frozenset({"/oauth2/authorize", "/oauth2/token"})
CODE_SECONDS = 60
REFRESH_SECONDS = 12 * 3600
# Locally the app runs on this machine only: the sign-in returns nowhere else.
_LOOPBACK_REDIRECT = re.compile(r"http://(127\.0\.0\.1|localhost):[0-9]{1,5}/[A-Za-z0-9._~/-]*")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")

_CARRIED = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")

Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class _Grant:
    courier_id: str
    client_id: str
    redirect_uri: str
    challenge: str
    expires: float


class LocalSignIn:
    def __init__(self, auth: LocalAuth, client_id: str) -> None:
        self.auth = auth
        self.client_id = client_id
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def route(self, method: str, path: str, query: str, raw: bytes) -> Answer:
        if path == "/oauth2/authorize" and method == "GET":
            return self._authorize(dict(parse_qsl(query)), None)
        if path == "/oauth2/authorize" and method == "POST":
            form = dict(parse_qsl(raw.decode("utf-8", "replace")))
            return self._authorize(form, form.get("courier_id", ""))
        if path == "/oauth2/token" and method == "POST":
            return self._token(dict(parse_qsl(raw.decode("utf-8", "replace"))))
        return _oauth_error(404, "not_found", f"no route {method} {path}")

    # -- authorize -------------------------------------------------------------------------------

    def _authorize(self, params: dict[str, str], courier_id: str | None) -> Answer:
        problem = self._authorize_problem(params)
        if problem:
            # As the hosted UI: a request that cannot be trusted is not sent back to its redirect_uri.
            return _page(400, f"<p>Sign-in refused: {html.escape(problem)}</p>")
        if courier_id is None or re.fullmatch(COURIER_ID, courier_id, re.ASCII) is None:
            return _page(200 if courier_id is None else 422, _form(params, courier_id))
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Grant(
                courier_id,
                params["client_id"],
                params["redirect_uri"],
                params["code_challenge"],
                time.monotonic() + CODE_SECONDS,
            )
        back = {"code": code, **({"state": params["state"]} if params.get("state") else {})}
        return 302, {"Location": f"{params['redirect_uri']}?{urlencode(back)}", "Cache-Control": "no-store"}, b""

    def _authorize_problem(self, params: dict[str, str]) -> str | None:
        if params.get("response_type") != "code":
            return "response_type must be code"
        if params.get("client_id") != self.client_id:
            return "unknown client_id"
        if not _LOOPBACK_REDIRECT.fullmatch(params.get("redirect_uri", "")):
            return "redirect_uri must be http://127.0.0.1:PORT/... or http://localhost:PORT/..."
        if params.get("code_challenge_method") != "S256" or not _CHALLENGE.fullmatch(params.get("code_challenge", "")):
            return "a PKCE code_challenge with code_challenge_method S256 is required"
        return None

    # -- token -----------------------------------------------------------------------------------

    def _token(self, form: dict[str, str]) -> Answer:
        if form.get("client_id") != self.client_id:
            return _oauth_error(400, "invalid_client", "unknown client_id")
        if form.get("grant_type") == "authorization_code":
            return self._exchange(form)
        if form.get("grant_type") == "refresh_token":
            with self._lock:
                courier_id, expires = self._refresh.get(form.get("refresh_token", ""), ("", 0.0))
            if time.time() >= expires:
                return _oauth_error(400, "invalid_grant", "the refresh token is unknown or has expired")
            return _tokens(self.auth.courier_token(courier_id))
        return _oauth_error(400, "unsupported_grant_type", "grant_type: authorization_code or refresh_token")

    def _exchange(self, form: dict[str, str]) -> Answer:
        with self._lock:  # single use: the first exchange takes the code away, right or wrong
            grant = self._codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        if (
            grant is None
            or time.monotonic() >= grant.expires
            or grant.client_id != form.get("client_id")
            or grant.redirect_uri != form.get("redirect_uri")
            or not _VERIFIER.fullmatch(verifier)
            or not hmac.compare_digest(_s256(verifier), grant.challenge)
        ):
            return _oauth_error(400, "invalid_grant", "the code is unknown, used, expired or not yours")
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[refresh] = (grant.courier_id, time.time() + REFRESH_SECONDS)
        return _tokens(self.auth.courier_token(grant.courier_id), refresh)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _tokens(minted: dict[str, object], refresh: str | None = None) -> Answer:
    body = {"access_token": minted["access_token"], "expires_in": minted["expires_in"], "token_type": "Bearer"}
    if refresh:
        body["refresh_token"] = refresh
    return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()


def _oauth_error(status: int, error: str, description: str) -> Answer:
    body = {"error": error, "error_description": description}
    return status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()


def _form(params: dict[str, str], courier_id: str | None) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k in _CARRIED
    )
    error = (
        '<p id="signin-error" role="alert">A courier id is 1 to 128 of A-Z, a-z, 0-9, . _ @ + -</p>'
        if courier_id is not None
        else ""
    )
    return (
        "<h1>Couriers' sign-in (local stack)</h1>"
        f'<form method="post" action="/oauth2/authorize">{hidden}{error}'
        '<label for="courier-id">Courier id</label> '
        '<input id="courier-id" name="courier_id" autocomplete="username" required autofocus> '
        '<button id="signin-submit" type="submit">Sign in</button></form>'
    )


def _page(status: int, main: str) -> Answer:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Sign in</title></head><body><main>{main}</main></body></html>"
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    }
    return status, headers, page.encode()
