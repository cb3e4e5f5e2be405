"""Code emails under concurrency, against the moto server: each resend answered 200 is an email of its
own, a delegate revoked before their send is recorded is never mailed, and a send that failed is
retried until it goes out, once."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from delivery_otp import controls, delegates, reads, registration, wiring
from delivery_otp.errors import DependencyUnavailable
from delivery_otp.notifications import LEASE_SECONDS, send_code_emails
from delivery_otp.wiring import adapters

from tests.support import factories
from tests.support.aws import StreamTail
from tests.support.lambdas import invoke

ROUNDS = 4


@pytest.fixture
def stream(aws, clock):
    return StreamTail(aws["DeliveriesTable"]["Ref"])


def registered() -> tuple[str, str]:
    """(delivery id, recipient's address): its first code email is owed, not yet sent."""
    address = f"{uuid.uuid4().hex[:10]}@example.com"
    body = factories.registration(recipient={"email": address, "name": "Giulia Rossi", "locale": "it"})
    registration.register(body)
    return body["delivery_id"], address


def at_once(calls: list, workers: int | None = None) -> list:
    """Run the calls on threads of their own, released together."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=workers or len(calls)) as pool:
        return list(pool.map(run, calls))


def trail(delivery_id: str) -> list[tuple[str, int | None, str | None]]:
    return [(e["type"], e["issue_number"], e["outcome"]) for e in reads.audit_trail(delivery_id)["events"]]


def test_resends_asked_at_once_are_each_an_email_of_their_own(stream, sent_mail):
    for _ in range(ROUNDS):
        deliveries = [registered() for _ in range(3)]
        # Given three deliveries whose first code email is still on its way,
        # when each is asked for three resends at once (nine requests in flight),
        left = at_once(
            [lambda d=d: controls.resend_code(d)["resends_left_today"] for d, _ in deliveries for _ in range(3)]
        )
        assert sorted(left) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
        # then the stream's records, in one batch as Lambda hands them over, send four emails each.
        records = stream.records()
        assert invoke("EmailFunction", {"Records": records}) == {"batchItemFailures": []}
        for delivery_id, address in deliveries:
            assert len(sent_mail(address)) == 4, delivery_id
            sent = [outcome for kind, _, outcome in trail(delivery_id) if kind == "EMAIL_SENT"]
            assert sent == [None, "resend", "resend", "resend"]
        # A replayed batch sends nothing again.
        assert invoke("EmailFunction", {"Records": records}) == {"batchItemFailures": []}
        assert [len(sent_mail(address)) for _, address in deliveries] == [4, 4, 4]


def test_a_resend_then_a_new_code_are_two_emails(stream, sent_mail):
    delivery_id, address = registered()
    assert invoke("EmailFunction", {"Records": stream.records()}) == {"batchItemFailures": []}
    controls.resend_code(delivery_id)
    controls.replace_code(delivery_id)
    assert invoke("EmailFunction", {"Records": stream.records()}) == {"batchItemFailures": []}
    mails = sent_mail(address)
    code = reads.current_code(delivery_id)["code"]
    # The resend goes out with the live code: the one it was asked for died before it could be sent.
    assert len(mails) == 3 and code in mails[1]["text"] and code in mails[2]["text"]


def _consumer(delivery_ids: list[str], done: threading.Event) -> threading.Thread:
    """The email function as it runs while a busy stream keeps handing it records of these deliveries:
    one batch at a time, each re-reading them. Returns once `done` is set and nothing is left to send."""

    def consume() -> None:
        while True:
            finished = done.is_set()
            unsent = send_code_emails([(delivery_id, 1, 0) for delivery_id in delivery_ids])
            if finished and not unsent:
                return

    return threading.Thread(target=consume)


def _name_and_revoke_at_once() -> tuple[list[tuple[str, str]], dict[tuple[str, str], str]]:
    """Three deliveries; nine storefront requests at once (on each: two delegates each named then
    revoked back to back, one named and kept) while the email consumer runs beside them. Returns the
    deliveries and the delegates' addresses by (delivery, delegate)."""
    deliveries = [registered() for _ in range(3)]
    addresses: dict[tuple[str, str], str] = {}
    lock = threading.Lock()

    def name(delivery_id: str, revoke: bool) -> None:
        address = f"{uuid.uuid4().hex[:10]}@example.com"
        who = delegates.add_delegate(delivery_id, {"name": "Luca Bianchi", "email": address}).body["delegate_id"]
        with lock:
            addresses[(delivery_id, who)] = address
        if revoke:
            delegates.revoke_delegate(delivery_id, who)

    done = threading.Event()
    consumer = _consumer([delivery_id for delivery_id, _ in deliveries], done)
    try:
        at_once([consumer.start, *[lambda d=d, r=r: name(d, r) for d, _ in deliveries for r in (True, True, False)]])
    finally:
        done.set()
        consumer.join(timeout=60)
    assert not consumer.is_alive()
    return deliveries, addresses


def test_delegates_named_and_revoked_while_the_emails_go_out_are_never_mailed_once_revoked(clock, sent_mail):
    for _ in range(ROUNDS):
        deliveries, addresses = _name_and_revoke_at_once()
        for delivery_id, address in deliveries:
            assert len(sent_mail(address)) == 1
            events = trail(delivery_id)
            for (owner, who), delegate_address in addresses.items():
                if owner != delivery_id:
                    continue
                sent = [i for i, e in enumerate(events) if e[0] == "EMAIL_SENT" and e[2] == f"delegate:{who}"]
                revoked = [i for i, e in enumerate(events) if e[0] == "DELEGATE_REVOKED" and e[2] == who]
                assert len(sent_mail(delegate_address)) == len(sent) <= 1, (who, events)
                if revoked:  # mailed only if the send was recorded before the revocation
                    assert all(i < revoked[0] for i in sent), (who, events)
                else:
                    assert len(sent) == 1, (who, events)


def _named(delivery_id: str) -> tuple[str, str]:
    address = f"{uuid.uuid4().hex[:10]}@example.com"
    answer = delegates.add_delegate(delivery_id, {"name": "Luca Bianchi", "email": address})
    return answer.body["delegate_id"], address


def _owed(delivery_id: str) -> list[tuple[str, int, int]]:
    item = adapters().deliveries.get(delivery_id)
    return [(delivery_id, int(item.issue_number), int(item.resend_seq or 0))]


def test_a_delegate_email_ses_refused_is_retried_and_sent_once(clock, sent_mail):
    delivery_id, address = registered()
    delegate, delegate_address = _named(delivery_id)
    events = adapters().mailer._ses().meta.events

    class _Http:
        status_code = 200

    def delegate_refused(params, **_):
        body = params["body"]
        keys = sorted((k for k in body if k.endswith(".ToAddresses.member.1")), key=lambda k: int(k.split(".")[2]))
        statuses = [{"Status": "Failed"} if body[k] == delegate_address else {"Status": "Success"} for k in keys]
        return _Http(), {"Status": statuses}

    events.register("before-call.ses.SendBulkTemplatedEmail", delegate_refused)
    try:
        assert send_code_emails(_owed(delivery_id)) == _owed(delivery_id)  # reported: the record is retried
    finally:
        events.unregister("before-call.ses.SendBulkTemplatedEmail", delegate_refused)
    entry = adapters().deliveries.get(delivery_id).delegates.as_dict()[delegate]
    assert entry["sending_until"] == 0 and "emailed_issue" not in entry  # released for the retry
    assert send_code_emails(_owed(delivery_id)) == []
    assert len(sent_mail(delegate_address)) == 1
    assert sent_mail(address) == []  # the stand-in took the recipient's the first time: not sent again
    assert [e for e in trail(delivery_id) if e[0] == "EMAIL_SENT"] == [
        ("EMAIL_SENT", 1, f"delegate:{delegate}"),
        ("EMAIL_SENT", 1, None),
    ]


def test_a_delegate_claim_is_released_when_ses_cannot_be_reached(clock, sent_mail):
    from botocore.exceptions import EndpointConnectionError

    delivery_id, _ = registered()
    _, delegate_address = _named(delivery_id)
    events = adapters().mailer._ses().meta.events

    def unreachable(**_):
        raise EndpointConnectionError(endpoint_url="https://email.eu-south-1.amazonaws.com")

    events.register("before-call.ses.SendBulkTemplatedEmail", unreachable)
    try:
        with pytest.raises(DependencyUnavailable):
            send_code_emails(_owed(delivery_id))
    finally:
        events.unregister("before-call.ses.SendBulkTemplatedEmail", unreachable)
    assert send_code_emails(_owed(delivery_id)) == []  # the retry, right away
    assert len(sent_mail(delegate_address)) == 1


def test_a_claim_left_by_a_sender_that_died_is_taken_over_once_its_lease_runs_out(clock, sent_mail):
    delivery_id, _ = registered()
    delegate, delegate_address = _named(delivery_id)
    mailer = adapters().mailer

    class Dying:
        sender = mailer.sender

        def send_bulk(self, *_, **__):
            raise SystemExit("the container was stopped mid-send")

    wiring.override(mailer=Dying())
    with pytest.raises(SystemExit):
        send_code_emails(_owed(delivery_id))
    wiring.override(mailer=mailer)
    # Within the lease the send may still be on its way: the record is retried later, nothing goes twice.
    assert send_code_emails(_owed(delivery_id)) == _owed(delivery_id)
    assert sent_mail(delegate_address) == []
    clock.freeze(clock.now() + timedelta(seconds=LEASE_SECONDS + 1))
    assert send_code_emails(_owed(delivery_id)) == []
    assert len(sent_mail(delegate_address)) == 1
    assert [e for e in trail(delivery_id) if e[0] == "EMAIL_SENT"].count(("EMAIL_SENT", 1, f"delegate:{delegate}")) == 1
