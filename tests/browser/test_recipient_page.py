"""The recipient's page in a real Chromium against the local stack: the link from the local mailbox,
"show my code", revoking a delegate the storefront named, another day, replacing a leaked code (the old
link dies), a delegate's decline, and the whole of it with the keyboard alone. axe-core judges every screen.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import axe_violations, new_browser, tab_to, wait_for
from tests.browser.screens import shoot
from tests.e2e.conftest import _stack
from tests.e2e.test_lifecycle_http import mailbox, set_clock
from tests.support import factories

pytestmark = pytest.mark.xdist_group("recipient-page")

MONDAY_MORNING = "2026-11-23T09:00:00+01:00"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/r/[A-Za-z0-9_-]{32}")


@pytest.fixture(scope="module")
def stack():
    """Authentication off: the storefront's calls need no signature here; the page has none anyway."""
    yield from _stack("off")


@pytest.fixture
def driver():
    browser = new_browser()
    yield browser
    browser.quit()


def registered(stack: str) -> tuple[str, str, str]:
    """A delivery for Monday in Rome with a delegate the storefront named: its id and both addresses."""
    set_clock(stack, MONDAY_MORNING)
    maria, marco = (f"{name}-{uuid.uuid4().hex[:8]}@example.com" for name in ("maria", "marco"))
    body = factories.registration(recipient={"email": maria, "name": "Maria Rossi", "locale": "en-GB"})
    assert requests.post(f"{stack}/deliveries", json=body, timeout=30).status_code == 201
    named = requests.post(
        f"{stack}/deliveries/{body['delivery_id']}/delegates",
        json={"name": "Marco Bianchi", "email": marco, "locale": "en-GB"},
        timeout=30,
    )
    assert named.status_code == 201, named.text
    return body["delivery_id"], maria, marco


def link_in_email(stack: str, to: str, count: int = 1) -> str:
    mails = mailbox(stack, to, count)
    assert len(mails) >= count, f"{len(mails)} emails to {to}"
    found = LINK.search(mails[count - 1]["text"])
    assert found, "every code email carries the holder's link"
    return found.group(0)


def code_of(stack: str, delivery_id: str) -> str:
    return requests.get(f"{stack}/deliveries/{delivery_id}/code", timeout=30).json()["code"]


def trail(stack: str, delivery_id: str) -> list[dict]:
    return requests.get(f"{stack}/deliveries/{delivery_id}/events", timeout=30).json()["events"]


def present(driver, element_id: str) -> bool:
    return bool(driver.find_elements(By.ID, element_id))


def accessible(driver) -> None:
    assert axe_violations(driver) == []


def test_the_recipient_shows_the_code_revokes_a_delegate_moves_the_day_and_replaces_the_code(stack, driver):
    delivery_id, maria, _marco = registered(stack)
    code = code_of(stack, delivery_id)
    link = link_in_email(stack, maria)

    driver.get(link)
    wait_for(driver, lambda d: present(d, "show"))
    assert code not in driver.page_source and f"{code[:3]} {code[3:]}" not in driver.page_source
    accessible(driver)
    shoot(driver, "recipient-page")

    driver.find_element(By.ID, "show").click()
    wait_for(driver, lambda d: present(d, "code"))
    assert driver.find_element(By.ID, "code").text.replace(" ", "") == code
    assert driver.current_url == link, "the code is the POST's own answer, not a page a GET could fetch"
    accessible(driver)
    shoot(driver, "recipient-code")

    driver.get(link)
    wait_for(driver, lambda d: present(d, "revoke-dlg-1-button"))
    driver.find_element(By.ID, "revoke-dlg-1-button").click()
    wait_for(driver, lambda d: present(d, "notice") and not present(d, "revoke-dlg-1-button"))
    accessible(driver)
    revoked = [e for e in trail(stack, delivery_id) if e["type"] == "DELEGATE_REVOKED"]
    assert len(revoked) == 1 and revoked[0]["actor"]["kind"] == "recipient"

    days = driver.find_elements(By.CSS_SELECTOR, "#move-form input[name='delivery_date']")
    assert 1 <= len(days) <= 10, "the next working days of the destination's calendar"
    chosen = days[-1].get_attribute("value")
    days[-1].click()
    driver.find_element(By.ID, "move").click()
    wait_for(
        driver,
        lambda d: (
            present(d, "notice")
            and chosen in requests.get(f"{stack}/deliveries/{delivery_id}", timeout=30).json()["delivery_date"]
        ),
    )
    accessible(driver)
    shoot(driver, "recipient-moved")
    moved = [e for e in trail(stack, delivery_id) if e["type"] == "RESCHEDULED"]
    assert len(moved) == 1 and moved[0]["actor"]["kind"] == "recipient"

    emails_before = len(mailbox(stack, maria, 1))
    driver.find_element(By.ID, "replace").click()
    wait_for(driver, lambda d: present(d, "dead"))
    accessible(driver)
    shoot(driver, "recipient-link-ended")
    driver.get(link)
    wait_for(driver, lambda d: present(d, "dead"))
    assert code_of(stack, delivery_id) != code

    fresh = link_in_email(stack, maria, emails_before + 1)
    assert fresh != link, "the new code's email carries a new link"
    driver.get(fresh)
    wait_for(driver, lambda d: present(d, "show"))


def test_a_delegate_sees_their_page_and_declines(stack, driver):
    delivery_id, _maria, marco = registered(stack)
    link = link_in_email(stack, marco)
    driver.get(link)
    wait_for(driver, lambda d: present(d, "decline"))
    assert not present(driver, "replace") and not present(driver, "move-form"), "the recipient's controls only"
    accessible(driver)
    shoot(driver, "delegate-page")

    driver.find_element(By.ID, "decline").click()
    wait_for(driver, lambda d: present(d, "dead"))
    declined = [e for e in trail(stack, delivery_id) if e["type"] == "DELEGATE_REVOKED"]
    assert len(declined) == 1 and declined[0]["actor"]["kind"] == "delegate"


def test_show_and_resend_with_the_keyboard_alone(stack):
    delivery_id, maria, _marco = registered(stack)
    code = code_of(stack, delivery_id)
    driver = new_browser()
    try:
        driver.get(link_in_email(stack, maria))
        wait_for(driver, lambda d: present(d, "show"))
        tab_to(driver, "show").send_keys(Keys.ENTER)
        wait_for(driver, lambda d: present(d, "code"))
        assert driver.find_element(By.ID, "code").text.replace(" ", "") == code
        driver.back()
        wait_for(driver, lambda d: present(d, "resend"))
        tab_to(driver, "resend").send_keys(Keys.ENTER)
        wait_for(driver, lambda d: present(d, "notice"))
        resent = [e for e in trail(stack, delivery_id) if e["type"] == "CODE_RESENT"]
        assert len(resent) == 1 and resent[0]["actor"]["kind"] == "recipient"
    finally:
        driver.quit()
