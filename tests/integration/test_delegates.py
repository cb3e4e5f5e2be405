"""Delegates: people the customer trusts get codes of their own; all open the parcel once."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from delivery_otp import codes, controls, delegates, reads, registration, rotation, verification
from delivery_otp.audit import COURIER, Actor
from delivery_otp.errors import Conflict, InvalidInput, NotFound, TooManyDelegates
from delivery_otp.notifications import send_code_emails
from delivery_otp.wiring import adapters

from tests.support import factories
from tests.support.lambdas import EVENTS, call, http_event, invoke


def courier() -> Actor:
    return Actor(COURIER, courier_id=f"c-{uuid.uuid4().hex[:10]}", device_id="d-1")


def registered(**overrides) -> tuple[str, str]:
    body = factories.registration(
        recipient={"name": "Giulia Rossi", "email": f"{uuid.uuid4().hex[:8]}@example.com", "locale": "it"}
    )
    body.update(overrides)
    registration.register(body)
    return body["delivery_id"], reads.current_code(body["delivery_id"])["code"]


def named(delivery_id: str, name: str = "Luca Bianchi", locale: str | None = None) -> tuple[str, str]:
    """(delegate id, their address)."""
    address = f"{uuid.uuid4().hex[:8]}@example.com"
    body = {"name": name, "email": address, **({"locale": locale} if locale else {})}
    answer = delegates.add_delegate(delivery_id, body)
    assert answer.status == 201 and answer.body["status"] == "ACTIVE"
    return answer.body["delegate_id"], address


def code_of(delivery_id: str, delegate: str) -> str:
    """The delegate's code as its email carries it (derived like the sender derives it)."""
    item = adapters().deliveries.get(delivery_id)
    every = codes.delegate_codes(
        adapters().keys.key(), delivery_id, int(item.issue_number), item.code_nonce, int(item.delegate_count)
    )
    return every[delegate]


def email_now(delivery_id: str) -> None:
    """What the stream consumer does for this delivery's latest change."""
    item = adapters().deliveries.get(delivery_id)
    assert send_code_emails([(delivery_id, int(item.issue_number), int(item.resend_seq or 0))]) == []


def mailed_code(message: dict) -> str:
    """The code as the text part carries it: the 6 digits alone on their line."""
    [line] = [line.strip() for line in message["text"].splitlines() if line.strip().isdigit()]
    return line


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def outcomes(delivery_id: str, kind: str) -> list[str | None]:
    return [e["outcome"] for e in reads.audit_trail(delivery_id)["events"] if e["type"] == kind]


def test_a_delegate_code_opens_the_delivery_and_the_trail_and_receipt_name_the_delegate(clock):
    delivery_id, owner = registered()
    delegate, _ = named(delivery_id)
    code = code_of(delivery_id, delegate)
    assert code != owner
    answer = verification.verify(delivery_id, {"code": code, "device_id": "d-7"}, courier())
    assert answer.status == 200 and answer.body["result"] == "ACCEPTED"
    # Once in total: neither the owner's code nor the delegate's opens it again.
    assert verification.verify(delivery_id, {"code": owner}, courier()).status == 409
    assert verification.verify(delivery_id, {"code": code}, courier()).status == 409
    assert outcomes(delivery_id, "DELIVERED") == [f"delegate:{delegate}"]
    assert outcomes(delivery_id, "DELEGATE_ADDED") == [delegate]
    status, _, body = call("GET", "/deliveries/{id}/receipt", delivery_id)
    assert status == 200
    assert body["claims"]["received_by"] == {"kind": "delegate", "delegate_id": delegate}


def test_the_owner_code_still_opens_it_and_then_the_delegates_do_not(clock):
    delivery_id, owner = registered()
    first, _ = named(delivery_id)
    second, _ = named(delivery_id, "Anna Verdi")
    codes_of = {code_of(delivery_id, first), code_of(delivery_id, second)}
    assert len(codes_of | {owner}) == 3
    assert verification.verify(delivery_id, {"code": owner}, courier()).status == 200
    for code in codes_of:
        assert verification.verify(delivery_id, {"code": code}, courier()).status == 409
    assert outcomes(delivery_id, "DELIVERED") == ["recipient"]
    status, _, body = call("GET", "/deliveries/{id}/receipt", delivery_id)
    assert body["claims"]["received_by"] == {"kind": "recipient"}


