"""The wrong-code alert in each language: what happened, what to do, no code, safe with hostile names."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from delivery_otp.alert_render import render_wrong_code_alert

ROME = ZoneInfo("Europe/Rome")
WHEN = datetime.datetime(2026, 11, 23, 10, 15, tzinfo=ROME)
EXPECTED = {
    "it": ("codice errato", "alle ore 10:15", "lunedì 23 novembre 2026"),
    "de": ("falscher Zustellcode", "um 10:15 Uhr", "Montag, 23. November 2026"),
    "en": ("wrong delivery code", "at 10:15", "Monday 23 November 2026"),
    "fr": ("code de livraison erroné", "à 10\u00a0h\u00a015", "lundi 23 novembre 2026"),
    "es": ("código de entrega incorrecto", "a las 10:15", "lunes 23 de noviembre de 2026"),
}


def render(locale: str, name: str | None = "Maria Rossi"):
    return render_wrong_code_alert(
        locale=locale,
        recipient_name=name,
        delivery_id="IT-000123",
        order_id="402-1234567-1234567",
        delivery_date=datetime.date(2026, 11, 23),
        attempted_at=WHEN,
    )


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_the_alert_says_what_happened_and_when_in_the_recipients_language(locale):
    alert = render(locale)
    what, when, day = EXPECTED[locale]
    assert what in alert.subject
    for body in (alert.text, alert.html):
        assert when in body and day in body and "Maria Rossi" in body and "IT-000123" in body
    assert f'<html lang="{locale}">' in alert.html


def test_an_unknown_language_falls_back_to_english_and_no_name_to_a_plain_greeting():
    alert = render("pt-BR", name=None)
    assert alert.subject == "A wrong delivery code was entered for your parcel"
    assert alert.text.startswith("Hello,\n")


def test_a_hostile_name_is_text_in_the_html_and_one_line_everywhere():
    alert = render("en", name="<script>alert(1)</script>\r\nBcc: x@evil.example")
    assert "<script>" not in alert.html and "&lt;script&gt;" in alert.html
    assert "\r" not in alert.subject and alert.text.startswith("Hello <script>alert(1)</script> Bcc: x@evil.example,")
