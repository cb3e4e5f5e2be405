"""The holder's own page, `/r/{token}`: the recipient or one delegate, reached from the link in their emails.

A GET shows the delivery's state and day, until when the code is valid and the never-by-phone warning,
never the code: link scanners and previews fetch links. Only a POST (`action=show`) reveals the holder's
live code, in the page it answers (200, never a redirect), so no GET ever carries a code. The other
actions are the customer's controls with the same rules and limits as the storefront's routes
(`controls`, `delegates`), audited with the actor `recipient` or `delegate`, and answer 303 back to
the page, where what happened (or why it could not) is said in plain words.

The recipient may resend, replace a code shared by mistake (which ends every earlier link of theirs),
move the delivery to one of the next working days and revoke delegates; a delegate may only decline.
Naming a delegate stays with the storefront: a forwarded link must not widen who can open the parcel.

Every form carries a CSRF token derived from the link (`links.csrf_token`); a POST without the right one
answers 403 and changes nothing. A link that is unknown, forged, replaced, of a revoked delegate, or of
a delivery that ended more than 30 days ago gets one and the same page with no detail (404; 410 once
the delivery is known to have ended). A GET writes nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from delivery_otp import audit, codes, controls, delegates, links
from delivery_otp.audit import Actor
from delivery_otp.calendar import has_ended, is_working_day, local_date
from delivery_otp.config import settings
from delivery_otp.deliveries import code_is_live, day_of, next_date, zone_of
from delivery_otp.errors import (
    Conflict,
    DateAlreadyEnded,
    DependencyUnavailable,
    DomainError,
    Gone,
    InvalidInput,
    Locked,
    NotFound,
    PayloadTooLarge,
    TooManyResends,
)
from delivery_otp.model import (
    DELIVERED,
    ENDED_STATES,
    LOCKED,
    OPEN_STATES,
    RECIPIENT,
    REQUEUED,
    SCHEDULED,
    DeliveryModel,
    delegate_entries,
    link_key,
    readable,
)
from delivery_otp.observability import logger
from delivery_otp.validation import MAX_BODY_BYTES
from delivery_otp.web import page, redirect
from delivery_otp.wiring import adapters
from delivery_otp.wording import (
    N_,
    TEMPLATES,
    clock_time,
    gettext_in,
    language_from_header,
    language_of,
    long_date,
    render,
)

# A link stays open this long after its delivery ended (the holder may come back to see what happened).
DAYS_AFTER_END = 30
# How many working days the recipient may move the delivery to.
DAYS_OFFERED = 10
# The API's limit for any body (a form here is a few short fields).
MAX_FORM_BYTES = MAX_BODY_BYTES

RECIPIENT_ACTIONS = ("resend", "replace", "move", "revoke")
DELEGATE_ACTIONS = ("decline",)


# What the page says after an action, by the key the redirect carries (`?done=`): only these keys are
# ever shown, so a crafted address cannot put words on the page.
NOTICES = {
    "resent": N_("We sent your code again by email."),
    "replaced": N_("Your old code no longer works. We sent you a new code, with a new link, by email."),
    "moved": N_("Your delivery is now planned for the day you picked. We sent you a new code by email."),
    "revoked": N_("That person's code no longer works."),
    "too_many_resends": N_("The code has already been sent again 3 times today. Try again tomorrow."),
    "no_live_code": N_("There is no valid code right now, so nothing was sent or changed."),
    "locked": N_("The delivery is locked for today after too many wrong codes. Pick another day."),
    "too_late": N_("That day can no longer be picked. Choose one of the days shown."),
    "changed": N_("Your delivery changed in the meantime and nothing was done. Look at it again below."),
    "not_open": N_("This delivery can no longer be changed."),
    "unknown_delegate": N_("That person cannot be found among the people you trust."),
}


@dataclass(frozen=True)
class Holder:
    """Whose link it is: the recipient, or one live delegate, of this delivery."""

    delivery: DeliveryModel
    holder: str
    token: str

    @property
    def is_recipient(self) -> bool:
        return self.holder == RECIPIENT

    @property
    def actor(self) -> Actor:
        return Actor(audit.RECIPIENT) if self.is_recipient else Actor(audit.DELEGATE, delegate_id=self.holder)

    @property
    def entry(self) -> dict[str, Any]:
        return {} if self.is_recipient else delegate_entries(self.delivery).get(self.holder, {})

    @property
    def language(self) -> str:
        return language_of(self.entry.get("locale") or self.delivery.locale)

    @property
    def name(self) -> str | None:
        value = self.delivery.recipient_name if self.is_recipient else self.entry.get("name")
        return readable(value) if value else None


class DeadLink(Exception):
    """The one answer for every link that does not open a page (404, or 410 once known to have ended)."""

    def __init__(self, status: int = 404) -> None:
        super().__init__(status)
        self.status = status


# --- whose link ---------------------------------------------------------------------------------


def resolve(token: str, now: datetime) -> Holder:
    """The holder a token names, or DeadLink. The token is checked against the holder's current salt, so a
    replaced link, a revoked delegate's, and one that was never made all end here alike."""
    if not links.is_token_shaped(token):
        raise DeadLink()
    repository = adapters().deliveries
    lookup = repository.get_link(link_key(links.token_hash(token)))
    if lookup is None:
        raise DeadLink()
    delivery = repository.get(lookup.delivery_id)
    if delivery is None:
        raise DeadLink()
    salt = links.salt_of(delivery, lookup.holder)
    key = adapters().keys.key()
    if salt is None or not links.matches(key, delivery.delivery_id, lookup.holder, salt, token):
        raise DeadLink()
    ended = ended_at(delivery)
    if ended is not None and now - ended > timedelta(days=DAYS_AFTER_END):
        raise DeadLink(410)
    return Holder(delivery, lookup.holder, token)