def test_a_revoked_delegate_code_is_refused_at_once_as_a_wrong_code(clock):
    delivery_id, owner = registered()
    delegate, _ = named(delivery_id)
    code = code_of(delivery_id, delegate)
    revoked = delegates.revoke_delegate(delivery_id, delegate)
    assert revoked == {"delegate_id": delegate, "name": "Luca Bianchi", "status": "REVOKED"}
    assert delegates.revoke_delegate(delivery_id, delegate) == revoked  # again: the same answer
    refused = verification.verify(delivery_id, {"code": code}, courier())
    assert refused.status == 403 and refused.body["result"] == "REJECTED"
    assert reads.get_delivery(delivery_id)["delegates"] == [
        {"delegate_id": delegate, "name": "Luca Bianchi", "status": "REVOKED", "email_undeliverable": False}
    ]
    macs = adapters().deliveries.get(delivery_id).delegate_macs
    assert codes.code_mac(adapters().keys.key(), delivery_id, code) not in (macs.as_dict() if macs else {})
    assert outcomes(delivery_id, "DELEGATE_REVOKED") == [delegate]
    assert verification.verify(delivery_id, {"code": owner}, courier()).status == 200


def test_three_live_delegates_at_once_and_ten_in_a_life(clock):
    delivery_id, _ = registered()
    live = [named(delivery_id, f"Person {n}")[0] for n in range(3)]
    with pytest.raises(TooManyDelegates) as refused:
        delegates.add_delegate(delivery_id, {"name": "Fourth", "email": "fourth@example.com"})
    assert refused.value.status == 409 and refused.value.code == "TOO_MANY_DELEGATES"
    for round_ in range(7):
        delegates.revoke_delegate(delivery_id, live.pop(0))
        live.append(named(delivery_id, f"Later {round_}")[0])
    assert live == ["dlg-8", "dlg-9", "dlg-10"]
    delegates.revoke_delegate(delivery_id, live.pop(0))
    with pytest.raises(TooManyDelegates, match="at most 10"):
        delegates.add_delegate(delivery_id, {"name": "Eleventh", "email": "eleventh@example.com"})
    # All ten codes differ from each other and from the owner's.
    item = adapters().deliveries.get(delivery_id)
    every = codes.delegate_codes(adapters().keys.key(), delivery_id, 1, item.code_nonce, 10)
    assert len(set(every.values()) | {reads.current_code(delivery_id)["code"]}) == 11


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "name"),
        ({"name": "", "email": "a@example.com"}, "name"),
        ({"name": "x" * 201, "email": "a@example.com"}, "name"),
        ({"name": "Luca"}, "email"),
        ({"name": "Luca", "email": "not-an-address"}, "email"),
        ({"name": "Luca", "email": "a@example.com", "locale": 7}, "locale"),
    ],
)
def test_a_bad_delegate_is_refused_naming_the_field_and_nothing_is_written(clock, body, field):
    delivery_id, _ = registered()
    before = adapters().deliveries.get(delivery_id).serialize()
    with pytest.raises(InvalidInput) as refused:
        delegates.add_delegate(delivery_id, body)
    assert refused.value.status == 422 and refused.value.message.startswith(f"{field}:")
    assert adapters().deliveries.get(delivery_id).serialize() == before


def test_delegates_need_a_known_open_delivery_that_needs_a_code(clock):
    person = {"name": "Luca", "email": "luca@example.com"}
    with pytest.raises(NotFound):
        delegates.add_delegate("NOPE-404", person)
    no_code = factories.registration(require_code=False)
    registration.register(no_code)
    with pytest.raises(Conflict, match="needs no code"):
        delegates.add_delegate(no_code["delivery_id"], person)
    delivered, code = registered()
    assert verification.verify(delivered, {"code": code}, courier()).status == 200
    with pytest.raises(Conflict, match="delivered"):
        delegates.add_delegate(delivered, person)
    with pytest.raises(NotFound, match="no delegate"):
        delegates.revoke_delegate(delivered, "dlg-1")


