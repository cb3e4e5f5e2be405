"""The wrong-code alert: a short email telling the recipient that someone entered a wrong code for
their parcel, at most once per code. It carries no code, and says what to do: nothing if it
was them or the person receiving the parcel, otherwise keep the code to themselves.

Same catalogs, greeting, date format, colours and one-line cleaning as the code email; its two parts
are `templates/emails/alert.txt` and `alert.html`.
"""

from __future__ import annotations

import datetime

from delivery_otp.email_render import RenderedEmail, clean
from delivery_otp.wording import N_, clock_time, gettext_in, language_of, long_date, render


def render_wrong_code_alert(
    *,
    locale: str | None,
    recipient_name: str | None,
    delivery_id: str,
    order_id: str,
    delivery_date: datetime.date,
    attempted_at: datetime.datetime,
) -> RenderedEmail:
    """`attempted_at` is aware and already in the destination's zone."""
    language = language_of(locale)
    subject = gettext_in(language, N_("A wrong delivery code was entered for your parcel"))
    context = {
        "subject": subject,
        "name": clean(recipient_name),
        "time": clock_time(language, attempted_at),
        "date": long_date(language, delivery_date),
        "order": clean(order_id),
        "delivery": clean(delivery_id),
    }
    return RenderedEmail(
        subject=subject,
        text=render("emails/alert.txt", language, **context),
        html=render("emails/alert.html", language, **context),
    )