def ended_at(delivery: DeliveryModel) -> datetime | None:
    """When an ended delivery ended (its last ending event in the trail); None while it is open."""
    if delivery.status not in ENDED_STATES:
        return None
    for event in reversed(delivery.events or []):
        if event.type in ENDED_STATES:  # the trail's entry that ended it is named as the state
            return datetime.fromisoformat(event.at)
    return None


# --- what the page shows ------------------------------------------------------------------------


def local_time(language: str, instant: datetime) -> str:
    """A local instant as people read it: the day and the time, with the zone's abbreviation."""
    return gettext_in(
        language,
        N_("%(date)s at %(time)s (%(zone)s)"),
        date=long_date(language, instant.date()),
        time=clock_time(language, instant),
        zone=instant.tzname() or "",
    )


def days_offered(delivery: DeliveryModel, now: datetime) -> list[date]:
    """The next working days of the destination's calendar the recipient may move the delivery to (today
    included while it lasts; the day it is already set for, when its code is live, left out)."""
    zone = zone_of(delivery)
    weekdays = settings().weekdays(delivery.country)
    current = day_of(delivery)
    keep_out = current if code_is_live(delivery, now) or delivery.status == LOCKED else None
    day, found = local_date(now, zone), []
    for _ in range(DAYS_OFFERED * 7 + 30):
        if len(found) == DAYS_OFFERED:
            break
        if (
            day != keep_out
            and not has_ended(day, zone, now)
            and is_working_day(day, delivery.country, delivery.subdivision, weekdays)
        ):
            found.append(day)
        day += timedelta(days=1)
    return found


def _holder_code(holder: Holder, now: datetime) -> str | None:
    """The holder's live code (a delegate's only while their MAC is on the delivery), or None."""
    delivery = holder.delivery
    if not code_is_live(delivery, now):
        return None
    key = adapters().keys.key()
    issue, nonce = int(delivery.issue_number), delivery.code_nonce or ""
    if holder.is_recipient:
        return codes.derive_code(key, delivery.delivery_id, issue, nonce)
    macs = delivery.delegate_macs.as_dict() if delivery.delegate_macs is not None else {}
    if holder.holder not in macs.values():
        return None
    count = int(delivery.delegate_count or 0)
    return codes.delegate_codes(key, delivery.delivery_id, issue, nonce, count).get(holder.holder)


