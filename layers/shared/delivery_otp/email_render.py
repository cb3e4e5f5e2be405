"""The code email, in the recipient's language: plain text and accessible HTML, standard library only.

The wording carries the product's promises, so it is written by hand per language rather than left to a
locale library the Lambda layer would have to ship: the code is in the body only (never in the subject,
the title, the inbox preview or any link), the email says when the code stops working in the
destination's local time, that a trusted person may receive the parcel with it, and that nobody will
ever ask for it by phone or message. The HTML groups the code for reading and labels it so screen
readers announce it digit by digit; the text part keeps the plain 6 digits for copying.
"""

from __future__ import annotations

import datetime
import html
import unicodedata
from dataclasses import dataclass
from typing import Literal

from delivery_otp import codes

FALLBACK_LANGUAGE = "en"
NBSP = "\u00a0"  # French puts a non-breaking space before ":" and inside "0 h 00"

Reason = Literal["issued", "rotated"]

# Dark on white: #111111 on #ffffff is about 18.9:1, the footer grey #4a4a4a about 8.9:1 (WCAG AAA is 7:1).
_INK = "#111111"
_PAPER = "#ffffff"
_MUTED = "#4a4a4a"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class _Words:
    """One language's wording. Placeholders are filled with str.format after cleaning."""

    weekdays: tuple[str, ...]  # Monday first, as date.weekday()
    months: tuple[str, ...]
    subject_issued: str  # {date}
    subject_rotated: str  # {date}
    subject_order: str  # {order}, appended to the subject
    greeting_named: str  # {name}
    greeting: str
    intro_issued: str  # {date}; German and Italian go on in lower case after the greeting's comma
    intro_rotated: str  # {date}
    old_code_dead: str
    code_heading: str
    code_aria: str  # {digits}
    valid_to_midnight: str  # {day}, {next_day}, {time}, {zone}
    valid_until: str  # {day}, {time}, {zone}
    zone: str  # {zone}
    trusted_person: str
    never_asked: str
    order_label: str
    delivery_label: str
    date_label: str
    footer: str
    # To a delegate: someone the recipient trusts, with a code of their own.
    subject_delegate: str  # {date}
    intro_delegate_named: str  # {owner}, {date}
    intro_delegate: str  # {date}
    delegate_own_code: str