def test_the_delegate_gets_their_own_code_by_email_in_their_language(clock, sent_mail):
    delivery_id, owner = registered(order_id="ORD-778899")
    owner_address = adapters().deliveries.get(delivery_id).email
    email_now(delivery_id)
    delegate, address = named(delivery_id, "Hans Weber", locale="de-DE")
    email_now(delivery_id)
    email_now(delivery_id)  # a replayed stream record sends nothing twice
    [message] = sent_mail(address)
    assert mailed_code(message) == code_of(delivery_id, delegate) != owner
    assert message["subject"].startswith("Ihr Code für die Annahme eines Pakets")
    assert "Giulia Rossi" in message["text"] and "Hans Weber" in message["text"]
    assert "ORD-778899" not in message["subject"] + message["text"] + message["html"]  # the order is not theirs
    assert len(sent_mail(owner_address)) == 1  # the owner is not mailed again
    assert outcomes(delivery_id, "EMAIL_SENT") == [None, f"delegate:{delegate}"]


def test_the_night_renews_the_live_delegates_codes_and_emails_them(clock, sent_mail):
    delivery_id, _ = registered()
    kept, kept_address = named(delivery_id)
    gone, gone_address = named(delivery_id, "Anna Verdi")
    email_now(delivery_id)
    old = code_of(delivery_id, kept)
    delegates.revoke_delegate(delivery_id, gone)
    clock.freeze(datetime.fromisoformat("2026-11-24T07:00:00+01:00"))
    assert rotation.rotate_all()["rotated"] >= 1
    email_now(delivery_id)
    new = code_of(delivery_id, kept)
    mails = sent_mail(kept_address)
    assert len(mails) == 2 and mailed_code(mails[-1]) == new != old
    assert len(sent_mail(gone_address)) == 1  # revoked: no new code
    assert verification.verify(delivery_id, {"code": old}, courier()).status == 403
    assert verification.verify(delivery_id, {"code": new}, courier()).status == 200
    assert outcomes(delivery_id, "DELIVERED") == [f"delegate:{kept}"]


@pytest.mark.parametrize("change", ["rotate", "reschedule"])
def test_a_new_code_from_the_customer_renews_the_delegates_too(clock, sent_mail, change):
    delivery_id, _ = registered()
    delegate, address = named(delivery_id)
    email_now(delivery_id)
    old = code_of(delivery_id, delegate)
    if change == "rotate":
        controls.replace_code(delivery_id)
    else:
        controls.reschedule(delivery_id, {"delivery_date": "2026-11-25"})
    email_now(delivery_id)
    new = code_of(delivery_id, delegate)
    assert new != old and mailed_code(sent_mail(address)[-1]) == new
    assert verification.verify(delivery_id, {"code": old}, courier()).status == 403
    if change == "reschedule":
        clock.freeze(datetime.fromisoformat("2026-11-25T09:00:00+01:00"))
    assert verification.verify(delivery_id, {"code": new}, courier()).status == 200


def test_a_lock_holds_for_the_delegates_codes_too(clock):
    delivery_id, owner = registered()
    delegate, _ = named(delivery_id)
    code = code_of(delivery_id, delegate)
    for _ in range(5):
        wrong_code = wrong(owner)
        while wrong_code in (owner, code):
            wrong_code = wrong(wrong_code)
        verification.verify(delivery_id, {"code": wrong_code}, courier())
    assert reads.get_delivery(delivery_id)["status"] == "LOCKED"
    locked = verification.verify(delivery_id, {"code": code}, courier())
    assert locked.status == 423 and locked.body["result"] == "LOCKED"


def test_a_delegate_named_while_locked_gets_a_code_with_the_next_day(clock, sent_mail):
    delivery_id, owner = registered()
    for _ in range(5):
        verification.verify(delivery_id, {"code": wrong(owner)}, courier())
    delegate, address = named(delivery_id)
    email_now(delivery_id)
    assert sent_mail(address) == []  # no live code to send yet
    clock.freeze(datetime.fromisoformat("2026-11-24T07:00:00+01:00"))
    rotation.rotate_all()
    email_now(delivery_id)
    [message] = sent_mail(address)
    assert verification.verify(delivery_id, {"code": mailed_code(message)}, courier()).status == 200
    assert outcomes(delivery_id, "DELIVERED") == [f"delegate:{delegate}"]


def test_a_delegate_right_code_is_one_dynamodb_request(clock):
    from bench.work import counting

    delivery_id, _ = registered()
    delegate, _ = named(delivery_id)
    code = code_of(delivery_id, delegate)
    with counting() as calls:
        adapters().keys.key()  # the key is fetched once per container, then cached: not this request's
        before = sum(calls.values())
        assert verification.verify(delivery_id, {"code": code}, courier()).status == 200
        assert sum(calls.values()) - before == 1


