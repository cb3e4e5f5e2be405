"""The code email, in the recipient's language: plain text and accessible HTML.

The wording is in the catalogs (`locales/`) and the two parts are templates (`templates/emails/code.txt`,
`code.html`, sharing their sentences through `code_words.txt`); this module checks what it is given,
cleans it to one line of text and picks the subject. The email keeps the product's promises: the code is
in the body only (never in the subject, the title, the inbox preview or any link, and the link to the
delivery's page carries no code), it says when the code stops working in the destination's local time,
that a trusted person may receive the parcel with it, and that nobody will ever ask for it by phone or
message. The HTML groups the code for reading and labels it so screen readers announce it digit by digit;
the text part keeps the plain 6 digits for copying.
"""

from __future__ import annotations

import datetime
import unicodedata
from dataclasses import dataclass
from typing import Literal

from delivery_otp import codes
from delivery_otp.wording import N_, clock_time, gettext_in, language_of, long_date, render, zone_name

__all__ = ["RenderedEmail", "Reason", "clean", "language_of", "render_code_email"]

Reason = Literal["issued", "rotated"]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def clean(value: str | None) -> str:
    """One line of printable text: control and format characters (newlines, bidi overrides) become spaces."""
    if not value:
        return ""
    printable = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in value)
    return " ".join(printable.split())


def _subject(language: str, reason: Reason, delegate: bool, date_text: str, order_id: str, code: str) -> str:
    if delegate:  # the order is the recipient's business, not the delegate's
        return gettext_in(language, N_("Your code to receive a parcel on %(date)s"), date=date_text)
    if reason == "rotated":
        base = gettext_in(language, N_("New delivery code for %(date)s"), date=date_text)
    else:
        base = gettext_in(language, N_("Your delivery code for %(date)s"), date=date_text)
    if not order_id:
        return base
    with_order = gettext_in(language, N_("%(subject)s (order %(order)s)"), subject=base, order=order_id)
    # An order number that happens to contain the code must not carry it into the subject.
    if code in with_order or f"{code[:3]} {code[3:]}" in with_order:
        return base
    return with_order


def _checked_link(page_link: str | None) -> str | None:
    """The link to the delivery's page, as given, once it is one web address on one line."""
    if page_link is None:
        return None
    if not page_link.startswith(("https://", "http://")) or clean(page_link) != page_link or " " in page_link:
        raise ValueError("page_link must be one http(s) address without spaces or control characters")
    return page_link


def render_code_email(
    *,
    locale: str | None,
    code: str,
    recipient_name: str | None,
    delivery_id: str,
    order_id: str,
    delivery_date: datetime.date,
    valid_until: datetime.datetime,
    reason: Reason = "issued",
    delegate_of: str | None = None,
    page_link: str | None = None,
) -> RenderedEmail:
    """The code email for one recipient. `valid_until` is aware and already in the destination's zone.

    With `delegate_of` (the recipient's name, or "" when the shop gave none) the email goes to a delegate:
    `recipient_name` is then the delegate's own name, and the order number stays out, since the order is
    the recipient's business, not the delegate's. With `page_link` both parts link to the holder's page
    (which carries no code): the text part as the bare address on its own line, the HTML as a link.
    """
    if not codes.is_well_formed(code):
        raise ValueError("a delivery code is exactly 6 ASCII digits")
    if valid_until.tzinfo is None or valid_until.utcoffset() is None:
        raise ValueError("valid_until must be timezone-aware, in the destination's local zone")
    if reason not in ("issued", "rotated"):
        raise ValueError(f"unknown reason {reason!r}: 'issued' or 'rotated'")
    link = _checked_link(page_link)

    language = language_of(locale)
    delegate = delegate_of is not None
    order = clean(order_id)
    date_text = long_date(language, delivery_date)
    subject = _subject(language, reason, delegate, date_text, order, code)
    # The usual end is the first instant of the next local day: the code is good for all of the delivery day.
    whole_day = valid_until.time() == datetime.time(0, 0)
    context = {
        "subject": subject,
        "name": clean(recipient_name),
        "delegate": delegate,
        "owner": clean(delegate_of),
        "rotated": reason == "rotated",
        "date": date_text,
        "code": code,
        "order": order,
        "delivery": clean(delivery_id),
        "whole_day": whole_day,
        "last_day": long_date(language, valid_until.date() - datetime.timedelta(days=1)),
        "end_day": long_date(language, valid_until.date()),
        "end_time": clock_time(language, valid_until),
        "zone_name": zone_name(valid_until),
        "page_link": link,
    }
    return RenderedEmail(
        subject=subject,
        text=render("emails/code.txt", language, **context),
        html=render("emails/code.html", language, **context),
    )
