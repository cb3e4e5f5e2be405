"""The catalogs and templates everything people read is made from (delivery_otp.wording)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from delivery_otp import wording

POT = wording.LOCALES / "messages.pot"


def _catalog(language: str):
    path = wording.LOCALES / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return path, read_po(handle, locale=language)


@pytest.mark.parametrize("language", wording.LANGUAGES)
def test_the_committed_compiled_catalog_is_the_current_po_file(language):
    """The layer ships the `.mo` files as committed: one left behind by an edited `.po` would show old wording."""
    path, catalog = _catalog(language)
    with path.with_suffix(".mo").open("rb") as handle:
        shipped = read_mo(handle)
    shipped_messages = {_plain(m.id): _plain(m.string) for m in shipped if m.id}
    written = {_plain(m.id): _plain(m.string) for m in catalog if m.id and any(_plain(m.string)) and not m.fuzzy}
    assert {k: shipped_messages.get(k) for k in written} == written, "run `make catalogs`, commit the .mo"
    assert set(shipped_messages) <= {_plain(m.id) for m in catalog if m.id}, "the .mo has messages the .po lost"


def _plain(text: str | tuple | list) -> tuple:
    """A message's id or translation as a tuple (a plural message has several)."""
    return (text,) if isinstance(text, str) else tuple(text)


@pytest.mark.parametrize("language", [language for language in wording.LANGUAGES if language != "en"])
def test_every_message_is_translated(language):
    with POT.open("rb") as handle:
        wanted = {message.id for message in read_po(handle) if message.id}
    _, catalog = _catalog(language)
    translated = {message.id for message in catalog if message.id and message.string and not message.fuzzy}
    assert wanted, "the template of messages lists what code and templates ask for"
    assert sorted(wanted - translated) == [], f"untranslated in {language}: run `make catalogs`, then translate"


def test_every_language_has_one_catalog_and_nothing_else_is_there():
    found = {path.parent.parent.name for path in Path(wording.LOCALES).glob("*/LC_MESSAGES/messages.po")}
    assert found == set(wording.LANGUAGES)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-CH,de;q=0.9,en;q=0.8", "de"),
        ("en-GB;q=0.5, fr;q=0.9", "fr"),
        ("pt-BR, es;q=0.1", "es"),
        ("ja", "en"),
        ("", "en"),
        (None, "en"),
        ("it;q=0, de;q=0.2", "de"),
        ("fr;q=abc, it", "it"),
    ],
)
def test_the_page_language_follows_the_browser(header, language):
    assert wording.language_from_header(header) == language


@pytest.mark.parametrize(
    ("locale", "language"), [("it-IT", "it"), ("de_CH", "de"), ("FR", "fr"), ("pt-PT", "en"), (None, "en")]
)
def test_the_language_of_a_locale(locale, language):
    assert wording.language_of(locale) == language


def test_templates_escape_what_callers_sent_and_speak_the_language():
    env = wording.environment("it")
    page = env.from_string('<p>{{ name }}</p><p>{{ _("Your delivery") }}</p>').render(name="<script>x</script>")
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert "La tua consegna" in page
    assert wording.gettext_in("de", "Your delivery") == "Ihre Lieferung"