def _state(holder: Holder, now: datetime) -> dict[str, Any]:
    """Why there is (or is not) a code: a key the template words, and what it names."""
    delivery, language = holder.delivery, holder.language
    zone = zone_of(delivery)
    state: dict[str, Any] = {"key": delivery.status.lower()}
    if code_is_live(delivery, now):
        until = datetime.fromtimestamp(int(delivery.code_valid_until), zone)
        return {"key": "live", "valid_until": local_time(language, until)}
    if delivery.status == DELIVERED:
        who = delivery.received_by or RECIPIENT
        entries = delegate_entries(delivery)
        state["when"] = (
            local_time(language, datetime.fromisoformat(delivery.delivered_at).astimezone(zone))
            if (delivery.delivered_at)
            else None
        )
        state["by_recipient"] = who == RECIPIENT
        state["by_you"] = who == holder.holder
        state["by_name"] = readable(entries.get(who, {}).get("name")) if who != RECIPIENT else None
    elif delivery.status == LOCKED:
        if has_ended(day_of(delivery), zone, now):
            state["key"] = "moving"
        state["next_day"] = long_date(language, next_date(delivery, now))
    elif delivery.status == REQUEUED or (delivery.status == SCHEDULED and delivery.code_required):
        # A failed attempt, or the day ended before the night's rotation: a new day and code are coming.
        state["key"] = "moving"
        state["next_day"] = long_date(language, next_date(delivery, now))
    elif delivery.status == SCHEDULED:
        state["key"] = "no_code"
    return state


def _context(holder: Holder, now: datetime, notice: str | None, code: str | None) -> dict[str, Any]:
    delivery, language = holder.delivery, holder.language
    key = adapters().keys.key()
    context: dict[str, Any] = {
        "name": holder.name,
        "is_recipient": holder.is_recipient,
        "delivery_id": delivery.delivery_id,
        "day": long_date(language, day_of(delivery)),
        "state": _state(holder, now),
        "csrf": links.csrf_token(key, holder.token),
        "notice": gettext_in(language, NOTICES[notice]) if notice in NOTICES else None,
        "code": code,
        "code_grouped": f"{code[:3]} {code[3:]}" if code else None,
        "code_spoken": " ".join(code) if code else None,
        "recipient_name": readable(delivery.recipient_name) if delivery.recipient_name else None,
        "open": delivery.status in (SCHEDULED, LOCKED, REQUEUED) and bool(delivery.code_required),
    }
    if holder.is_recipient:
        today = local_date(now, zone_of(delivery)).isoformat()
        sent_today = int(delivery.resends_today or 0) if delivery.resend_day == today else 0
        entries = delegate_entries(delivery)
        context.update(
            resends_left=max(0, controls.RESENDS_PER_DAY - sent_today),
            resends_per_day=controls.RESENDS_PER_DAY,
            days=[(day.isoformat(), long_date(language, day)) for day in days_offered(delivery, now)]
            if context["open"]
            else [],
            delegates=[
                (who, readable(entries[who].get("name")) or who)
                for who in sorted(delivery.live_delegates or (), key=codes.delegate_number)
                if who in entries
            ],
        )
    return context


# --- answers ------------------------------------------------------------------------------------


def dead_page(status: int, accept_language: str | None) -> dict[str, Any]:
    language = language_from_header(accept_language)
    return page(status, render("pages/dead_link.html", language))


def _forbidden(holder: Holder) -> dict[str, Any]:
    return page(403, render("pages/forbidden.html", holder.language))


def _unavailable(accept_language: str | None) -> dict[str, Any]:
    return page(503, render("pages/unavailable.html", language_from_header(accept_language)), **{"Retry-After": "5"})


def show(token: str, query: str | None, accept_language: str | None) -> dict[str, Any]:
    """GET: the page without the code. Reads only."""
    now = adapters().clock.now()
    try:
        holder = resolve(token, now)
    except DeadLink as dead:
        return dead_page(dead.status, accept_language)
    except DependencyUnavailable:
        return _unavailable(accept_language)
    notice = (parse_qs(query or "").get("done") or [None])[0]
    return page(200, render("pages/recipient.html", holder.language, **_context(holder, now, notice, None)))


