"""The courier's app in a real Chromium against a local stack with authentication on, opened through a
TCP proxy the tests stop and start (the network going away under the page and its service worker).

Given a delivery registered by the storefront (SigV4), the courier signs in through the stack's
/oauth2/authorize with PKCE and checks codes; the proxy then loses an ACCEPTED answer, refuses a
failed-attempt report, and the night's rotation makes a waiting report stale.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import axe_violations, new_browser, tab_to, wait_for
from tests.browser.screens import shoot
from tests.e2e.conftest import _stack
from tests.support import factories
from tests.support.proxy import Proxy

pytestmark = pytest.mark.xdist_group("courier-app")

DAY = date(2026, 11, 23)  # a Monday, a working day in Rome
MORNING = "2026-11-23T10:00:00+01:00"
NEXT_NIGHT = "2026-11-24T01:30:00+01:00"  # the day has ended; the rotation is due


@pytest.fixture(scope="module")
def stack():
    yield from _stack("on")


@pytest.fixture(scope="module")
def storefront(stack):
    creds = requests.get(f"{stack}/local/credentials/storefront", timeout=5).json()
    credentials = Credentials(creds["access_key_id"], creds["secret_access_key"])

    def call(method: str, path: str, body=None) -> requests.Response:
        data = json.dumps(body).encode() if body is not None else b""
        request = AWSRequest(
            method=method, url=f"{stack}{path}", data=data, headers={"content-type": "application/json"}
        )
        SigV4Auth(credentials, "execute-api", creds["region"]).add_auth(request)
        return requests.request(method, request.url, data=data, headers=dict(request.headers), timeout=30)

    return call


@pytest.fixture
def proxy(stack):
    proxy = Proxy(int(stack.rsplit(":", 1)[1]))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def registered(stack, storefront):
    """A delivery for today, at the stack's clock, and a reader of its current code."""
    requests.put(f"{stack}/local/clock", json={"now": MORNING}, timeout=10).raise_for_status()
    body = factories.registration(delivery_date=DAY.isoformat())
    assert storefront("POST", "/deliveries", body).status_code == 201

    def code() -> str:
        answer = storefront("GET", f"/deliveries/{body['delivery_id']}/code")
        assert answer.status_code == 200, answer.text
        return answer.json()["code"]

    yield body["delivery_id"], code
    requests.delete(f"{stack}/local/clock", timeout=10)


def visible(driver, element_id: str) -> bool:
    found = driver.find_elements(By.ID, element_id)
    return bool(found) and found[0].is_displayed()


def result_text(driver) -> str:
    return driver.find_element(By.ID, "result").text


def assert_accessible(driver) -> None:
    assert axe_violations(driver) == []


def sign_in(driver, app_url: str, courier_id: str = "c-17") -> None:
    driver.get(f"{app_url}/courier/")
    wait_for(driver, lambda d: visible(d, "signin"))
    assert_accessible(driver)
    shoot(driver, "courier-signin")
    driver.find_element(By.ID, "signin").click()
    wait_for(driver, lambda d: visible(d, "courier-id"))
    assert "/oauth2/authorize" in driver.current_url and "code_challenge_method=S256" in driver.current_url
    assert_accessible(driver)
    shoot(driver, "courier-local-signin")
    driver.find_element(By.ID, "courier-id").send_keys(courier_id)
    driver.find_element(By.ID, "signin-submit").click()
    wait_for(driver, lambda d: visible(d, "delivery-id"))
    assert "code=" not in driver.current_url, "the address bar keeps no sign-in code"
    assert driver.execute_script("return localStorage.getItem('courier.tokens')") is None
    assert_accessible(driver)


def check(driver, delivery_id: str, code: str) -> None:
    field = driver.find_element(By.ID, "delivery-id")
    field.clear()
    field.send_keys(delivery_id)
    driver.find_element(By.ID, "code").send_keys(code)
    driver.find_element(By.ID, "verify").click()


def looked_up(driver, delivery_id: str) -> None:
    """The delivery id typed and left while online: the app reads the issue its code is at (`/door`)."""
    field = driver.find_element(By.ID, "delivery-id")
    field.send_keys(delivery_id)
    field.send_keys(Keys.TAB)
    wait_for(
        driver,
        lambda d: any(
            "/door" in e["name"] for e in d.execute_script("return performance.getEntriesByType('resource')")
        ),
    )


def trail(storefront, delivery_id: str) -> list[dict]:
    return storefront("GET", f"/deliveries/{delivery_id}/events").json()["events"]


@pytest.fixture
def driver():
    browser = new_browser()
    yield browser
    browser.quit()


def test_the_courier_signs_in_with_pkce_and_sees_a_wrong_then_the_right_code_judged(
    driver, proxy, registered, storefront
):
    delivery_id, code = registered
    right = code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    sign_in(driver, proxy.url)

    check(driver, delivery_id, f"{wrong[:3]} {wrong[3:]}")  # pasted with a space: accepted as 6 digits
    wait_for(driver, lambda d: "Wrong code" in result_text(d))
    assert "4" in result_text(driver)
    assert "bad" in driver.find_element(By.ID, "result").get_attribute("class")
    assert driver.find_element(By.ID, "result").get_attribute("aria-live") == "assertive"
    assert_accessible(driver)
    shoot(driver, "courier-wrong-code")

    check(driver, delivery_id, right)
    wait_for(driver, lambda d: "Code accepted" in result_text(d))
    assert "ok" in driver.find_element(By.ID, "result").get_attribute("class")
    assert_accessible(driver)
    shoot(driver, "courier-accepted")
    outcomes = [e["outcome"] for e in trail(storefront, delivery_id) if e["type"] == "VERIFICATION"]
    assert outcomes == ["REJECTED", "ACCEPTED"]


