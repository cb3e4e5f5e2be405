"""The local stack resolves what the template says about its own address: `Fn::If` on its conditions, and
the HTTP API's `https://${Api}.execute-api...` as the stack's own URL (the links in code emails)."""

from __future__ import annotations

from local.provision import api_urls, condition_holds, function_environment
from local.template import functions


def _refs() -> dict[str, dict[str, str]]:
    return {
        "AWS::Region": {"Ref": "eu-south-1"},
        "AWS::URLSuffix": {"Ref": "amazonaws.com"},
        "DeliveryApi": {"Ref": "DeliveryApi-local"},
    }


def test_no_public_base_url_by_default_so_links_use_the_apis_own_address():
    refs = _refs()
    assert condition_holds("HasPublicBaseUrl", refs) is False
    email = function_environment(functions()["EmailFunction"], refs)
    assert email["PUBLIC_BASE_URL"] == "https://DeliveryApi-local.execute-api.eu-south-1.amazonaws.com"


def test_on_the_local_stack_the_api_is_the_stacks_own_url():
    refs = _refs()
    api_urls(refs, "http://127.0.0.1:3999")
    assert function_environment(functions()["EmailFunction"], refs)["PUBLIC_BASE_URL"] == "http://127.0.0.1:3999"
