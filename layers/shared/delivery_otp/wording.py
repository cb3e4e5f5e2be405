"""What people read, in their language: one gettext catalog per language and Jinja2 templates.

Code emails, wrong-code alerts, the recipient's page and the courier's app share one catalog per
language (`locales/<language>/LC_MESSAGES/messages.po`, compiled to `messages.mo` by `make catalogs`;
both are committed so the Lambda layer needs no build step). Adding a language is adding one `.po`
file and its name to `LANGUAGES`. Templates autoescape HTML, so a name or an order id a storefront
sent can never become markup. The verify function imports none of this: its cold start is a courier
waiting at a door.
"""

from __future__ import annotations

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
    language = (locale or "").replace("_", "-").split("-", 1)[0].lower()
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