def test_a_lost_answer_is_asked_again_with_the_same_key_and_accepted_exactly_once(
    driver, proxy, registered, storefront
):
    delivery_id, code = registered
    right = code()
    sign_in(driver, proxy.url)
    proxy.cut_answer_to(b"/verifications")
    check(driver, delivery_id, right)
    assert proxy.cut.wait(30), f"the verification reached the stack: {result_text(driver)!r}"
    wait_for(driver, lambda d: visible(d, "give-up") and "Checking" in result_text(d))
    assert_accessible(driver)
    shoot(driver, "courier-checking")
    assert [e["type"] for e in trail(storefront, delivery_id)].count("DELIVERED") == 1
    stored = driver.execute_script("return JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    assert '"code"' not in stored, "a pending verification's code is never stored"

    proxy.start()
    wait_for(driver, lambda d: "Code accepted" in result_text(d))
    events = trail(storefront, delivery_id)
    assert [e["type"] for e in events].count("DELIVERED") == 1
    assert [e.get("outcome") for e in events if e["type"] == "VERIFICATION"] == ["ACCEPTED"]


def test_a_gateway_error_is_no_verdict_and_the_same_request_is_asked_again(driver, proxy, registered, storefront):
    delivery_id, code = registered
    sign_in(driver, proxy.url)
    proxy.answer_instead(b"/verifications", 503)
    check(driver, delivery_id, code())
    wait_for(driver, lambda d: "Code accepted" in result_text(d))
    assert proxy.faked.is_set(), "the first request was answered 503 by the proxy, not by the stack"
    events = trail(storefront, delivery_id)
    assert [e["type"] for e in events].count("DELIVERED") == 1
    assert [e.get("outcome") for e in events if e["type"] == "VERIFICATION"] == ["ACCEPTED"]


def test_a_failed_attempt_reported_while_unreachable_arrives_once_when_back(driver, proxy, registered, storefront):
    delivery_id, _code = registered
    sign_in(driver, proxy.url)
    looked_up(driver, delivery_id)
    proxy.stop()
    driver.find_element(By.ID, "attempt-RECIPIENT_UNAVAILABLE").click()
    wait_for(driver, lambda d: visible(d, "pending") and delivery_id in d.find_element(By.ID, "pending-list").text)
    assert "No connection" in result_text(driver)
    assert_accessible(driver)
    shoot(driver, "courier-pending")
    assert not [e for e in trail(storefront, delivery_id) if e["type"] == "ATTEMPT_FAILED"]

    proxy.start()
    wait_for(driver, lambda d: not visible(d, "pending"))
    assert "Failed attempt recorded" in result_text(driver)
    failed = [e for e in trail(storefront, delivery_id) if e["type"] == "ATTEMPT_FAILED"]
    assert len(failed) == 1 and failed[0]["outcome"] == "RECIPIENT_UNAVAILABLE"


def test_a_report_replayed_after_the_nights_rotation_is_stale_and_the_new_code_works(
    driver, proxy, registered, storefront, stack
):
    delivery_id, code = registered
    sign_in(driver, proxy.url)
    looked_up(driver, delivery_id)
    proxy.stop()
    driver.find_element(By.ID, "attempt-CODE_NOT_PROVIDED").click()
    wait_for(driver, lambda d: visible(d, "pending"))

    # The night passes while the device is out of reach: the delivery gets its next day and a new code.
    requests.put(f"{stack}/local/clock", json={"now": NEXT_NIGHT}, timeout=10).raise_for_status()
    requests.post(f"{stack}/local/schedules/run", timeout=60).raise_for_status()
    rotated = storefront("GET", f"/deliveries/{delivery_id}").json()
    assert rotated["issue_number"] == 2 and rotated["status"] == "SCHEDULED"

    proxy.start()
    wait_for(driver, lambda d: not visible(d, "pending"))
    assert "new code" in result_text(driver)
    assert not [e for e in trail(storefront, delivery_id) if e["type"] == "ATTEMPT_FAILED"]

    requests.put(f"{stack}/local/clock", json={"now": "2026-11-24T10:00:00+01:00"}, timeout=10).raise_for_status()
    check(driver, delivery_id, code())
    wait_for(driver, lambda d: "Code accepted" in result_text(d))


def test_sign_in_and_verify_with_the_keyboard_alone(proxy, registered):
    delivery_id, code = registered
    driver = new_browser()
    try:
        driver.get(f"{proxy.url}/courier/")
        wait_for(driver, lambda d: visible(d, "signin"))
        tab_to(driver, "signin").send_keys(Keys.ENTER)
        wait_for(driver, lambda d: visible(d, "courier-id"))
        tab_to(driver, "courier-id").send_keys("c-18", Keys.ENTER)
        wait_for(driver, lambda d: visible(d, "delivery-id"))
        tab_to(driver, "delivery-id").send_keys(delivery_id)
        tab_to(driver, "code").send_keys(code(), Keys.ENTER)
        wait_for(driver, lambda d: "Code accepted" in result_text(d))
    finally:
        driver.quit()
