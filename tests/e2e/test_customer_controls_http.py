"""The customer's controls over HTTP on the local stack: the customer asks for the code again, replaces a leaked one
and moves the delivery to another day; each time the right email reaches the mailbox."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from joserfc import jws
from joserfc.jwk import KeySet

from tests.e2e.test_lifecycle_http import mailbox, set_clock
from tests.support import factories

pytestmark = [pytest.mark.e2e]


def test_resend_rotate_and_reschedule_reach_the_mailbox(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    email = f"luca-{uuid.uuid4().hex[:8]}@example.com"
    body = factories.registration(recipient={"email": email, "name": "Luca Bianchi", "locale": "it-IT"})
    base = f"{stack_url}/deliveries/{body['delivery_id']}"
    assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201

    def code() -> str:
        return requests.get(f"{base}/code", timeout=30).json()["code"]

    first = code()
    assert len(mailbox(stack_url, email, 1)) == 1  # the first email is out before the resend is asked
    resent = requests.post(f"{base}/code/resend", timeout=30)
    assert resent.status_code == 200 and resent.json()["resends_left_today"] == 2
    mails = mailbox(stack_url, email, 2)
    assert len(mails) == 2 and first in mails[1]["text"]

    rotated = requests.post(f"{base}/code/rotate", timeout=30)
    assert rotated.status_code == 200 and rotated.json()["issue_number"] == 2
    second = code()
    mails = mailbox(stack_url, email, 3)
    assert len(mails) == 3 and second in mails[2]["text"]

    moved = requests.put(f"{base}/schedule", json={"delivery_date": "2026-11-25"}, timeout=30)
    assert moved.status_code == 200 and moved.json()["delivery_date"] == "2026-11-25"
    third = code()
    mails = mailbox(stack_url, email, 4)
    assert len(mails) == 4 and third in mails[3]["text"]

    for _ in range(2):
        assert requests.post(f"{base}/code/resend", timeout=30).status_code == 200
    refused = requests.post(f"{base}/code/resend", timeout=30)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "TOO_MANY_RESENDS"
    types = [e["type"] for e in requests.get(f"{base}/events", timeout=30).json()["events"]]
    assert types.count("CODE_RESENT") == 3 and "ROTATED" in types and "RESCHEDULED" in types


def _at_once(calls: list) -> list:
    """Each call on a thread of its own, released together."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _events(base: str) -> list[tuple[str, int | None, str | None]]:
    answer = requests.get(f"{base}/events", timeout=30).json()["events"]
    return [(e["type"], e["issue_number"], e["outcome"]) for e in answer]


