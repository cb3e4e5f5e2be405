"""The wrong-code alert: a short email telling the recipient that someone entered a wrong code for
their parcel, at most once per code. It carries no code, and says what to do: nothing if it
was them or the person receiving the parcel, otherwise keep the code to themselves.

Same languages, greeting, date format, accessibility and one-line cleaning as the code email.
"""

from __future__ import annotations

import datetime
import html

from delivery_otp.email_render import (
    _INK,
    _MUTED,
    _PAPER,
    _WORDS,
    NBSP,
    RenderedEmail,
    _clean,
    _clock,
    _long_date,
    language_of,
)

_ALERT = {
    "it": (
        "È stato inserito un codice errato per il Suo pacco",
        "oggi alle ore {time} qualcuno ha inserito un codice di consegna errato per il Suo pacco del {date}.",
        "Se è stato Lei o la persona che riceverà il pacco, non deve fare nulla: il corriere consegna il pacco "
        "solo con il codice giusto. Altrimenti non comunichi il codice a nessuno.",
        "Per questo codice non riceverà altri avvisi.",
    ),
    "de": (
        "Für Ihr Paket wurde ein falscher Zustellcode eingegeben",
        "heute um {time} Uhr hat jemand für Ihr Paket vom {date} einen falschen Zustellcode eingegeben.",
        "Waren Sie das oder die Person, die das Paket annimmt, müssen Sie nichts tun: Das Paket wird nur gegen "
        "den richtigen Code übergeben. Andernfalls geben Sie den Code an niemanden weiter.",
        "Für diesen Code erhalten Sie keine weitere Warnung.",
    ),
    "en": (
        "A wrong delivery code was entered for your parcel",
        "Today at {time} someone entered a wrong delivery code for your parcel due on {date}.",
        "If that was you or the person receiving the parcel, there is nothing to do: the parcel is only handed "
        "over for the right code. If it was not, keep your code to yourself.",
        "You will not get another alert for this code.",
    ),
    "fr": (
        "Un code de livraison erroné a été saisi pour votre colis",
        "Aujourd’hui à {time}, quelqu’un a saisi un code de livraison erroné pour votre colis du {date}.",
        f"Si c’était vous ou la personne qui recevra le colis, vous n’avez rien à faire{NBSP}: le colis n’est "
        "remis qu’avec le bon code. Sinon, ne communiquez votre code à personne.",
        "Vous ne recevrez pas d’autre alerte pour ce code.",
    ),
    "es": (
        "Se ha introducido un código de entrega incorrecto para su paquete",
        "Hoy a {time} alguien ha introducido un código de entrega incorrecto para su paquete del {date}.",
        "Si fue usted o la persona que recibirá el paquete, no tiene que hacer nada: el paquete solo se entrega "
        "con el código correcto. Si no, no comparta su código con nadie.",
        "No recibirá otro aviso para este código.",
    ),
}


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
    words = _WORDS[language]
    subject, happened, what_to_do, once = _ALERT[language]
    name = _clean(recipient_name)
    greeting = words.greeting_named.format(name=name) if name else words.greeting
    when = _clock(language, attempted_at)
    paragraphs = [happened.format(time=when, date=_long_date(language, delivery_date)), what_to_do, words.never_asked]
    label_sep = f"{NBSP}: " if language == "fr" else ": "
    details = [(words.order_label, _clean(order_id)), (words.delivery_label, _clean(delivery_id))]
    text = "\n\n".join(
        [greeting, *paragraphs, once, "\n".join(f"{k}{label_sep}{v}" for k, v in details), f"-- \n{words.footer}"]
    )
    e = html.escape
    body = "\n".join(f'<p style="margin:0 0 16px 0;">{e(p)}</p>' for p in [greeting, *paragraphs, once])
    detail_lines = "<br>\n".join(f"{e(k)}{e(label_sep)}{e(v)}" for k, v in details)
    page_style = (
        f"margin:0;padding:24px 16px;background-color:{_PAPER};color:{_INK};"
        "font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;"
    )
    page = f"""<!DOCTYPE html>
<html lang="{e(language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(subject)}</title>
</head>
<body style="{page_style}">
<div style="max-width:560px;">
{body}
<p style="margin:0 0 16px 0;">{detail_lines}</p>
<p style="margin:24px 0 0 0;font-size:14px;color:{_MUTED};">{e(words.footer)}</p>
</div>
</body>
</html>
"""
    return RenderedEmail(subject=subject, text=text + "\n", html=page)
