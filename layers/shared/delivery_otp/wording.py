"""What people read, in their language: one gettext catalog per language and Jinja2 templates.

Code emails, wrong-code alerts, the recipient's page and the courier's app share one catalog per
language (`locales/<language>/LC_MESSAGES/messages.po`, compiled to `messages.mo` by `make catalogs`;
both are committed so the Lambda layer needs no build step). Adding a language is adding one `.po`
file and its name to `LANGUAGES`. Templates autoescape HTML, so a name or an order id a storefront
sent can never become markup. The verify function imports none of this: its cold start is a courier
waiting at a door.
"""

from __future__ import annotations

import datetime
import gettext
from functools import cache
from pathlib import Path

import jinja2

LANGUAGES = ("it", "de", "en", "fr", "es")
FALLBACK_LANGUAGE = "en"
CATALOG_DOMAIN = "messages"
LOCALES = Path(__file__).parent / "locales"
TEMPLATES = Path(__file__).parent / "templates"


def language_of(locale: str | None) -> str:
    """The language of a locale such as `it-IT`, `de_CH` or `fr`; English for any other."""
    language = (locale or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return language if language in LANGUAGES else FALLBACK_LANGUAGE


def language_from_header(accept_language: str | None) -> str:
    """The first of our languages an `Accept-Language` header names (quality order), else English."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().replace("_", "-").split("-", 1)[0].lower()
        if language in LANGUAGES and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else FALLBACK_LANGUAGE


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of one of `LANGUAGES`; a message missing from it reads in English."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for language {language!r}")
    return gettext.translation(CATALOG_DOMAIN, localedir=LOCALES, languages=[language], fallback=True)


@cache
def environment(language: str) -> jinja2.Environment:
    """One template environment per language: Jinja2's gettext hooks are installed per environment, so
    one shared environment would mix languages between concurrent renders."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["language"] = language
    return env


def render(template: str, language: str, **context: object) -> str:
    """A template rendered in `language` (one of `LANGUAGES`)."""
    return environment(language).get_template(template).render(**context)


def gettext_in(language: str, message: str, **values: object) -> str:
    """One message in `language`, `%(name)s` placeholders filled (outside templates: subjects, headers)."""
    text = translations(language).gettext(message)
    return text % values if values else text


def N_(message: str) -> str:
    """Marks a message for `make catalogs` where it is written; it is translated where it is used."""
    return message


WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"), N_("Sunday"))
MONTHS = (
    N_("January"),
    N_("February"),
    N_("March"),
    N_("April"),
    N_("May"),
    N_("June"),
    N_("July"),
    N_("August"),
    N_("September"),
    N_("October"),
    N_("November"),
    N_("December"),
)


def long_date(language: str, day: datetime.date) -> str:
    """A day as each language writes it in a sentence ("Monday 23 November 2026", "lunedì 1º dicembre 2026")."""
    catalog = translations(language)
    number = catalog.pgettext("the first day of a month, written in a date", "1") if day.day == 1 else str(day.day)
    pattern = catalog.pgettext("a date: Monday 23 November 2026", "%(weekday)s %(day)s %(month)s %(year)s")
    return pattern % {
        "weekday": catalog.gettext(WEEKDAYS[day.weekday()]),
        "day": number,
        "month": catalog.gettext(MONTHS[day.month - 1]),
        "year": day.year,
    }


def clock_time(language: str, moment: datetime.datetime) -> str:
    """A local clock time, 24-hour, as each language writes it in a sentence. The hour is the count that
    picks the plural form, for languages whose article follows it (Spanish "la 01:00", "las 13:00")."""
    pattern = translations(language).npgettext(
        "a clock time, 24-hour; the hour and the minute are numbers",
        "%(hour)02d:%(minute)02d",
        "%(hour)02d:%(minute)02d",
        moment.hour,
    )
    return pattern % {"hour": moment.hour, "minute": moment.minute}


def zone_name(moment: datetime.datetime) -> str:
    """The time zone's IANA name ("Europe/Rome"), else its abbreviation or offset ("UTC+01:00")."""
    return getattr(moment.tzinfo, "key", None) or moment.tzname() or "UTC"