def test_resends_asked_at_once_each_reach_the_mailbox(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    for _ in range(3):
        emails = [f"res-{uuid.uuid4().hex[:8]}@example.com" for _ in range(3)]
        bases = []
        for email in emails:
            body = factories.registration(recipient={"email": email, "locale": "en"})
            assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
            bases.append(f"{stack_url}/deliveries/{body['delivery_id']}")
        # Nine resends in flight at once, three per delivery, right after its first email was asked for.
        answers = _at_once([lambda b=b: requests.post(f"{b}/code/resend", timeout=30) for b in bases for _ in range(3)])
        assert sorted(a.status_code for a in answers) == [200] * 9
        assert sorted(a.json()["resends_left_today"] for a in answers) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
        for email, base in zip(emails, bases, strict=True):
            mailbox(stack_url, email, 4)
            assert len(mailbox(stack_url, email, 5, deadline_s=0)) == 4  # its first email and one per resend
            sent = [outcome for kind, _, outcome in _events(base) if kind == "EMAIL_SENT"]
            assert sent == [None, "resend", "resend", "resend"]


def test_a_delegate_named_then_revoked_back_to_back_is_never_mailed_once_revoked(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    for _ in range(3):
        bases = []
        for _ in range(4):
            body = factories.registration(recipient={"email": f"own-{uuid.uuid4().hex[:8]}@example.com"})
            assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
            bases.append(f"{stack_url}/deliveries/{body['delivery_id']}")

        def name_and_revoke(base: str) -> tuple[str, str, str]:
            email = f"dlg-{uuid.uuid4().hex[:8]}@example.com"
            named = requests.post(f"{base}/delegates", json={"name": "Marco Bianchi", "email": email}, timeout=30)
            assert named.status_code == 201, named.text
            who = named.json()["delegate_id"]
            assert requests.delete(f"{base}/delegates/{who}", timeout=30).status_code == 200
            return base, who, email

        # Eight requests at once: on each of four deliveries, two delegates each named then revoked.
        for base, who, email in _at_once([lambda b=b: name_and_revoke(b) for b in bases for _ in range(2)]):
            mails = mailbox(stack_url, email, 1, deadline_s=0)
            events = _events(base)
            sent = [i for i, e in enumerate(events) if e[0] == "EMAIL_SENT" and e[2] == f"delegate:{who}"]
            revoked = events.index(("DELEGATE_REVOKED", None, who))
            assert len(mails) == len(sent) <= 1, events
            assert all(i < revoked for i in sent), events  # mailed only if recorded before the revocation


def test_a_wrong_code_at_the_door_alerts_the_recipient_once(stack_url):
    set_clock(stack_url, "2026-11-23T10:15:00+01:00")
    email = f"anna-{uuid.uuid4().hex[:8]}@example.com"
    body = factories.registration(recipient={"email": email, "name": "Anna Weber", "locale": "de-DE"})
    base = f"{stack_url}/deliveries/{body['delivery_id']}"
    assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
    code = requests.get(f"{base}/code", timeout=30).json()["code"]
    assert len(mailbox(stack_url, email, 1)) == 1
    for guess in ("000000", "999999"):
        if guess != code:
            assert requests.post(f"{base}/verifications", json={"code": guess}, timeout=30).status_code == 403
    mails = mailbox(stack_url, email, 2)
    alerts = [m for m in mails if "falscher Zustellcode" in m["subject"]]
    assert len(mails) == 2 and len(alerts) == 1
    assert "um 10:15 Uhr" in alerts[0]["text"] and code not in alerts[0]["text"]


def test_a_bounce_reported_by_ses_stops_the_emails_on_the_local_stack(stack_url):
    from tests.support.lambdas import EVENTS

    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    email = f"gone-{uuid.uuid4().hex[:8]}@example.com"
    body = factories.registration(recipient={"email": email, "locale": "en"})
    base = f"{stack_url}/deliveries/{body['delivery_id']}"
    assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
    assert len(mailbox(stack_url, email, 1)) == 1
    event = json.loads((EVENTS / "ses_bounce.json").read_text())
    notice = json.loads(event["Records"][0]["Sns"]["Message"])
    notice["mail"]["tags"]["delivery"] = [body["delivery_id"].encode().hex()]
    notice["bounce"]["bouncedRecipients"][0]["emailAddress"] = email
    event["Records"][0]["Sns"]["Message"] = json.dumps(notice)
    invoked = requests.post(f"{stack_url}/local/invoke/BounceFunction", json=event, timeout=10)
    assert invoked.status_code == 200 and invoked.json() == {"marked": 1, "ignored": 0}
    assert requests.get(base, timeout=30).json()["email_undeliverable"] is True
    assert requests.post(f"{base}/code/resend", timeout=30).status_code == 200
    assert requests.post(f"{base}/code/rotate", timeout=30).status_code == 200
    assert len(mailbox(stack_url, email, 2, deadline_s=2)) == 1  # nothing more reached the address
    assert requests.get(f"{base}/code", timeout=30).status_code == 200  # the storefront shows the code itself


def _mailed_code(message: dict) -> str:
    [line] = [line.strip() for line in message["text"].splitlines() if line.strip().isdigit()]
    return line


def test_delegates_get_their_own_codes_and_the_receipt_names_who_received(stack_url):
    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    tag = uuid.uuid4().hex[:8]
    owner, neighbour, colleague = (f"{who}-{tag}@example.com" for who in ("giulia", "marco", "sophie"))
    body = factories.registration(recipient={"email": owner, "name": "Giulia Rossi", "locale": "it-IT"})
    base = f"{stack_url}/deliveries/{body['delivery_id']}"
    assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
    owner_code = requests.get(f"{base}/code", timeout=30).json()["code"]

    def name(person: dict, key: str) -> dict:
        answer = requests.post(f"{base}/delegates", json=person, headers={"Idempotency-Key": key}, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()

    key = str(uuid.uuid4())
    marco = name({"name": "Marco Bianchi", "email": neighbour}, key)
    assert name({"name": "Marco Bianchi", "email": neighbour}, key) == marco  # a retry names nobody new
    sophie = name({"name": "Sophie Martin", "email": colleague, "locale": "fr-FR"}, str(uuid.uuid4()))
    assert (marco["delegate_id"], sophie["delegate_id"]) == ("dlg-1", "dlg-2")
    bad = requests.post(f"{base}/delegates", json={"name": "X", "email": "nope"}, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("email:")

    [to_marco] = mailbox(stack_url, neighbour, 1)
    [to_sophie] = mailbox(stack_url, colleague, 1)
    assert "Giulia Rossi conta su di Lei" in to_marco["text"] and to_sophie["subject"].startswith("Votre code")
    marco_code, sophie_code = _mailed_code(to_marco), _mailed_code(to_sophie)
    assert len({owner_code, marco_code, sophie_code}) == 3

    # "My code leaked": every live code is renewed and mailed again; the old ones die.
    assert requests.post(f"{base}/code/rotate", timeout=30).status_code == 200
    marco_code = _mailed_code(mailbox(stack_url, neighbour, 2)[1])
    sophie_old, sophie_code = sophie_code, _mailed_code(mailbox(stack_url, colleague, 2)[1])
    assert sophie_code != sophie_old

    revoked = requests.delete(f"{base}/delegates/{sophie['delegate_id']}", timeout=30)
    assert revoked.status_code == 200 and revoked.json()["status"] == "REVOKED"
    assert requests.delete(f"{base}/delegates/dlg-9", timeout=30).status_code == 404
    shown = requests.get(base, timeout=30).json()["delegates"]
    assert [(d["delegate_id"], d["status"]) for d in shown] == [("dlg-1", "ACTIVE"), ("dlg-2", "REVOKED")]
    verify = f"{base}/verifications"
    assert requests.post(verify, json={"code": sophie_code, "device_id": "d-1"}, timeout=30).status_code == 403

    opened = requests.post(verify, json={"code": marco_code, "device_id": "d-1"}, timeout=30)
    assert opened.status_code == 200 and opened.json()["result"] == "ACCEPTED"
    again = requests.post(verify, json={"code": owner_code, "device_id": "d-1"}, timeout=30)
    assert again.status_code == 409  # all the codes open the parcel once in total
    receipt = requests.get(f"{base}/receipt", timeout=30).json()
    keys = KeySet.import_key_set(requests.get(f"{stack_url}/.well-known/jwks.json", timeout=30).json())
    signed = json.loads(jws.deserialize_compact(receipt["receipt"], keys, algorithms=["Ed25519"]).payload)
    assert signed["received_by"] == {"kind": "delegate", "delegate_id": "dlg-1"}
    assert signed == receipt["claims"] and signed["sub"] == body["delivery_id"]
    delivered = [e for e in requests.get(f"{base}/events", timeout=30).json()["events"] if e["type"] == "DELIVERED"]
    assert [e["outcome"] for e in delivered] == ["delegate:dlg-1"]


@pytest.mark.parametrize("locale", ["it-IT", "de-DE", "en-GB", "fr-FR", "es-ES"])
def test_the_code_email_as_received_is_accessible_in_each_language(stack_url, locale):
    import re

    set_clock(stack_url, "2026-11-23T09:00:00+01:00")
    email = f"a11y-{uuid.uuid4().hex[:8]}@example.com"
    body = factories.registration(recipient={"email": email, "name": "Kim Lee", "locale": locale})
    assert requests.post(f"{stack_url}/deliveries", json=body, timeout=10).status_code == 201
    code = requests.get(f"{stack_url}/deliveries/{body['delivery_id']}/code", timeout=30).json()["code"]
    [message] = mailbox(stack_url, email, 1)
    assert f"    {code}" in message["text"].splitlines()  # the plain 6 digits, alone on a line
    assert f'<html lang="{locale[:2]}">' in message["html"]
    grouped = re.search(r'<p role="img" aria-label="([^"]+)" style="([^"]+)">([^<]+)</p>', message["html"])
    assert grouped is not None and grouped.group(3) == f"{code[:3]} {code[3:]}"
    assert grouped.group(1).endswith(" ".join(code))  # announced digit by digit
    assert "font-size:40px" in grouped.group(2) and "color:#111111" in grouped.group(2)
    assert code not in message["subject"]