def act(token: str, body: str | None, base64_encoded: bool, accept_language: str | None) -> dict[str, Any]:
    """POST: `show` answers the page with the code; every other action answers 303 back to the page."""
    now = adapters().clock.now()
    try:
        form = form_fields(body, base64_encoded) or {}
    except PayloadTooLarge:
        return page(413, render("pages/forbidden.html", language_from_header(accept_language)))
    try:
        holder = resolve(token, now)
        key = adapters().keys.key()
        if not links.csrf_matches(key, token, form.get("csrf")):
            return _forbidden(holder)
        action = form.get("action", "")
        if action == "show":
            code = _holder_code(holder, now)
            return page(200, render("pages/recipient.html", holder.language, **_context(holder, now, None, code)))
        allowed = RECIPIENT_ACTIONS if holder.is_recipient else DELEGATE_ACTIONS
        if action not in allowed:
            return _forbidden(holder)
        notice = _perform(holder, action, form, now)
    except DeadLink as dead:
        return dead_page(dead.status, accept_language)
    except DependencyUnavailable:
        return _unavailable(accept_language)
    logger.info(
        "page action",
        extra={"delivery_id": holder.delivery.delivery_id, "holder": holder.holder, "action": action, "notice": notice},
    )
    # Relative to the page's own address, so it works under any base path; after "replace" and "decline"
    # this link no longer opens the page, and the dead-link page says where the new link is.
    return redirect(f"{token}?done={notice}")


_REFUSALS: tuple[tuple[type[DomainError], str], ...] = (
    (TooManyResends, "too_many_resends"),
    (Locked, "locked"),
    (DateAlreadyEnded, "too_late"),
    (InvalidInput, "too_late"),
    (Gone, "no_live_code"),
    (Conflict, "changed"),
)


def _perform(holder: Holder, action: str, form: dict[str, str], now: datetime) -> str:
    """One of the customer's controls, through the same rules as the storefront's routes; the key of the
    notice the page then shows."""
    delivery_id, actor = holder.delivery.delivery_id, holder.actor
    try:
        if action == "resend":
            controls.resend_code(delivery_id, actor)
            return "resent"
        if action == "replace":
            controls.replace_code(delivery_id, actor)
            return "replaced"
        if action == "move":
            day = form.get("delivery_date", "")
            if day not in {d.isoformat() for d in days_offered(holder.delivery, now)}:
                return "too_late"
            controls.reschedule(delivery_id, {"delivery_date": day}, actor)
            return "moved"
        if action == "revoke":
            who = form.get("delegate_id", "")
            if who not in (holder.delivery.live_delegates or ()):
                return "unknown_delegate"
            delegates.revoke_delegate(delivery_id, who, actor)
            return "revoked"
        # decline: the delegate revokes themself
        delegates.revoke_delegate(delivery_id, holder.holder, actor)
        return "revoked"
    except NotFound:
        return "no_live_code" if action in ("resend", "replace") else "unknown_delegate"
    except DependencyUnavailable:
        raise
    except DomainError as refused:
        notice = next((notice for kind, notice in _REFUSALS if isinstance(refused, kind)), "changed")
        if notice == "changed" and holder.delivery.status not in OPEN_STATES:
            return "not_open"
        return notice


def form_fields(body: str | None, base64_encoded: bool) -> dict[str, str] | None:
    """An urlencoded form body as single values; None when it is not one we accept (PayloadTooLarge over
    the API's limit)."""
    raw = body or ""
    try:
        text = base64.b64decode(raw).decode() if base64_encoded else raw
    except (ValueError, UnicodeDecodeError):
        return None
    if len(text.encode()) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        return None
    return {name: values[0] for name, values in fields.items()}


def stylesheet() -> str:
    """The pages' one stylesheet (the Content-Security-Policy allows no inline style)."""
    return (TEMPLATES / "pages" / "page.css").read_text()
