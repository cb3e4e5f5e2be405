"""The local stack's API Gateway authorizers, enforced as in AWS unless LOCAL_AUTH=off.

- Storefront routes (AWS_IAM): the request must carry a valid SigV4 signature (service `execute-api`)
  made with the local storefront credentials (`GET /local/credentials/storefront`).
- Courier routes (the template's JWT authorizer): a Cognito access token minted by moto's user pool
  (`POST /local/tokens/courier`), checked for signature against the pool's keys (RS256 only, so no
  `alg: none`), issuer, client (audience), expiry and scope.

moto cannot mint tokens with custom resource-server scopes, so locally a courier's scopes are the
token's `scope` claim plus the pool groups it belongs to: membership of the group named
`delivery-otp/verify` grants that scope. The route still demands the scope, as API Gateway does.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from local.provision import resolve
from local.template import resources

SERVICE = "execute-api"
# API Gateway refuses signatures more than 15 minutes off the real clock (not the local stack's clock).
MAX_SKEW_SECONDS = 15 * 60
COURIER_ID = r"[A-Za-z0-9._@+-]{1,128}"


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class JwtAuthorizer:
    issuer: str
    audience: list[str]
    jwks_url: str


@dataclass(frozen=True)
class RouteAuth:
    kind: str  # "AWS_IAM", "JWT" or "NONE"
    authorizer: JwtAuthorizer | None = None
    scopes: tuple[str, ...] = ()


class LocalAuth:
    def __init__(self, region: str, moto_url: str, refs: dict[str, dict[str, str]], session: Any) -> None:
        self.region = region
        self.moto_url = moto_url
        self.session = session
        self.refs = refs
        self.access_key_id = "AKIA" + secrets.token_hex(8).upper()
        self.secret_access_key = secrets.token_urlsafe(30)
        api = next(iter(resources("AWS::Serverless::HttpApi").values()), {}).get("Properties", {})
        auth = api.get("Auth", {})
        self.default = auth.get("DefaultAuthorizer", "NONE")
        self.authorizers: dict[str, JwtAuthorizer] = {}
        for name, spec in auth.get("Authorizers", {}).items():
            config = spec.get("JwtConfiguration")
            if config:
                issuer = resolve(config["issuer"], refs)
                self.authorizers[name] = JwtAuthorizer(
                    issuer=issuer,
                    audience=[resolve(a, refs) for a in config.get("audience", [])],
                    jwks_url=f"{moto_url}/{issuer.rsplit('/', 1)[-1]}/.well-known/jwks.json",
                )
        self._keys: KeySet | None = None
        # Passwords of the couriers this stack enrolled in the pool (see courier_token).
        self._passwords: dict[str, str] = {}
        self._enrolling = threading.Lock()

    # -- which rule applies to a route ----------------------------------------------------------

    def for_route(self, event_auth: dict[str, Any] | None) -> RouteAuth:
        name = (event_auth or {}).get("Authorizer", self.default)
        if name == "AWS_IAM":
            return RouteAuth("AWS_IAM")
        if name in self.authorizers:
            return RouteAuth("JWT", self.authorizers[name], tuple((event_auth or {}).get("AuthorizationScopes", [])))
        return RouteAuth("NONE")

    def check(
        self, rule: RouteAuth, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any] | None:
        """The `requestContext.authorizer` block API Gateway would add, or Refused."""
        if rule.kind == "AWS_IAM":
            return {"iam": self._check_sigv4(method, path, query, headers, body)}
        if rule.kind == "JWT" and rule.authorizer is not None:
            return {"jwt": self._check_jwt(rule.authorizer, rule.scopes, headers)}
        return None

    # -- SigV4 ----------------------------------------------------------------------------------

    def _check_sigv4(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        lowered = {k.lower(): v for k, v in headers.items()}
        header = lowered.get("authorization", "")
        if not header.startswith("AWS4-HMAC-SHA256 "):
            raise Refused(403, "Forbidden")
        fields = dict(
            part.strip().split("=", 1) for part in header.removeprefix("AWS4-HMAC-SHA256 ").split(",") if "=" in part
        )
        try:
            key_id, day, region, service, terminal = fields["Credential"].split("/")
            signed = fields["SignedHeaders"].split(";")
            signature = fields["Signature"]
            stamp = lowered["x-amz-date"]
            signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except (KeyError, ValueError) as exc:
            raise Refused(
                403, "Authorization header requires Credential, SignedHeaders, Signature and X-Amz-Date"
            ) from exc
        if key_id != self.access_key_id:
            raise Refused(403, "The security token included in the request is invalid.")
        if (service, region, terminal) != (SERVICE, self.region, "aws4_request") or day != stamp[:8]:
            raise Refused(403, "Credential should be scoped to a valid region, service execute-api and date")
        if abs(time.time() - signed_at.timestamp()) > MAX_SKEW_SECONDS:
            raise Refused(403, "Signature expired")
        if "host" not in signed:
            raise Refused(403, "'Host' must be a signed header")
        request = AWSRequest(
            method=method,
            url=f"http://{lowered.get('host', '')}{quote(unquote(path), safe='/~')}" + (f"?{query}" if query else ""),
            data=body,
            headers={name: lowered.get(name, "") for name in signed},
        )
        request.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(self.access_key_id, self.secret_access_key), SERVICE, self.region)
        signer._headers_to_sign = None
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, signature):
            raise Refused(403, "The request signature we calculated does not match the signature you provided.")
        return {
            "accessKey": self.access_key_id,
            "accountId": "123456789012",
            "callerId": "AIDALOCALSTOREFRONT",
            "principalOrgId": None,
            "userArn": "arn:aws:iam::123456789012:user/local-storefront",
            "userId": "AIDALOCALSTOREFRONT",
        }

    # -- JWT --------------------------------------------------------------------------------------

    def _key_set(self, authorizer: JwtAuthorizer) -> KeySet:
        if self._keys is None:
            self._keys = KeySet.import_key_set(requests.get(authorizer.jwks_url, timeout=5).json())
        return self._keys

    def _check_jwt(self, authorizer: JwtAuthorizer, scopes: tuple[str, ...], headers: dict[str, str]) -> dict[str, Any]:
        lowered = {k.lower(): v for k, v in headers.items()}
        token = lowered.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            raise Refused(401, "Unauthorized")
        try:
            decoded = jwt.decode(token, self._key_set(authorizer), algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            raise Refused(401, "Unauthorized") from exc
        claims = decoded.claims
        now = time.time()
        audience = claims.get("client_id") or claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if (
            claims.get("token_use") != "access"  # an ID token is no access token, whatever its groups
            or claims.get("iss") != authorizer.issuer
            or not set(audiences) & set(authorizer.audience)
            or not isinstance(claims.get("exp"), int | float)
            or claims["exp"] <= now
            or float(claims.get("nbf", 0)) > now + 60
        ):
            raise Refused(401, "Unauthorized")
        granted = set(str(claims.get("scope", "")).split()) | set(claims.get("cognito:groups") or [])
        if scopes and not granted & set(scopes):
            raise Refused(403, "Forbidden")
        return {
            "claims": {k: v if isinstance(v, str) else str(v) for k, v in claims.items()},
            "scopes": sorted(granted),
        }

    # -- what callers need ------------------------------------------------------------------------

    def storefront_credentials(self) -> dict[str, str]:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "region": self.region,
        }

    def courier_token(self, courier_id: str) -> dict[str, Any]:
        """A fresh access token of the couriers' pool for this courier (username = courier id).

        Many devices of one courier may ask at the same moment, and every token handed out stays valid
        until it expires (Cognito keeps earlier tokens valid when a user signs in again). So a courier is
        enrolled once (user, password, verify group) and every request after that only signs in with
        that password, which nobody changes under a concurrent sign-in."""
        pool = self.refs[_only("AWS::Cognito::UserPool")]["Ref"]
        client = self.refs[_only("AWS::Cognito::UserPoolClient")]["Ref"]
        cognito = self.session.client("cognito-idp")
        result = cognito.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=client,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": courier_id, "PASSWORD": self._enrolled(cognito, pool, courier_id)},
        )["AuthenticationResult"]
        return {"access_token": result["AccessToken"], "expires_in": result["ExpiresIn"]}

    def _enrolled(self, cognito: Any, pool: str, courier_id: str) -> str:
        """The courier's password, enrolling the courier first if this stack has not yet: one
        enrolment at a time, so two first requests do not both create (and overwrite) the user."""
        password = self._passwords.get(courier_id)
        if password is not None:
            return password
        with self._enrolling:
            if courier_id in self._passwords:
                return self._passwords[courier_id]
            password = local_password()
            try:
                cognito.admin_create_user(UserPoolId=pool, Username=courier_id, MessageAction="SUPPRESS")
            except cognito.exceptions.UsernameExistsException:
                pass
            cognito.admin_set_user_password(UserPoolId=pool, Username=courier_id, Password=password, Permanent=True)
            for scope in self.courier_scopes():
                cognito.admin_add_user_to_group(UserPoolId=pool, Username=courier_id, GroupName=scope)
            self._passwords[courier_id] = password
            return password

    @staticmethod
    def courier_scopes() -> list[str]:
        found = []
        for server in resources("AWS::Cognito::UserPoolResourceServer").values():
            props = server["Properties"]
            found += [f"{props['Identifier']}/{s['ScopeName']}" for s in props.get("Scopes", [])]
        return found


def local_password() -> str:
    """A throwaway password for a local courier that meets the pool's policy by construction (upper and
    lower case, a digit, 12 or more), not by chance: a random tail alone lacks a digit about once in 60
    tries, and minting the token then failed with a 500."""
    return f"Local-{secrets.token_urlsafe(18)}-7"


def _only(kind: str) -> str:
    return next(iter(resources(kind)))