_IT = _Words(
    weekdays=("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
    months=(
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ),
    subject_issued="Il Suo codice di consegna per {date}",
    subject_rotated="Nuovo codice di consegna per {date}",
    subject_order=" (ordine {order})",
    greeting_named="Gentile {name},",
    greeting="Buongiorno,",
    intro_issued="il Suo pacco sarà consegnato {date}. Al momento della consegna Le servirà il codice qui sotto.",
    intro_rotated="ecco il nuovo codice per la consegna del Suo pacco, prevista per {date}.",
    old_code_dead="Il codice precedente non è più valido: usi soltanto questo.",
    code_heading="Il Suo codice di consegna",
    code_aria="Codice di consegna: {digits}",
    valid_to_midnight=(
        "Il codice vale per tutta la giornata di {day} e scade a mezzanotte, "
        "cioè alle ore {time} di {next_day} ({zone})."
    ),
    valid_until="Il codice vale fino alle ore {time} di {day} ({zone}).",
    zone="ora locale, fuso orario {zone}",
    trusted_person=(
        "Se non potrà essere presente, può comunicare il codice a una persona di fiducia "
        "che riceverà il pacco al posto Suo."
    ),
    never_asked=(
        "Nessuno, né del negozio né del corriere, Le chiederà mai questo codice per telefono, SMS, e-mail o chat. "
        "Lo comunichi solo di persona, al momento della consegna, con il pacco davanti a sé."
    ),
    order_label="Ordine",
    delivery_label="Riferimento consegna",
    date_label="Data di consegna",
    footer="Messaggio automatico, La preghiamo di non rispondere.",
    subject_delegate="Il Suo codice per ricevere un pacco {date}",
    intro_delegate_named=(
        "{owner} conta su di Lei per ricevere un pacco al suo posto; la consegna è prevista per {date}. Al "
        "momento della consegna Le servirà il codice qui sotto."
    ),
    intro_delegate=(
        "il destinatario di un pacco conta su di Lei per riceverlo al suo posto; la consegna è prevista per "
        "{date}. Al momento della consegna Le servirà il codice qui sotto."
    ),
    delegate_own_code=(
        "Questo codice è personale: non lo passi ad altri. Se il destinatario revoca l’incarico, il "
        "codice smette subito di funzionare."
    ),
)

_DE = _Words(
    weekdays=("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    months=(
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    subject_issued="Ihr Zustellcode für {date}",
    subject_rotated="Neuer Zustellcode für {date}",
    subject_order=" (Bestellung {order})",
    greeting_named="Guten Tag {name},",
    greeting="Guten Tag,",
    intro_issued="Ihr Paket wird am {date}, zugestellt. Bei der Übergabe benötigen Sie den folgenden Code.",
    intro_rotated="hier ist Ihr neuer Code für die Zustellung Ihres Pakets am {date}.",
    old_code_dead="Der bisherige Code ist nicht mehr gültig: Verwenden Sie bitte nur noch diesen.",
    code_heading="Ihr Zustellcode",
    code_aria="Zustellcode: {digits}",
    valid_to_midnight=(
        "Der Code gilt am {day}, den ganzen Tag und verfällt um Mitternacht, "
        "also am {next_day}, um {time} Uhr ({zone})."
    ),
    valid_until="Der Code gilt bis {day}, {time} Uhr ({zone}).",
    zone="Ortszeit, Zeitzone {zone}",
    trusted_person=(
        "Wenn Sie nicht zu Hause sind, können Sie den Code an eine Person Ihres Vertrauens weitergeben, "
        "die das Paket für Sie entgegennimmt."
    ),
    never_asked=(
        "Niemand vom Shop oder vom Zustelldienst wird Sie jemals telefonisch, per SMS, E-Mail oder Chat "
        "nach diesem Code fragen. Nennen Sie ihn nur persönlich an der Tür, wenn das Paket vor Ihnen liegt."
    ),
    order_label="Bestellung",
    delivery_label="Lieferreferenz",
    date_label="Liefertermin",
    footer="Diese Nachricht wurde automatisch erstellt. Bitte antworten Sie nicht darauf.",
    subject_delegate="Ihr Code für die Annahme eines Pakets am {date}",
    intro_delegate_named=(
        "{owner} hat Sie als Vertrauensperson benannt, die ein Paket entgegennehmen darf. Die Zustellung ist "
        "am {date}, geplant. Bei der Übergabe benötigen Sie den folgenden Code."
    ),
    intro_delegate=(
        "Sie wurden als Vertrauensperson benannt, die ein Paket entgegennehmen darf. Die Zustellung ist am "
        "{date}, geplant. Bei der Übergabe benötigen Sie den folgenden Code."
    ),
    delegate_own_code=(
        "Dieser Code gilt nur für Sie: Geben Sie ihn bitte nicht weiter. Widerruft der Empfänger die "
        "Benennung, ist der Code sofort ungültig."
    ),
)

_EN = _Words(
    weekdays=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    months=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    subject_issued="Your delivery code for {date}",
    subject_rotated="New delivery code for {date}",
    subject_order=" (order {order})",
    greeting_named="Hello {name},",
    greeting="Hello,",
    intro_issued="Your parcel will be delivered on {date}. You will need the code below to receive it.",
    intro_rotated="Here is a new code for the delivery of your parcel on {date}.",
    old_code_dead="The previous code no longer works: please use only this one.",
    code_heading="Your delivery code",
    code_aria="Delivery code: {digits}",
    valid_to_midnight=(
        "The code is valid for the whole of {day} and expires at midnight, that is at {time} on {next_day} ({zone})."
    ),
    valid_until="The code is valid until {time} on {day} ({zone}).",
    zone="local time, time zone {zone}",
    trusted_person=(
        "If you will not be at home, you can share this code with someone you trust who will receive the parcel "
        "for you."
    ),
    never_asked=(
        "Nobody from the shop or the carrier will ever ask you for this code by phone, text message, email or chat. "
        "Only give it face to face, at the door, with the parcel in front of you."
    ),
    order_label="Order",
    delivery_label="Delivery reference",
    date_label="Delivery date",
    footer="This is an automatic message: please do not reply.",
    subject_delegate="Your code to receive a parcel on {date}",
    intro_delegate_named=(
        "{owner} has named you as a trusted person to receive a parcel, due to be delivered on {date}. You "
        "will need the code below to receive it."
    ),
    intro_delegate=(
        "You have been named as a trusted person to receive a parcel, due to be delivered on {date}. You will"
        " need the code below to receive it."
    ),
    delegate_own_code=(
        "This code is yours alone: please do not pass it on. If the recipient removes you as their "
        "trusted person, the code stops working at once."
    ),
)

_FR = _Words(
    weekdays=("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    months=(
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    subject_issued="Votre code de livraison pour le {date}",
    subject_rotated="Nouveau code de livraison pour le {date}",
    subject_order=" (commande {order})",
    greeting_named="Bonjour {name},",
    greeting="Bonjour,",
    intro_issued=(
        "Votre colis sera livré le {date}. Lors de la livraison, vous aurez besoin du code ci-dessous "
        "pour le réceptionner."
    ),
    intro_rotated="Voici votre nouveau code pour la livraison de votre colis, prévue le {date}.",
    old_code_dead=f"L’ancien code ne fonctionne plus{NBSP}: utilisez uniquement celui-ci.",
    code_heading="Votre code de livraison",
    code_aria=f"Code de livraison{NBSP}: {{digits}}",
    valid_to_midnight=(
        "Ce code est valable toute la journée du {day} et expire à minuit, soit le {next_day} à {time} ({zone})."
    ),
    valid_until="Ce code est valable jusqu’au {day} à {time} ({zone}).",
    zone="heure locale, fuseau horaire {zone}",
    trusted_person=(
        "Si vous ne pouvez pas être là, vous pouvez transmettre ce code à une personne de confiance "
        "qui recevra le colis à votre place."
    ),
    never_asked=(
        "Personne, ni de la boutique ni du transporteur, ne vous demandera jamais ce code par téléphone, SMS, "
        "e-mail ou messagerie. Ne le donnez qu’en face à face, au moment de la livraison, le colis sous les yeux."
    ),
    order_label="Commande",
    delivery_label="Référence de livraison",
    date_label="Date de livraison",
    footer="Ce message est envoyé automatiquement, merci de ne pas y répondre.",
    subject_delegate="Votre code pour réceptionner un colis le {date}",
    intro_delegate_named=(
        "{owner} compte sur vous pour réceptionner un colis, dont la livraison est prévue le {date}. Lors de "
        "la livraison, vous aurez besoin du code ci-dessous."
    ),
    intro_delegate=(
        "Le destinataire d’un colis compte sur vous pour le réceptionner à sa place, le {date}. Lors de la "
        "livraison, vous aurez besoin du code ci-dessous."
    ),
    delegate_own_code=(
        f"Ce code vous est personnel{NBSP}: ne le transmettez à personne. Si le destinataire retire sa "
        f"demande, le code cesse aussitôt de fonctionner."
    ),
)

_ES = _Words(
    weekdays=("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    months=(
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
    subject_issued="Su código de entrega para el {date}",
    subject_rotated="Nuevo código de entrega para el {date}",
    subject_order=" (pedido {order})",
    greeting_named="Hola, {name}:",
    greeting="Hola:",
    intro_issued=(
        "Su paquete se entregará el {date}. En el momento de la entrega necesitará el código que aparece "
        "a continuación."
    ),
    intro_rotated="Aquí tiene el nuevo código para la entrega de su paquete, prevista para el {date}.",
    old_code_dead="El código anterior ya no es válido: utilice solo este.",
    code_heading="Su código de entrega",
    code_aria="Código de entrega: {digits}",
    valid_to_midnight=(
        "El código es válido durante todo el {day} y caduca a medianoche, es decir, a {time} del {next_day} ({zone})."
    ),
    valid_until="El código es válido hasta {time} del {day} ({zone}).",
    zone="hora local, zona horaria {zone}",
    trusted_person=(
        "Si no va a estar en casa, puede compartir este código con una persona de confianza "
        "que reciba el paquete en su lugar."
    ),
    never_asked=(
        "Nadie de la tienda ni de la empresa de transporte le pedirá nunca este código por teléfono, SMS, "
        "correo electrónico o chat. Facilítelo solo en persona, en el momento de la entrega y con el paquete delante."
    ),
    order_label="Pedido",
    delivery_label="Referencia de entrega",
    date_label="Fecha de entrega",
    footer="Este es un mensaje automático; por favor, no responda.",
    subject_delegate="Su código para recibir un paquete el {date}",
    intro_delegate_named=(
        "{owner} cuenta con usted para recibir un paquete, cuya entrega está prevista para el {date}. En el "
        "momento de la entrega necesitará el código que aparece a continuación."
    ),
    intro_delegate=(
        "El destinatario de un paquete cuenta con usted para recibirlo en su lugar; la entrega está prevista "
        "para el {date}. En el momento de la entrega necesitará el código que aparece a continuación."
    ),
    delegate_own_code=(
        "Este código es personal: no lo comparta con nadie. Si el destinatario retira la autorización, el "
        "código dejará de funcionar de inmediato."
    ),
)

_WORDS = {"it": _IT, "de": _DE, "en": _EN, "fr": _FR, "es": _ES}


def language_of(locale: str | None) -> str:
    """The primary language subtag if we write that language ("de_CH" -> "de"), else English."""
    if not locale:
        return FALLBACK_LANGUAGE
    primary = locale.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in _WORDS else FALLBACK_LANGUAGE


def _long_date(language: str, day: datetime.date) -> str:
    words = _WORDS[language]
    weekday, month = words.weekdays[day.weekday()], words.months[day.month - 1]
    match language:
        case "it":
            number = "1º" if day.day == 1 else str(day.day)
            return f"{weekday} {number} {month} {day.year}"
        case "de":
            return f"{weekday}, {day.day}. {month} {day.year}"
        case "fr":
            number = "1er" if day.day == 1 else str(day.day)
            return f"{weekday} {number} {month} {day.year}"
        case "es":
            return f"{weekday} {day.day} de {month} de {day.year}"
        case _:
            return f"{weekday} {day.day} {month} {day.year}"


def _clock(language: str, moment: datetime.datetime) -> str:
    """The local clock time as each language writes it, 24-hour."""
    match language:
        case "fr":
            return f"{moment.hour}{NBSP}h{NBSP}{moment.minute:02d}"
        case "es":
            # "a la 01:00" but "a las 00:00", "a las 13:00"
            return f"{'la' if moment.hour == 1 else 'las'} {moment:%H:%M}"
        case _:
            return f"{moment:%H:%M}"


def _zone_name(moment: datetime.datetime) -> str:
    key = getattr(moment.tzinfo, "key", None)
    return key or moment.tzname() or "UTC"


def _validity(language: str, valid_until: datetime.datetime) -> str:
    """Until when the code works, in the destination's local time, with the zone named."""
    words = _WORDS[language]
    zone = words.zone.format(zone=_zone_name(valid_until))
    time = _clock(language, valid_until)
    if valid_until.time() == datetime.time(0, 0):
        # The usual case: valid to the first instant of the next local day, i.e. all of the delivery day.
        day = valid_until.date() - datetime.timedelta(days=1)
        return words.valid_to_midnight.format(
            day=_long_date(language, day),
            next_day=_long_date(language, valid_until.date()),
            time=time,
            zone=zone,
        )
    return words.valid_until.format(day=_long_date(language, valid_until.date()), time=time, zone=zone)


def _clean(value: str | None) -> str:
    """One line of printable text: control and format characters (newlines, bidi overrides) become spaces."""
    if not value:
        return ""
    printable = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in value)
    return " ".join(printable.split())


def _subject(words: _Words, reason: Reason, date_text: str, order_id: str, code: str) -> str:
    base = (words.subject_rotated if reason == "rotated" else words.subject_issued).format(date=date_text)
    with_order = base + words.subject_order.format(order=order_id) if order_id else base
    # An order number that happens to contain the code must not carry it into the subject.
    if code in with_order or _grouped(code) in with_order:
        return base
    return with_order


def _grouped(code: str) -> str:
    return f"{code[:3]} {code[3:]}"


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
    """The code email for one recipient. `page_link`: the holder's own page (it carries no code).
    `valid_until` is aware and already in the destination's zone.

    With `delegate_of` (the recipient's name, or "" when the shop gave none) the email goes to a delegate:
    `recipient_name` is then the delegate's own name, and the order number stays out, since the order is
    the recipient's business, not the delegate's.
    """
    if not codes.is_well_formed(code):
        raise ValueError("a delivery code is exactly 6 ASCII digits")
    if valid_until.tzinfo is None or valid_until.utcoffset() is None:
        raise ValueError("valid_until must be timezone-aware, in the destination's local zone")
    if reason not in ("issued", "rotated"):
        raise ValueError(f"unknown reason {reason!r}: 'issued' or 'rotated'")

    language = language_of(locale)
    words = _WORDS[language]
    name, order, delivery = _clean(recipient_name), _clean(order_id), _clean(delivery_id)
    date_text = _long_date(language, delivery_date)

    greeting = words.greeting_named.format(name=name) if name else words.greeting
    validity = _validity(language, valid_until)
    if delegate_of is None:
        subject = _subject(words, reason, date_text, order, code)
        intro = (words.intro_rotated if reason == "rotated" else words.intro_issued).format(date=date_text)
        paragraphs_after_code = (validity, words.trusted_person, words.never_asked)
        details: tuple[tuple[str, str], ...] = (
            (words.order_label, order),
            (words.delivery_label, delivery),
            (words.date_label, date_text),
        )
    else:
        owner = _clean(delegate_of)
        subject = words.subject_delegate.format(date=date_text)
        intro_words = words.intro_delegate_named if owner else words.intro_delegate
        intro = intro_words.format(owner=owner, date=date_text)
        paragraphs_after_code = (validity, words.delegate_own_code, words.never_asked)
        details = ((words.delivery_label, delivery), (words.date_label, date_text))
    label_sep = f"{NBSP}: " if language == "fr" else ": "

    text = _render_text(
        greeting=greeting,
        intro=intro,
        old_code_dead=words.old_code_dead if reason == "rotated" else None,
        code_heading=words.code_heading,
        code=code,
        paragraphs=paragraphs_after_code,
        details=[f"{label}{label_sep}{value}" for label, value in details],
        footer=words.footer,
        label_sep=label_sep,
    )
    body_html = _render_html(
        language=language,
        subject=subject,
        greeting=greeting,
        intro=intro,
        old_code_dead=words.old_code_dead if reason == "rotated" else None,
        code_heading=words.code_heading,
        code_aria=words.code_aria.format(digits=" ".join(code)),
        code=code,
        paragraphs=paragraphs_after_code,
        details=details,
        label_sep=label_sep,
        footer=words.footer,
    )
    if page_link:
        text += f"\n{page_link}\n"
        body_html = body_html.replace(
            "</body>", f'<p><a href="{html.escape(page_link)}">{html.escape(page_link)}</a></p></body>', 1
        )
    return RenderedEmail(subject=subject, text=text, html=body_html)


def _render_text(
    *,
    greeting: str,
    intro: str,
    old_code_dead: str | None,
    code_heading: str,
    code: str,
    paragraphs: tuple[str, ...],
    details: list[str],
    footer: str,
    label_sep: str,
) -> str:
    blocks = [greeting, intro]
    if old_code_dead:
        blocks.append(old_code_dead)
    # The plain 6 digits, alone on their line, so they can be read out or copied whole.
    blocks.append(f"{code_heading}{label_sep.rstrip()}\n\n    {code}")
    blocks.extend(paragraphs)
    blocks.append("\n".join(details))
    blocks.append(f"-- \n{footer}")
    return "\n\n".join(blocks) + "\n"


def _render_html(
    *,
    language: str,
    subject: str,
    greeting: str,
    intro: str,
    old_code_dead: str | None,
    code_heading: str,
    code_aria: str,
    code: str,
    paragraphs: tuple[str, ...],
    details: tuple[tuple[str, str], ...],
    label_sep: str,
    footer: str,
) -> str:
    e = html.escape
    # What inboxes show next to the subject: the date, never the code.
    preview = intro[:1].upper() + intro[1:]
    paragraph = 'style="margin:0 0 16px 0;"'
    old_code = f"<p {paragraph}><strong>{e(old_code_dead)}</strong></p>\n" if old_code_dead else ""
    after_code = "\n".join(f"<p {paragraph}>{e(text)}</p>" for text in paragraphs[:-1])
    warning = f"<p {paragraph}><strong>{e(paragraphs[-1])}</strong></p>"
    detail_lines = "<br>\n".join(f"{e(label)}{e(label_sep)}{e(value)}" for label, value in details)
    # role="img" makes screen readers read the aria-label (digits one by one) instead of "482 913" as numbers.
    code_style = (
        f"margin:0 0 24px 0;padding:16px 24px;display:inline-block;white-space:nowrap;"
        f"font-family:'Courier New',Courier,monospace;font-size:40px;line-height:1.2;font-weight:700;"
        f"letter-spacing:0.12em;color:{_INK};background-color:{_PAPER};border:2px solid {_INK};border-radius:8px;"
    )
    return f"""<!DOCTYPE html>
<html lang="{e(language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="supported-color-schemes" content="light">
<title>{e(subject)}</title>
</head>
<body style="margin:0;padding:0;background-color:{_PAPER};color:{_INK};">
<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;" aria-hidden="true">{e(preview)}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:{_PAPER};">
<tr>
<td align="center" style="padding:24px 16px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:560px;">
<tr>
<td style="font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:{_INK};text-align:left;">
<p {paragraph}>{e(greeting)}</p>
<p {paragraph}>{e(intro)}</p>
{old_code}<h1 style="margin:24px 0 8px 0;font-size:20px;line-height:1.3;color:{_INK};">{e(code_heading)}</h1>
<p role="img" aria-label="{e(code_aria)}" style="{code_style}">{e(_grouped(code))}</p>
{after_code}
{warning}
<p {paragraph}>{detail_lines}</p>
<p style="margin:24px 0 0 0;font-size:14px;color:{_MUTED};">{e(footer)}</p>
</td>
</tr>
</table>
</td>
</tr>
</table>
</body>
</html>
"""
