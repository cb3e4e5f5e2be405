"""The recipient's page over HTTP on the local stack, as a browser without JavaScript uses it: the link in
the mailbox's email, the page without the code, "show my code", the actions and their redirects, CSRF,
dead links (the local clock moves a delivery 30 days past its end), and no token in the stack's log."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.e2e.test_lifecycle_http import mailbox, set_clock
from tests.support import factories

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/r/([A-Za-z0-9_-]{32})")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SHOWN = re.compile(r'id="code"[^>]*>(\d{3}) (\d{3})<')


# The deliveries these tests registered on the shared stack.
_REGISTERED: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _ended_afterwards():
    """The stack is shared: each delivery left open would be rotated (and its events sent to other tests'
    webhook receivers) when a later test moves the local clock on. Cancelled, it is left alone."""
    yield
    while _REGISTERED:
        url, delivery_id = _REGISTERED.pop()
        requests.post(f"{url}/deliveries/{delivery_id}/cancel", timeout=30)


def registered(url: str, locale: str = "en") -> tuple[str, str]:
    email = f"page-{uuid.uuid4().hex[:8]}@example.com"
    body = factories.registration(recipient={"email": email, "name": "Maria Rossi", "locale": locale})
    assert requests.post(f"{url}/deliveries", json=body, timeout=10).status_code == 201
    _REGISTERED.append((url, body["delivery_id"]))
    return body["delivery_id"], email


def link_in(url: str, email: str, count: int = 1) -> str:
    mails = mailbox(url, email, count)
    assert len(mails) >= count
    found = LINK.search(mails[count - 1]["text"])
    assert found and found.group(1) == url, "the email's link leads to this stack"
    assert found.group(0) in mails[count - 1]["html"]
    return found.group(0)


def trail(url: str, delivery_id: str) -> list[dict]:
    return requests.get(f"{url}/deliveries/{delivery_id}/events", timeout=30).json()["events"]


def post(page: str, action: str, csrf: str | None, **fields: str) -> requests.Response:
    form = {"action": action, **fields}
    if csrf is not None:
        form["csrf"] = csrf
    return requests.post(page, data=form, allow_redirects=False, timeout=30)


def test_the_page_from_the_email_shows_the_code_only_after_a_post(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    delivery_id, email = registered(stack_url)
    code = requests.get(f"{stack_url}/deliveries/{delivery_id}/code", timeout=30).json()["code"]
    page = link_in(stack_url, email)

    before = trail(stack_url, delivery_id)
    shown = requests.get(page, timeout=30)
    assert shown.status_code == 200 and shown.headers["Content-Type"].startswith("text/html")
    assert code not in shown.text and f"{code[:3]} {code[3:]}" not in shown.text
    assert shown.headers["Cache-Control"] == "no-store" and shown.headers["Referrer-Policy"] == "no-referrer"
    policy = shown.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert not re.search(r'(src|href)="(https?:)?//', shown.text), "nothing from another origin"
    style = requests.get(f"{stack_url}/pages/page.css", timeout=30)
    assert style.status_code == 200 and style.headers["Content-Type"].startswith("text/css")
    assert style.headers["Cache-Control"] == "no-store" and style.headers["Referrer-Policy"] == "no-referrer"
    assert trail(stack_url, delivery_id) == before, "a GET changes nothing"

    revealed = post(page, "show", CSRF.search(shown.text).group(1))
    assert revealed.status_code == 200 and revealed.headers["Cache-Control"] == "no-store"
    assert "".join(SHOWN.search(revealed.text).groups()) == code


def test_resend_and_replace_from_the_page(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    delivery_id, email = registered(stack_url)
    page = link_in(stack_url, email)
    csrf = CSRF.search(requests.get(page, timeout=30).text).group(1)

    resent = post(page, "resend", csrf)
    assert resent.status_code == 303
    after = requests.get(page, params={"done": "resent"}, timeout=30)
    assert "We sent your code again" in after.text and "2 more times" in after.text
    assert len(mailbox(stack_url, email, 2)) == 2
    resends = [e for e in trail(stack_url, delivery_id) if e["type"] == "CODE_RESENT"]
    assert [e["actor"]["kind"] for e in resends] == ["recipient"]

    replaced = post(page, "replace", csrf)
    assert replaced.status_code == 303
    followed = requests.get(requests.compat.urljoin(page, replaced.headers["Location"]), timeout=30)
    assert followed.status_code == 404 and "the new link is in the email" in followed.text
    new_page = link_in(stack_url, email, 3)
    assert new_page != page and requests.get(new_page, timeout=30).status_code == 200
    rotated = [e for e in trail(stack_url, delivery_id) if e["type"] == "ROTATED"]
    assert rotated and rotated[-1]["actor"]["kind"] == "recipient"


def test_a_post_without_the_right_csrf_token_changes_nothing(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    delivery_id, email = registered(stack_url)
    page = link_in(stack_url, email)
    before = trail(stack_url, delivery_id)
    for csrf in (None, "forged-value"):
        for action in ("resend", "replace", "show"):
            assert post(page, action, csrf).status_code == 403
    assert trail(stack_url, delivery_id) == before


def test_every_dead_link_gets_the_same_page(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    delivery_id, email = registered(stack_url)
    page = link_in(stack_url, email)
    unknown = requests.get(f"{stack_url}/r/{'A' * 32}", timeout=30)
    forged = requests.get(page[:-1] + ("B" if page[-1] != "B" else "C"), timeout=30)
    assert unknown.status_code == forged.status_code == 404 and unknown.text == forged.text
    assert unknown.headers["Content-Security-Policy"] == forged.headers["Content-Security-Policy"]

    name = {"name": "Luca", "email": f"luca-{uuid.uuid4().hex[:8]}@example.com"}
    delegate = requests.post(f"{stack_url}/deliveries/{delivery_id}/delegates", json=name, timeout=30).json()
    delegate_page = link_in(stack_url, name["email"])
    assert requests.get(delegate_page, timeout=30).status_code == 200
    gone = requests.delete(f"{stack_url}/deliveries/{delivery_id}/delegates/{delegate['delegate_id']}", timeout=30)
    assert gone.status_code == 200
    revoked = requests.get(delegate_page, timeout=30)
    assert revoked.status_code == 404 and revoked.text == unknown.text

    assert requests.post(f"{stack_url}/deliveries/{delivery_id}/cancel", timeout=30).status_code == 200
    assert requests.get(page, timeout=30).status_code == 200  # cancelled: the page says so
    try:
        set_clock(stack_url, "2026-12-24T09:00:00+01:00")
        ended = requests.get(page, timeout=30)
        assert ended.status_code == 410 and ended.text == unknown.text
    finally:
        set_clock(stack_url, "2026-11-23T09:00:00+01:00")


def test_no_token_in_the_stacks_log(stack_url, stack_output):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    delivery_id, email = registered(stack_url)
    page = link_in(stack_url, email)
    csrf = CSRF.search(requests.get(page, timeout=30).text).group(1)
    assert post(page, "show", csrf).status_code == 200
    assert post(page, "resend", csrf).status_code == 303
    requests.get(f"{stack_url}/local/mailbox", timeout=60)  # the consumers have caught up
    token = page.rsplit("/", 1)[1]
    log = stack_output()
    assert delivery_id in log, "the log is the stack's (its lines name the delivery)"
    assert token not in log and csrf not in log


def test_the_page_is_open_on_the_stack_that_enforces_authentication(secure_stack_url):
    """Its route has no authorizer: a link works in any browser, and a dead one is the dead-link page."""
    answer = requests.get(f"{secure_stack_url}/r/{'A' * 32}", timeout=30)
    assert answer.status_code == 404 and "This link no longer works" in answer.text
    assert requests.get(f"{secure_stack_url}/pages/page.css", timeout=30).status_code == 200