def test_the_routes_answer_over_the_storefront_function(clock):
    delivery_id, _ = registered()
    person = {"name": "Luca Bianchi", "email": "luca@example.com", "locale": "it"}
    status, _, body = call("POST", "/deliveries/{id}/delegates", delivery_id, person)
    assert (status, body) == (201, {"delegate_id": "dlg-1", "name": "Luca Bianchi", "status": "ACTIVE"})
    status, _, body = call("POST", "/deliveries/{id}/delegates", delivery_id, {"name": "Luca"})
    assert status == 422 and body["error"]["message"].startswith("email:")

    def revoke(delegate: str) -> dict:
        route = "/deliveries/{id}/delegates/{delegate_id}"
        return invoke("StorefrontFunction", http_event("DELETE", route, delivery_id, params={"delegate_id": delegate}))

    response = revoke("dlg-1")
    assert response["statusCode"] == 200 and json.loads(response["body"])["status"] == "REVOKED"
    assert revoke("dlg-2")["statusCode"] == 404


def test_a_bounce_of_a_delegate_email_marks_only_that_delegate(clock, sent_mail):
    delivery_id, _ = registered()
    delegate, address = named(delivery_id)
    event = json.loads((EVENTS / "ses_bounce.json").read_text())
    notice = json.loads(event["Records"][0]["Sns"]["Message"])
    notice["mail"]["tags"]["delivery"] = [delivery_id.encode().hex()]
    notice["mail"]["tags"]["delegate"] = [delegate.encode().hex()]
    notice["bounce"]["bouncedRecipients"] = [{"emailAddress": address}]
    event["Records"][0]["Sns"]["Message"] = json.dumps(notice)
    assert invoke("BounceFunction", event) == {"marked": 1, "ignored": 0}
    shown = reads.get_delivery(delivery_id)
    assert shown["email_undeliverable"] is False
    assert shown["delegates"][0]["email_undeliverable"] is True
    email_now(delivery_id)
    assert sent_mail(address) == []
    assert len(sent_mail(adapters().deliveries.get(delivery_id).email)) == 1


def test_a_delegate_revoked_between_the_senders_read_and_its_claim_gets_no_email(clock, sent_mail, monkeypatch):
    delivery_id, _ = registered()
    first, first_address = named(delivery_id)
    second, second_address = named(delivery_id, "Anna Verdi")
    repository = adapters().deliveries
    read = repository.get_many

    def read_then_revoke(ids):
        found = read(ids)
        delegates.revoke_delegate(delivery_id, second)  # lands between the sender's read and its claim
        return found

    monkeypatch.setattr(repository, "get_many", read_then_revoke)
    email_now(delivery_id)
    monkeypatch.setattr(repository, "get_many", read)
    assert sent_mail(second_address) == []
    assert len(sent_mail(first_address)) == 1
    assert outcomes(delivery_id, "EMAIL_SENT") == [f"delegate:{first}", None]
    entries = repository.get(delivery_id).delegates.as_dict()
    assert entries[second]["revoked_at"] and entries[first]["emailed_issue"] == 1
    assert "sending_until" not in entries[first]  # SES took it: the claim is settled
    email_now(delivery_id)  # marked: nothing is sent twice
    assert len(sent_mail(first_address)) == 1 and sent_mail(second_address) == []


def test_a_delegate_revoked_after_the_claim_was_mailed_before_the_revocation_as_the_trail_says(clock, sent_mail):
    delivery_id, _ = registered()
    delegate, address = named(delivery_id)
    events = adapters().mailer._ses().meta.events

    def revoke_now(**_):
        delegates.revoke_delegate(delivery_id, delegate)  # the claim is written: SES is being called

    events.register("before-call.ses.SendBulkTemplatedEmail", revoke_now)
    try:
        email_now(delivery_id)
    finally:
        events.unregister("before-call.ses.SendBulkTemplatedEmail", revoke_now)
    assert len(sent_mail(address)) == 1
    trail = [(e["type"], e["outcome"]) for e in reads.audit_trail(delivery_id)["events"]]
    assert trail.index(("EMAIL_SENT", f"delegate:{delegate}")) < trail.index(("DELEGATE_REVOKED", delegate))
