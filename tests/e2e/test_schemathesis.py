"""schemathesis against docs/openapi.yaml and the local stack with authentication on: whatever a
caller sends within (or around) the described shapes, no answer is a 5xx, every answer matches its
documented schema, and requests without valid credentials are refused."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    missing_required_header,
    positive_data_acceptance,
    unsupported_method,
)

from local.template import ROOT

pytestmark = [pytest.mark.e2e]

# The local-only routes change the stack's clock and state; they are tested on their own.
schema = schemathesis.openapi.from_path(str(ROOT / "docs" / "openapi.yaml")).exclude(path_regex="^/local/")


class SigV4(requests.auth.AuthBase):
    """Signs a prepared request as `curl --aws-sigv4` or an AWS SDK would (service execute-api)."""

    def __init__(self, creds: dict[str, str]) -> None:
        self.credentials = Credentials(creds["access_key_id"], creds["secret_access_key"])
        self.region = creds["region"]

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        signed = AWSRequest(method=prepared.method, url=prepared.url, data=prepared.body or b"")
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        prepared.headers.pop("Authorization", None)
        prepared.headers.update({k: v for k, v in signed.headers.items() if k in ("Authorization", "X-Amz-Date")})
        return prepared


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = f"Bearer {self.token}"
        return prepared


# Answers where the product does what API Gateway does in AWS rather than what schemathesis prefers: a
# missing SigV4 signature is 403 (not 401), a method no route declares is 404 (not 405). And a request
# the schema allows may still be refused for rules no JSON schema can state (a time zone of that
# country, a day that has ended, no live code): those answers are checked against their schemas still.
EXCLUDED = [missing_required_header, unsupported_method, positive_data_acceptance]


@pytest.fixture(scope="module")
def callers(secure_stack_url):
    creds = requests.get(f"{secure_stack_url}/local/credentials/storefront", timeout=5).json()
    token = requests.post(f"{secure_stack_url}/local/tokens/courier", json={"courier_id": "c-fuzz"}, timeout=10)
    return {"storefront": SigV4(creds), "courier": Bearer(token.json()["access_token"])}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_answers_match_the_description(case, secure_stack_url, callers):
    courier = case.path.endswith(("/verifications", "/attempts"))
    # A case without an Authorization header is schemathesis probing that missing credentials are
    # refused: send it as it is. Any other gets real credentials in place of the generated header.
    authorized = any(name.lower() == "authorization" for name in (case.headers or {}))
    auth = callers["courier" if courier else "storefront"] if authorized else None
    case.call_and_validate(base_url=secure_stack_url, auth=auth, excluded_checks=EXCLUDED)
