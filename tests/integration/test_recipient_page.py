"""The recipient's page, /r/{token}, through its handler: what a GET shows (never the code), what each
POST does (with the same limits as the storefront's controls), CSRF, and the one page every dead link gets."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from delivery_otp import delegates, dispatch, links, reads, registration, verification, wiring
from delivery_otp.audit import COURIER, Actor
from delivery_otp.deliveries import shard_of
from delivery_otp.model import RECIPIENT
from delivery_otp.notifications import send_code_emails
from delivery_otp.web import SECURITY_HEADERS
from delivery_otp.wiring import adapters

from tests.support import factories
from tests.support.lambdas import invoke

PAGE = "RecipientPageFunction"
LINK = re.compile(r"https?://[^\s\"<>]+/r/([A-Za-z0-9_-]{32})")


def page_event(method: str, token: str, form: dict[str, str] | None = None, query: str = "") -> dict:
    return {
        "version": "2.0",
        "routeKey": f"{method} /r/{{token}}",
        "rawPath": f"/r/{token}",
        "rawQueryString": query,
        "headers": {"accept-language": "en", "content-type": "application/x-www-form-urlencoded"},
        "pathParameters": {"token": token},
        "requestContext": {"http": {"method": method, "path": f"/r/{token}"}, "requestId": str(uuid.uuid4())},
        "body": urlencode(form) if form is not None else None,
        "isBase64Encoded": False,
    }


def get(token: str, query: str = "") -> dict:
    return invoke(PAGE, page_event("GET", token, query=query))


def post(token: str, action: str, csrf: str | None = "auto", **fields: str) -> dict:
    form = {"action": action, **fields}
    if csrf == "auto":
        form["csrf"] = links.csrf_token(adapters().keys.key(), token)
    elif csrf is not None:
        form["csrf"] = csrf
    return invoke(PAGE, page_event("POST", token, form))


def registered(locale: str = "en", **overrides) -> str:
    address = f"{uuid.uuid4().hex[:8]}@example.com"
    body = factories.registration(recipient={"email": address, "name": "Maria Rossi", "locale": locale})
    body.update(overrides)
    registration.register(body)
    return body["delivery_id"]


def email_now(delivery_id: str) -> None:
    item = adapters().deliveries.get(delivery_id)
    assert send_code_emails([(delivery_id, int(item.issue_number), int(item.resend_seq or 0))]) == []


def link_of(delivery_id: str, holder: str = RECIPIENT) -> str:
    item = adapters().deliveries.get(delivery_id)
    salt = links.salt_of(item, holder)
    assert salt
    return links.token(adapters().keys.key(), delivery_id, holder, salt)


def code_of(delivery_id: str) -> str:
    return reads.current_code(delivery_id)["code"]


def trail(delivery_id: str) -> list[dict]:
    return reads.audit_trail(delivery_id)["events"]


def dead(answer: dict, status: int = 404) -> str:
    assert answer["statusCode"] == status
    assert "This link no longer works" in answer["body"]
    return answer["body"]


def test_the_email_link_leads_to_that_holders_page_and_a_get_shows_no_code(clock, sent_mail):
    delivery_id = registered()
    delegates.add_delegate(delivery_id, {"name": "Luca Bianchi", "email": "luca@example.com", "locale": "de"})
    email_now(delivery_id)
    code = code_of(delivery_id)
    item = adapters().deliveries.get(delivery_id)
    mails = {m["to"]: m for m in sent_mail() if delivery_id in m["text"] or "Luca" in m["text"]}
    recipient_mail = mails[item.email]
    token = LINK.search(recipient_mail["text"]).group(1)
    assert token == link_of(delivery_id) and 'href="' in recipient_mail["html"] and token in recipient_mail["html"]
    assert code not in token

    answer = get(token)
    assert answer["statusCode"] == 200
    for name, value in SECURITY_HEADERS.items():
        assert answer["headers"][name] == value
    body = answer["body"]
    assert code not in body and f"{code[:3]} {code[3:]}" not in body
    assert 'lang="en"' in body and "Maria Rossi" in body and 'id="show"' in body
    assert "by phone" in body

    delegate_token = LINK.search(mails["luca@example.com"]["text"]).group(1)
    assert delegate_token == link_of(delivery_id, "dlg-1") != token
    delegate_page = get(delegate_token)["body"]
    assert 'lang="de"' in delegate_page and "Luca Bianchi" in delegate_page
    assert 'value="decline"' in delegate_page and 'value="resend"' not in delegate_page


def test_show_reveals_the_holders_own_code_in_a_200_not_a_redirect(clock):
    delivery_id = registered()
    delegates.add_delegate(delivery_id, {"name": "Luca", "email": "luca@example.com"})
    code = code_of(delivery_id)
    answer = post(link_of(delivery_id), "show")
    assert answer["statusCode"] == 200 and answer["headers"]["Cache-Control"] == "no-store"
    assert f"{code[:3]} {code[3:]}" in answer["body"] and 'id="code"' in answer["body"]
    delegate_answer = post(link_of(delivery_id, "dlg-1"), "show")
    shown = re.search(r'id="code"[^>]*>(\d{3}) (\d{3})<', delegate_answer["body"])
    assert shown and shown.group(1) + shown.group(2) != code
    # the delegate's code opens the delivery, as the delegate's own
    result = verification.verify(delivery_id, {"code": shown.group(1) + shown.group(2)}, Actor(COURIER))
    assert result.body["result"] == "ACCEPTED"


def test_a_get_changes_nothing(clock):
    delivery_id = registered()
    before = adapters().deliveries.get(delivery_id).serialize()
    for _ in range(3):
        assert get(link_of(delivery_id))["statusCode"] == 200
    assert adapters().deliveries.get(delivery_id).serialize() == before


def test_resend_from_the_page_is_audited_as_the_recipient_with_the_same_limit(clock):
    delivery_id = registered()
    token = link_of(delivery_id)
    assert "3 more times" in get(token)["body"]
    for _ in range(3):
        answer = post(token, "resend")
        assert answer["statusCode"] == 303 and answer["headers"]["Location"] == f"{token}?done=resent"
    refused = post(token, "resend")
    assert refused["headers"]["Location"] == f"{token}?done=too_many_resends"
    shown = get(token, "done=too_many_resends")["body"]
    assert "already been sent again 3 times today" in shown and "more times" not in shown
    assert "already been sent again 3 times today" in get(token)["body"], "the limit in words, not '0 more times'"
    resent = [e for e in trail(delivery_id) if e["type"] == "CODE_RESENT"]
    assert len(resent) == 3 and {e["actor"]["kind"] for e in resent} == {"recipient"}


def test_replace_gives_a_new_code_and_a_new_link_and_ends_the_old_link(clock, sent_mail):
    delivery_id = registered()
    old_token, old_code = link_of(delivery_id), code_of(delivery_id)
    answer = post(old_token, "replace")
    assert answer["statusCode"] == 303
    new_token = link_of(delivery_id)
    assert new_token != old_token and code_of(delivery_id) != old_code
    rotated = [e for e in trail(delivery_id) if e["type"] == "ROTATED"]
    assert rotated[-1]["actor"]["kind"] == "recipient"
    gone = dead(get(old_token))
    assert "If you just asked for a new code, the new link is in the email" in gone
    assert get(new_token)["statusCode"] == 200
    email_now(delivery_id)
    newest = sent_mail(adapters().deliveries.get(delivery_id).email)[-1]
    assert LINK.search(newest["text"]).group(1) == new_token


def test_the_storefronts_replace_also_ends_the_recipients_link(clock):
    from delivery_otp import controls

    delivery_id = registered()
    old_token = link_of(delivery_id)
    controls.replace_code(delivery_id)
    dead(get(old_token))
    assert get(link_of(delivery_id))["statusCode"] == 200


def test_the_nights_rotation_keeps_the_link(clock):
    from delivery_otp import rotation

    delivery_id = registered()
    token = link_of(delivery_id)
    clock.freeze(clock.now() + timedelta(days=1))
    rotation.rotate_all(clock.now(), only=[shard_of(delivery_id)])
    item = adapters().deliveries.get(delivery_id)
    assert int(item.issue_number) == 2 and item.delivery_date == "2026-11-24"
    assert link_of(delivery_id) == token and get(token)["statusCode"] == 200


def test_move_to_one_of_the_offered_days(clock):
    delivery_id = registered()
    token = link_of(delivery_id)
    body = get(token)["body"]
    offered = re.findall(r'name="delivery_date" value="(\d{4}-\d{2}-\d{2})"', body)
    assert len(offered) == 10 and "2026-11-23" not in offered and "2026-11-29" not in offered  # a Sunday
    answer = post(token, "move", delivery_date=offered[2])
    assert answer["headers"]["Location"] == f"{token}?done=moved"
    item = adapters().deliveries.get(delivery_id)
    assert item.delivery_date == offered[2]
    assert [e for e in trail(delivery_id) if e["type"] == "RESCHEDULED"][-1]["actor"]["kind"] == "recipient"
    assert link_of(delivery_id) == token  # a new day keeps the link
    far = post(token, "move", delivery_date="2027-06-01")
    assert far["headers"]["Location"] == f"{token}?done=too_late"
    assert adapters().deliveries.get(delivery_id).delivery_date == offered[2]


def test_the_recipient_revokes_a_delegate_and_that_link_dies(clock):
    delivery_id = registered()
    delegates.add_delegate(delivery_id, {"name": "Luca", "email": "luca@example.com"})
    delegate_token = link_of(delivery_id, "dlg-1")
    token = link_of(delivery_id)
    assert 'id="revoke-dlg-1"' in get(token)["body"]
    answer = post(token, "revoke", delegate_id="dlg-1")
    assert answer["headers"]["Location"] == f"{token}?done=revoked"
    assert "dlg-1" not in (adapters().deliveries.get(delivery_id).live_delegates or ())
    assert [e for e in trail(delivery_id) if e["type"] == "DELEGATE_REVOKED"][-1]["actor"]["kind"] == "recipient"
    dead(get(delegate_token))


def test_a_delegate_declines_and_may_do_nothing_else(clock):
    delivery_id = registered()
    delegates.add_delegate(delivery_id, {"name": "Luca", "email": "luca@example.com"})
    token = link_of(delivery_id, "dlg-1")
    before = adapters().deliveries.get(delivery_id).serialize()
    for action in ("resend", "replace", "move", "revoke"):
        assert post(token, action, delegate_id="dlg-1")["statusCode"] == 403
    assert adapters().deliveries.get(delivery_id).serialize() == before
    answer = post(token, "decline")
    assert answer["statusCode"] == 303
    event = [e for e in trail(delivery_id) if e["type"] == "DELEGATE_REVOKED"][-1]
    assert event["actor"]["kind"] == "delegate" and event["actor"]["delegate_id"] == "dlg-1"
    dead(get(token))


@pytest.mark.parametrize("csrf", [None, "", "x" * 32])
def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(clock, csrf):
    delivery_id = registered()
    token = link_of(delivery_id)
    before = adapters().deliveries.get(delivery_id).serialize()
    for action in ("resend", "replace", "show"):
        answer = post(token, action, csrf=csrf)
        assert answer["statusCode"] == 403 and code_of(delivery_id) not in answer["body"]
    assert adapters().deliveries.get(delivery_id).serialize() == before
    other = link_of(registered())  # another page's token is no use here either
    assert post(token, "resend", csrf=links.csrf_token(adapters().keys.key(), other))["statusCode"] == 403


def test_every_dead_link_gets_one_and_the_same_page(clock):
    unknown = get("A" * 32)
    body = dead(unknown)
    forged_token = link_of(registered())
    forged = get(forged_token[:-1] + ("A" if forged_token[-1] != "A" else "B"))
    malformed = get("not-a-token")
    assert dead(forged) == body == dead(malformed)
    delivery_id = registered()
    delegates.add_delegate(delivery_id, {"name": "Luca", "email": "luca@example.com"})
    delegate_token = link_of(delivery_id, "dlg-1")
    delegates.revoke_delegate(delivery_id, "dlg-1")
    assert dead(get(delegate_token)) == body
    assert dead(post(delegate_token, "show")) == body


def test_a_delivery_ended_more_than_30_days_ago_answers_410_with_the_same_page(clock):
    delivery_id = registered()
    token = link_of(delivery_id)
    dispatch.cancel(delivery_id)
    shown = get(token)
    assert shown["statusCode"] == 200 and "cancelled" in shown["body"]
    clock.freeze(clock.now() + timedelta(days=30, hours=1))
    assert dead(get(token), 410) == dead(get("A" * 32))


def test_after_delivery_the_page_says_when_and_to_whom(clock):
    delivery_id = registered()
    delegates.add_delegate(delivery_id, {"name": "Luca Bianchi", "email": "luca@example.com"})
    code = re.search(r'id="code"[^>]*>(\d{3}) (\d{3})<', post(link_of(delivery_id, "dlg-1"), "show")["body"])
    verification.verify(delivery_id, {"code": code.group(1) + code.group(2)}, Actor(COURIER))
    body = get(link_of(delivery_id))["body"]
    assert "Delivered to Luca Bianchi" in body and 'id="show"' not in body
    assert "Delivered to you" in get(link_of(delivery_id, "dlg-1"))["body"]


def test_the_page_speaks_the_recipients_language(clock):
    delivery_id = registered(locale="it-IT")
    body = get(link_of(delivery_id))["body"]
    assert 'lang="it"' in body and "telefono" in body


def test_the_stylesheet_is_served_by_the_same_function():
    answer = invoke(PAGE, {"routeKey": "GET /pages/page.css", "rawPath": "/pages/page.css", "headers": {}})
    assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"].startswith("text/css")
    assert ":focus-visible" in answer["body"]


def test_the_page_fails_closed_with_a_503_page(clock):
    from tests.integration.test_fail_closed import UnreachableKeys, dynamodb_down

    delivery_id = registered()
    token = link_of(delivery_id)
    before = adapters().deliveries.get(delivery_id).serialize()
    with dynamodb_down("GetItem"):
        assert get(token)["statusCode"] == 503
    with dynamodb_down("UpdateItem"):
        answer = post(token, "resend")
        assert answer["statusCode"] == 503 and "Nothing was changed" in answer["body"]
    csrf = links.csrf_token(adapters().keys.key(), token)
    adapters().set(keys=UnreachableKeys())
    try:
        assert get(token)["statusCode"] == 503
        assert post(token, "show", csrf=csrf)["statusCode"] == 503
    finally:
        wiring.reset()
        wiring.override(clock=clock)
    assert adapters().deliveries.get(delivery_id).serialize() == before


def test_naming_a_delegate_answers_the_id_it_wrote_even_when_another_lands_right_after(clock):
    """Naming a delegate is a transaction (with the delegate's page link) that hands back no item: the id
    answered is the one this request wrote, never one another request named just after it."""

    class AnotherNamedRightAfter:
        """The repository, where another request names a delegate as soon as the first naming is written."""

        def __init__(self, inner) -> None:
            self.inner, self.done = inner, False

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def update(self, delivery_id, actions, condition, guard=None, **options):
            result = self.inner.update(delivery_id, actions, condition, guard, **options)
            if options.get("links") and result.applied and not self.done:
                self.done = True
                delegates.add_delegate(delivery_id, {"name": "Other", "email": "other@example.com"})
            return result

    delivery_id = registered()
    repository = adapters().deliveries
    adapters().set(deliveries=AnotherNamedRightAfter(repository))
    try:
        answer = delegates.add_delegate(delivery_id, {"name": "Luca", "email": "luca@example.com"})
    finally:
        adapters().set(deliveries=repository)
    entries = adapters().deliveries.get(delivery_id).delegates.as_dict()
    assert answer.body["delegate_id"] == "dlg-1" and entries["dlg-1"]["email"] == "luca@example.com"
    assert entries["dlg-2"]["email"] == "other@example.com"
