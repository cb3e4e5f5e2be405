"""The local stack refuses unauthenticated, forged, expired and wrongly scoped callers as API Gateway
would in AWS: SigV4 on storefront routes, a Cognito access token with the verify scope on courier
routes. Forged tokens are signed with moto's own issuer key (shipped with moto) to change one claim
at a time, so each check is shown to be made."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support import factories

pytestmark = [pytest.mark.e2e]


class Storefront:
    def __init__(self, url: str, creds: dict[str, str], secret: str | None = None) -> None:
        self.url = url
        self.credentials = Credentials(creds["access_key_id"], secret or creds["secret_access_key"])
        self.region = creds["region"]

    def call(self, method: str, path: str, body=None, signed_at: datetime | None = None) -> requests.Response:
        data = json.dumps(body).encode() if body is not None else b""
        request = AWSRequest(
            method=method, url=f"{self.url}{path}", data=data, headers={"content-type": "application/json"}
        )
        signer = SigV4Auth(self.credentials, "execute-api", self.region)
        if signed_at is None:
            signer.add_auth(request)
        else:  # sign as if at another instant
            request.context["timestamp"] = signed_at.strftime("%Y%m%dT%H%M%SZ")
            request.headers["X-Amz-Date"] = request.context["timestamp"]
            signer._modify_request_before_signing(request)
            canonical = signer.canonical_request(request)
            signature = signer.signature(signer.string_to_sign(request, canonical), request)
            signer._inject_signature_to_request(request, signature)
        return requests.request(method, request.url, data=data, headers=dict(request.headers), timeout=10)


@pytest.fixture(scope="module")
def storefront(secure_stack_url):
    creds = requests.get(f"{secure_stack_url}/local/credentials/storefront", timeout=5).json()
    assert set(creds) == {"access_key_id", "secret_access_key", "region"}
    return Storefront(secure_stack_url, creds)


def courier_token(url: str, courier_id: str) -> str:
    answer = requests.post(f"{url}/local/tokens/courier", json={"courier_id": courier_id}, timeout=10)
    assert answer.status_code == 200 and answer.json()["expires_in"] > 0
    return answer.json()["access_token"]


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def moto_issuer_key() -> RSAKey:
    raw = resources.files("moto.cognitoidp").joinpath("resources", "jwks-private.json.gz").read_bytes()
    return RSAKey.import_key(json.loads(gzip.decompress(raw)))


def forged(claims: dict, *, key=None, alg: str = "RS256") -> str:
    keys = key or moto_issuer_key()
    return jwt.encode({"alg": alg, "kid": "dummy"}, claims, keys, algorithms=[alg])


def verify(url: str, delivery_id: str, token: str | None, body=None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{url}/deliveries/{delivery_id}/verifications", json=body or {"code": "123456"}, headers=headers, timeout=10
    )


@pytest.fixture(scope="module")
def delivery(storefront):
    body = factories.registration(delivery_date=(datetime.now(UTC) + timedelta(days=2)).date().isoformat())
    created = storefront.call("POST", "/deliveries", body)
    assert created.status_code == 201, created.text
    return body["delivery_id"]


def test_storefront_routes_need_a_valid_sigv4_signature(secure_stack_url, storefront, delivery):
    assert storefront.call("GET", f"/deliveries/{delivery}").status_code == 200
    unsigned = requests.get(f"{secure_stack_url}/deliveries/{delivery}", timeout=5)
    assert unsigned.status_code == 403 and unsigned.json() == {"message": "Forbidden"}
    wrong_secret = Storefront(
        secure_stack_url,
        {**requests.get(f"{secure_stack_url}/local/credentials/storefront", timeout=5).json()},
        secret="not-the-secret",
    )
    assert wrong_secret.call("GET", f"/deliveries/{delivery}").status_code == 403
    stale = storefront.call("GET", f"/deliveries/{delivery}", signed_at=datetime.now(UTC) - timedelta(minutes=20))
    assert stale.status_code == 403
    # a signature over another body does not cover this one
    request = AWSRequest(method="POST", url=f"{secure_stack_url}/deliveries/{delivery}/cancel", data=b"{}")
    SigV4Auth(storefront.credentials, "execute-api", storefront.region).add_auth(request)
    tampered = requests.post(request.url, data=b'{"x": 1}', headers=dict(request.headers), timeout=5)
    assert tampered.status_code == 403
    courier = courier_token(secure_stack_url, "c-storefront-probe")
    as_courier = requests.get(
        f"{secure_stack_url}/deliveries/{delivery}", headers={"Authorization": f"Bearer {courier}"}, timeout=5
    )
    assert as_courier.status_code == 403


def test_courier_routes_need_a_live_token_from_the_pool_with_the_verify_scope(secure_stack_url, delivery):
    url = secure_stack_url
    token = courier_token(url, "c-e2e-1")
    good = claims_of(token)
    assert verify(url, delivery, token).status_code == 403  # admitted: the code itself was judged (wrong)
    assert verify(url, delivery, None).status_code == 401
    assert verify(url, delivery, "not-a-jwt").status_code == 401
    assert verify(url, delivery, forged(good)).status_code == 403  # moto's key, same claims: admitted
    now = int(time.time())
    assert verify(url, delivery, forged({**good, "exp": now - 10})).status_code == 401
    assert verify(url, delivery, forged({**good, "client_id": "another-client"})).status_code == 401
    assert verify(url, delivery, forged({**good, "iss": good["iss"] + "x"})).status_code == 401
    no_scope = {k: v for k, v in good.items() if k != "cognito:groups"}
    assert verify(url, delivery, forged(no_scope)).status_code == 403
    assert verify(url, delivery, forged(no_scope)).json() == {"message": "Forbidden"}
    other_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert verify(url, delivery, forged(good, key=other_key)).status_code == 401
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(good).encode()).rstrip(b"=").decode()
    assert verify(url, delivery, f"{header}.{payload}.").status_code == 401


def test_the_token_names_the_courier_and_assignment_hides_the_delivery(secure_stack_url, storefront, delivery):
    url = secure_stack_url
    mine, other = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    body = factories.registration(delivery_date=(datetime.now(UTC) + timedelta(days=2)).date().isoformat())
    assert storefront.call("POST", "/deliveries", body).status_code == 201
    delivery_id = body["delivery_id"]
    assigned = storefront.call("PUT", f"/deliveries/{delivery_id}/courier", {"courier_id": mine})
    assert assigned.status_code == 200 and assigned.json()["courier_id"] == mine
    my_token, other_token = courier_token(url, mine), courier_token(url, other)
    mismatch = verify(url, delivery_id, my_token, {"code": "123456", "courier_id": other})
    assert mismatch.status_code == 403 and mismatch.json()["error"]["code"] == "FORBIDDEN"
    hidden = verify(url, delivery_id, other_token)
    unknown = verify(url, "NEVER-REGISTERED-1", other_token)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"]
    attempt = requests.post(
        f"{url}/deliveries/{delivery_id}/attempts",
        json={"outcome": "ACCESS_PROBLEM"},
        headers={"Authorization": f"Bearer {other_token}"},
        timeout=5,
    )
    assert attempt.status_code == 404
    assert verify(url, delivery_id, my_token).status_code == 403  # mine: admitted, the code judged


def test_many_devices_of_one_courier_get_tokens_at_once_and_every_token_stays_valid(secure_stack_url):
    # Given one courier whose devices all ask for a token at the same moment, round after round
    url, courier_id, devices, rounds = secure_stack_url, f"c-{uuid.uuid4().hex[:8]}", 8, 3
    handed_out: list[str] = []
    for _ in range(rounds):
        together = threading.Barrier(devices)

        def mint(together: threading.Barrier) -> requests.Response:
            together.wait()
            return requests.post(f"{url}/local/tokens/courier", json={"courier_id": courier_id}, timeout=30)

        with ThreadPoolExecutor(devices) as pool:
            answers = list(pool.map(mint, [together] * devices))
        # Then every device got a token
        assert [a.status_code for a in answers] == [200] * devices, [a.text for a in answers]
        handed_out += [a.json()["access_token"] for a in answers]
    # And every token handed out, the first round's too, still passes the courier routes' authorizer:
    # the request reaches the function, which judges the (unknown) delivery itself.
    assert len(set(handed_out)) == devices * rounds
    for token in handed_out:
        assert claims_of(token)["username"] == courier_id
        answer = verify(url, "NEVER-REGISTERED-1", token)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "NOT_FOUND", answer.text


def test_local_auth_routes_exist_only_with_auth_on(stack_url):
    assert requests.get(f"{stack_url}/local/credentials/storefront", timeout=5).status_code == 404
    assert requests.post(f"{stack_url}/local/tokens/courier", json={"courier_id": "c-1"}, timeout=5).status_code == 404


def test_token_requests_are_validated(secure_stack_url):
    answer = requests.post(f"{secure_stack_url}/local/tokens/courier", json={"courier_id": "no spaces"}, timeout=5)
    assert answer.status_code == 422 and "courier_id" in answer.json()["error"]["message"]


def test_the_receipt_key_is_public_and_a_receipt_checks_against_it(secure_stack_url, storefront):
    from joserfc import jws
    from joserfc.jwk import KeySet

    keys = requests.get(f"{secure_stack_url}/.well-known/jwks.json", timeout=5)  # no signature, no token
    assert keys.status_code == 200 and keys.json()["keys"][0]["crv"] == "Ed25519"
    body = factories.registration(delivery_date=(datetime.now(UTC) + timedelta(days=2)).date().isoformat())
    assert storefront.call("POST", "/deliveries", body).status_code == 201
    delivery_id = body["delivery_id"]
    assert requests.get(f"{secure_stack_url}/deliveries/{delivery_id}/receipt", timeout=5).status_code == 403
    assert storefront.call("GET", f"/deliveries/{delivery_id}/receipt").status_code == 409  # not delivered yet
    code = storefront.call("GET", f"/deliveries/{delivery_id}/code").json()["code"]
    token = courier_token(secure_stack_url, "c-receipt")
    assert verify(secure_stack_url, delivery_id, token, {"code": code, "device_id": "d-7"}).status_code == 200
    receipt = storefront.call("GET", f"/deliveries/{delivery_id}/receipt").json()["receipt"]
    checked = jws.deserialize_compact(receipt, KeySet.import_key_set(keys.json()), algorithms=["Ed25519"])
    claims = json.loads(checked.payload)
    assert (claims["sub"], claims["courier_id"], claims["device_id"]) == (delivery_id, "c-receipt", "d-7")
