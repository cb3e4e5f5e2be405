"""The code email keeps the product's promises in every language: code in the body only, local validity,
trusted person, never asked by phone, accessible HTML, and a raw MIME message SES can send."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from zoneinfo import ZoneInfo, available_timezones

import pytest
from delivery_otp.calendar import end_of_day
from delivery_otp.email_render import RenderedEmail, language_of, render_code_email
from hypothesis import given, settings
from hypothesis import strategies as st

from local.mailbox import render as ses_render

NBSP = "\u00a0"
CODE = "482913"
GROUPED = "482 913"
ROME = ZoneInfo("Europe/Rome")
MONDAY = date(2026, 11, 23)
END_OF_MONDAY = datetime(2026, 11, 24, 0, 0, tzinfo=ROME)
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
SIX_DIGITS = st.text(alphabet="0123456789", min_size=6, max_size=6)


@dataclass(frozen=True)
class Wording:
    """What a native reader must find, written here independently of the module's templates."""

    locale: str
    day: str
    next_day: str
    midnight: str
    trusted: str
    never_asked: str
    face_to_face: str
    old_code_dead: str
    aria: str
    named: str
    neutral: str


WORDING = {
    "it": Wording(
        locale="it-IT",
        day="lunedì 23 novembre 2026",
        next_day="martedì 24 novembre 2026",
        midnight="alle ore 00:00",
        trusted="a una persona di fiducia",
        never_asked="Le chiederà mai questo codice per telefono",
        face_to_face="solo di persona",
        old_code_dead="Il codice precedente non è più valido",
        aria="Codice di consegna: 4 8 2 9 1 3",
        named="Gentile Maria Rossi,",
        neutral="Buongiorno,",
    ),
    "de": Wording(
        locale="de-DE",
        day="Montag, 23. November 2026",
        next_day="Dienstag, 24. November 2026",
        midnight="um 00:00 Uhr",
        trusted="an eine Person Ihres Vertrauens weitergeben",
        never_asked="Niemand vom Shop oder vom Zustelldienst wird Sie jemals telefonisch",
        face_to_face="nur persönlich an der Tür",
        old_code_dead="Der bisherige Code ist nicht mehr gültig",
        aria="Zustellcode: 4 8 2 9 1 3",
        named="Guten Tag Maria Rossi,",
        neutral="Guten Tag,",
    ),
    "en": Wording(
        locale="en-GB",
        day="Monday 23 November 2026",
        next_day="Tuesday 24 November 2026",
        midnight="at 00:00",
        trusted="share this code with someone you trust",
        never_asked="will ever ask you for this code by phone",
        face_to_face="face to face",
        old_code_dead="The previous code no longer works",
        aria="Delivery code: 4 8 2 9 1 3",
        named="Hello Maria Rossi,",
        neutral="Hello,",
    ),
    "fr": Wording(
        locale="fr-FR",
        day="lundi 23 novembre 2026",
        next_day="mardi 24 novembre 2026",
        midnight=f"à 0{NBSP}h{NBSP}00",
        trusted="à une personne de confiance",
        never_asked="ne vous demandera jamais ce code par téléphone",
        face_to_face="en face à face",
        old_code_dead="L’ancien code ne fonctionne plus",
        aria=f"Code de livraison{NBSP}: 4 8 2 9 1 3",
        named="Bonjour Maria Rossi,",
        neutral="Bonjour,",
    ),
    "es": Wording(
        locale="es-ES",
        day="lunes 23 de noviembre de 2026",
        next_day="martes 24 de noviembre de 2026",
        midnight="a las 00:00",
        trusted="con una persona de confianza",
        never_asked="le pedirá nunca este código por teléfono",
        face_to_face="solo en persona",
        old_code_dead="El código anterior ya no es válido",
        aria="Código de entrega: 4 8 2 9 1 3",
        named="Hola, Maria Rossi:",
        neutral="Hola:",
    ),
}
LANGUAGES = sorted(WORDING)


def render(language: str = "en", **overrides) -> RenderedEmail:
    arguments = {
        "locale": WORDING[language].locale,
        "code": CODE,
        "recipient_name": "Maria Rossi",
        "delivery_id": "IT-DEL-77",
        "order_id": "A-1042",
        "delivery_date": MONDAY,
        "valid_until": END_OF_MONDAY,
        "reason": "issued",
    }
    arguments.update(overrides)
    return render_code_email(**arguments)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)

    @property
    def content(self) -> str:
        return "".join(self.text)

    @property
    def style(self) -> dict[str, str]:
        pairs = (item.split(":", 1) for item in self.attrs.get("style", "").split(";") if ":" in item)
        return {key.strip(): value.strip() for key, value in pairs}


class Page(HTMLParser):
    """Every element with its attributes and its text (entities decoded), as a mail client would see it."""

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open and self._open.pop().tag != tag:
            pass

    def handle_data(self, data):
        for element in self._open:
            element.text.append(data)
        if not any(e.tag == "head" or e.attrs.get("aria-hidden") == "true" for e in self._open):
            self.text.append(data)

    def find(self, tag: str) -> list[Element]:
        return [element for element in self.elements if element.tag == tag]

    @property
    def visible_text(self) -> str:
        """The body's text without the hidden preheader, on one line."""
        return one_line("".join(self.text))


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def one_line(text: str) -> str:
    """Lines joined, runs of ASCII white space made one; a no-break space stays (str.split() would eat it)."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


# --- the code is in the body only ------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["issued", "rotated"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_subject_never_carries_the_code(language, reason):
    rendered = render(language, reason=reason)
    assert CODE not in rendered.subject
    assert GROUPED not in rendered.subject
    assert WORDING[language].day in rendered.subject


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_text_part_carries_the_plain_six_digits_alone_on_a_line(language):
    rendered = render(language)
    assert f"    {CODE}" in rendered.text.splitlines()
    assert GROUPED not in rendered.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_link_title_or_inbox_preview_carries_the_code(language):
    page = Page(render(language).html)
    assert page.find("a") == []
    for element in page.elements:
        for name in ("href", "src", "action", "background"):
            value = element.attrs.get(name, "")
            assert CODE not in value and GROUPED not in value and "4 8 2 9 1 3" not in value
    (title,) = page.find("title")
    assert CODE not in title.content and GROUPED not in title.content
    preview = [element for element in page.elements if element.attrs.get("aria-hidden") == "true"]
    assert preview, "a hidden preheader keeps the code out of the inbox preview"
    assert all(CODE not in e.content and GROUPED not in e.content for e in preview)


def test_an_order_number_that_contains_the_code_is_left_out_of_the_subject():
    rendered = render(order_id=f"402-{CODE}7-1")
    assert CODE not in rendered.subject
    assert f"402-{CODE}7-1" in rendered.text  # still named in the body, where the code is anyway


# --- accessible HTML -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_html_code_is_grouped_large_high_contrast_monospace_and_read_digit_by_digit(language):
    page = Page(render(language).html)
    (code,) = [element for element in page.elements if "aria-label" in element.attrs]
    assert code.content == GROUPED
    assert code.attrs["aria-label"] == WORDING[language].aria
    assert code.attrs.get("role") == "img"  # so screen readers announce the label, not "482 913" as numbers
    style = code.style
    assert int(re.fullmatch(r"(\d+)px", style["font-size"]).group(1)) >= 32
    assert "monospace" in style["font-family"]
    assert contrast_ratio(style["color"], style["background-color"]) >= 7
    assert "nowrap" in style["white-space"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_html_declares_its_language_and_title_and_layout_tables_are_presentational(language):
    page = Page(render(language).html)
    (root,) = page.find("html")
    assert root.attrs["lang"] == language
    (title,) = page.find("title")
    assert title.content == render(language).subject
    assert page.find("table")
    assert all(table.attrs.get("role") == "presentation" for table in page.find("table"))
    body_style = page.find("body")[0].style
    assert contrast_ratio(body_style["color"], body_style["background-color"]) >= 7
    for element in page.elements:
        if "color" in element.style:  # every text colour stays AAA on the white page
            assert contrast_ratio(element.style["color"], "#ffffff") >= 7


def test_leading_zeros_are_kept_everywhere():
    rendered = render("it", code="012345")
    page = Page(rendered.html)
    assert "    012345" in rendered.text.splitlines()
    (code,) = [element for element in page.elements if "aria-label" in element.attrs]
    assert code.content == "012 345"
    assert code.attrs["aria-label"].endswith("0 1 2 3 4 5")


# --- what the email says ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_states_the_delivery_day_and_the_local_end_of_validity_with_the_zone(language):
    wording = WORDING[language]
    rendered = render(language)
    for body in (one_line(rendered.text), Page(rendered.html).visible_text):
        assert wording.day in body
        assert wording.next_day in body
        assert wording.midnight in body
        assert "Europe/Rome" in body


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_allows_a_trusted_person_and_warns_that_nobody_asks_for_the_code(language):
    wording = WORDING[language]
    rendered = render(language)
    for body in (one_line(rendered.text), Page(rendered.html).visible_text):
        assert wording.trusted in body
        assert wording.never_asked in body
        assert wording.face_to_face in body


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_names_the_order_and_the_delivery(language):
    rendered = render(language)
    for body in (rendered.text, Page(rendered.html).visible_text):
        assert "A-1042" in body
        assert "IT-DEL-77" in body


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_rotated_code_says_the_old_one_no_longer_works(language):
    wording = WORDING[language]
    rotated, issued = render(language, reason="rotated"), render(language, reason="issued")
    assert wording.old_code_dead in rotated.text
    assert wording.old_code_dead in Page(rotated.html).visible_text
    assert wording.old_code_dead not in issued.text
    assert rotated.subject != issued.subject


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_greeting_uses_the_name_or_stays_neutral(language):
    wording = WORDING[language]
    assert render(language).text.startswith(wording.named + "\n")
    for nameless in (None, "", "   "):
        assert render(language, recipient_name=nameless).text.startswith(wording.neutral + "\n")


@pytest.mark.parametrize("language", LANGUAGES)
def test_names_and_ids_are_escaped_in_the_html(language):
    rendered = render(
        language,
        recipient_name='<script>alert("x")</script>',
        order_id="A&B<1>",
        delivery_id='D"><img src=x onerror=alert(1)>',
    )
    assert "<script>" not in rendered.html
    assert "<img" not in rendered.html
    assert "A&B<1>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "A&amp;B&lt;1&gt;" in rendered.html
    page = Page(rendered.html)
    assert not page.find("script") and not page.find("img")
    assert '<script>alert("x")</script>' in page.visible_text  # shown as text, not run
    assert "<script>" in rendered.text  # the text part is not HTML: nothing to escape


def test_control_characters_in_names_and_ids_cannot_break_lines_or_headers():
    rendered = render(recipient_name="Maria\r\nBcc: x@evil.example", order_id="A-1\nB")
    assert "\r" not in rendered.subject and "\n" not in rendered.subject
    assert rendered.text.startswith("Hello Maria Bcc: x@evil.example,\n")
    subject = ses_render(_code_template()["SubjectPart"], {"subject": rendered.subject})
    assert "\r" not in subject and "\n" not in subject


def test_first_of_the_month_is_written_as_each_language_writes_it():
    first = date(2026, 12, 1)
    end = datetime(2026, 12, 2, tzinfo=ROME)
    dates = {
        language: render(language, delivery_date=first, valid_until=end).text
        for language in ("it", "fr", "de", "es", "en")
    }
    assert "martedì 1º dicembre 2026" in dates["it"]
    assert "mardi 1er décembre 2026" in dates["fr"]
    assert "Dienstag, 1. Dezember 2026" in dates["de"]
    assert "martes 1 de diciembre de 2026" in dates["es"]
    assert "Tuesday 1 December 2026" in dates["en"]


def test_an_end_that_is_not_midnight_is_shown_as_that_clock_time_in_that_zone():
    # Given a zone whose clocks skip local midnight, so the day ends at 01:00 the next day
    end = datetime(2026, 11, 24, 1, 0, tzinfo=ZoneInfo("America/Santiago"))
    texts = {language: one_line(render(language, valid_until=end).text) for language in LANGUAGES}
    assert "until 01:00 on Tuesday 24 November 2026 (local time, time zone America/Santiago)" in texts["en"]
    assert "fino alle ore 01:00 di martedì 24 novembre 2026" in texts["it"]
    assert "bis Dienstag, 24. November 2026, 01:00 Uhr" in texts["de"]
    assert f"jusqu’au mardi 24 novembre 2026 à 1{NBSP}h{NBSP}00" in texts["fr"]
    assert "hasta la 01:00 del martes 24 de noviembre de 2026" in texts["es"]


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=date(2024, 1, 1), max_value=date(2037, 12, 31)), zone=st.sampled_from(ZONES))
def test_the_end_of_the_delivery_day_is_shown_in_local_time_with_the_zone_name(day, zone):
    tz = ZoneInfo(zone)
    valid_until = end_of_day(day, tz).astimezone(tz)
    text = one_line(render(delivery_date=day, valid_until=valid_until).text)
    assert f"{valid_until:%H:%M}" in text
    assert f"time zone {zone})" in text
    assert f"{day:%A} {day.day} {day:%B} {day.year}" in text
    if valid_until.time().hour == 0 and valid_until.time().minute == 0:
        before = valid_until.date() - timedelta(days=1)
        assert f"valid for the whole of {before:%A} {before.day} {before:%B} {before.year}" in text


def test_a_zone_without_a_key_is_named_by_its_offset():
    text = one_line(render(valid_until=datetime(2026, 11, 24, tzinfo=timezone(timedelta(hours=1)))).text)
    assert "time zone UTC+01:00" in text


# --- languages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("it-IT", "it"),
        ("it", "it"),
        ("de_CH", "de"),
        ("de-AT", "de"),
        ("DE", "de"),
        ("fr-CA", "fr"),
        ("es-MX", "es"),
        ("en-US", "en"),
        ("pt-BR", "en"),
        ("zh-Hant-TW", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_of_takes_the_primary_subtag_and_falls_back_to_english(locale, language):
    assert language_of(locale) == language


@pytest.mark.parametrize("locale", ["pt-BR", None, "xx"])
def test_an_unsupported_locale_gets_the_english_email(locale):
    assert render(locale=locale) == render("en")


def test_a_regional_locale_gets_its_language():
    assert render(locale="de-AT") == render("de")
    assert 'lang="de"' in render(locale="de_CH").html


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["48291", "4829130", "48291a", "４８２９１３", "", "482 913"])
def test_a_malformed_code_is_refused(code):
    with pytest.raises(ValueError):
        render(code=code)


def test_a_naive_end_of_validity_is_refused():
    with pytest.raises(ValueError):
        render(valid_until=datetime(2026, 11, 24))


def test_an_unknown_reason_is_refused():
    with pytest.raises(ValueError):
        render(reason="resent")


# --- MIME for SES ----------------------------------------------------------------------------------


def _code_template() -> dict[str, str]:
    from local.template import resources

    return resources("AWS::SES::Template")["CodeEmailTemplate"]["Properties"]["Template"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_ses_template_places_each_rendered_part_exactly_as_rendered(language):
    """SES renders the template with each recipient's data: what arrives must be what we rendered
    (the HTML not escaped a second time, the code in the bodies only)."""
    rendered = render(language, reason="rotated")
    data = {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
    template = _code_template()

    assert ses_render(template["SubjectPart"], data) == rendered.subject
    assert ses_render(template["TextPart"], data) == rendered.text
    assert ses_render(template["HtmlPart"], data) == rendered.html
    assert CODE not in rendered.subject and GROUPED not in rendered.subject
    assert f"    {CODE}" in rendered.text.splitlines() and GROUPED in rendered.html


# --- properties ------------------------------------------------------------------------------------


@given(code=SIX_DIGITS, language=st.sampled_from(LANGUAGES), reason=st.sampled_from(["issued", "rotated"]))
def test_any_code_is_in_the_body_and_never_in_the_subject(code, language, reason):
    rendered = render(language, code=code, reason=reason)
    grouped = f"{code[:3]} {code[3:]}"
    assert code not in rendered.subject and grouped not in rendered.subject
    assert f"    {code}" in rendered.text.splitlines()
    assert f">{grouped}</p>" in rendered.html
    assert code not in Page(rendered.html).find("title")[0].content


@given(
    code=SIX_DIGITS,
    prefix=st.text(max_size=10),
    suffix=st.text(max_size=10),
    grouped=st.booleans(),
    language=st.sampled_from(LANGUAGES),
)
def test_no_order_number_can_smuggle_the_code_into_the_subject(code, prefix, suffix, grouped, language):
    inner = f"{code[:3]}\n{code[3:]}" if grouped else code  # a line break is cleaned into a space
    rendered = render(language, code=code, order_id=prefix + inner + suffix)
    assert code not in rendered.subject
    assert f"{code[:3]} {code[3:]}" not in rendered.subject


# --- a delegate's own code -------------------------------------------------------------------------

# What a delegate must read, per language: that the recipient counts on them, and that the code is theirs alone.
DELEGATE_WORDING = {
    "it": ("Maria Rossi conta su di Lei", "Questo codice è personale"),
    "de": ("Maria Rossi hat Sie als Vertrauensperson benannt", "Dieser Code gilt nur für Sie"),
    "en": ("Maria Rossi has named you as a trusted person", "This code is yours alone"),
    "fr": ("Maria Rossi compte sur vous", "Ce code vous est personnel"),
    "es": ("Maria Rossi cuenta con usted", "Este código es personal"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_delegate_email_greets_the_delegate_and_says_who_counts_on_them(language):
    rendered = render(language, recipient_name="Luca Bianchi", delegate_of="Maria Rossi")
    counts_on, own_code = DELEGATE_WORDING[language]
    text = one_line(rendered.text)
    assert "Luca Bianchi" in text.split(counts_on)[0]  # the greeting names the delegate, first
    assert counts_on in text and own_code in text
    assert own_code in Page(rendered.html).visible_text and counts_on in Page(rendered.html).visible_text
    assert WORDING[language].trusted not in text  # not "pass it on to someone you trust": it is theirs
    assert WORDING[language].never_asked in text
    assert f"    {CODE}" in rendered.text.splitlines()
    (code,) = [element for element in Page(rendered.html).elements if "aria-label" in element.attrs]
    assert code.content == GROUPED and code.attrs["aria-label"] == WORDING[language].aria


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_delegate_email_keeps_the_code_and_the_order_out_of_the_subject(language):
    rendered = render(language, recipient_name="Luca Bianchi", delegate_of="Maria Rossi", order_id="A-1042")
    assert CODE not in rendered.subject and GROUPED not in rendered.subject
    assert WORDING[language].day in rendered.subject
    assert "A-1042" not in rendered.subject + rendered.text + rendered.html
    assert "IT-DEL-77" in rendered.text  # the delivery reference the courier may ask for


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_delegate_email_without_the_recipient_name_still_reads_whole(language):
    rendered = render(language, recipient_name=None, delegate_of="")
    text = one_line(rendered.text)
    assert WORDING[language].neutral in text and "{" not in text and "  " not in text
    assert DELEGATE_WORDING[language][1] in text


# --- the link to the holder's page -----------------------------------------------------------------

LINK = "https://shop.example/r/Zm9vYmFyYmF6cXV4cXV1eA"
# What each holder reads before the link, written here independently of the catalogs: the recipient's
# page lets them see, resend, move and replace; a delegate's lets them see their code or decline.
PAGE_WORDING = {
    "it": ("Nella pagina della Sua consegna può vedere il codice", "può vedere il Suo codice, oppure rinunciare"),
    "de": ("Auf der Seite Ihrer Zustellung können Sie Ihren Code ansehen", "Code ansehen oder absagen"),
    "en": ("On your delivery page you can see your code", "see your code, or decline"),
    "fr": ("Sur la page de votre livraison, vous pouvez afficher votre code", "ou vous désister"),
    "es": ("En la página de su entrega puede ver su código", "o renunciar si no puede recibir"),
}


def _links(page: Page) -> list[Element]:
    return page.find("a")


@pytest.mark.parametrize("delegate_of", [None, "Maria Rossi"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_text_part_gives_the_page_link_alone_on_its_line_after_a_sentence_saying_what_it_is(language, delegate_of):
    rendered = render(language, page_link=LINK, delegate_of=delegate_of)
    lines = rendered.text.splitlines()
    assert lines.count(LINK) == 1
    sentence = lines[lines.index(LINK) - 1]
    recipient_words, delegate_words = PAGE_WORDING[language]
    assert (delegate_words if delegate_of is not None else recipient_words) in sentence
    assert CODE not in sentence and f"    {CODE}" in lines  # the code stays in its own place, not by the link


@pytest.mark.parametrize("delegate_of", [None, "Maria Rossi"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_html_part_links_the_page_with_words_that_say_where_it_leads(language, delegate_of):
    rendered = render(language, page_link=LINK, delegate_of=delegate_of)
    page = Page(rendered.html)
    (link,) = _links(page)
    assert link.attrs["href"] == LINK
    words = one_line(link.content)
    assert words and CODE not in words and GROUPED not in words
    assert words.lower() not in {"click here", "here", LINK.lower()}
    recipient_words, delegate_words = PAGE_WORDING[language]
    assert (delegate_words if delegate_of is not None else recipient_words) in page.visible_text
    assert contrast_ratio(link.style["color"], "#ffffff") >= 7


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_page_link_with_markup_characters_stays_one_attribute(language):
    hostile = "https://shop.example/r/a\"b?x=1&y=<2>'c onmouseover=alert(1)".replace(" ", "%20")
    rendered = render(language, page_link=hostile)
    page = Page(rendered.html)
    (link,) = _links(page)
    assert link.attrs == {"href": hostile, "style": link.attrs["style"]}  # nothing leaked into other attributes
    assert "&amp;y=" in rendered.html and 'a"b' not in rendered.html and "<2>" not in rendered.html
    assert hostile in rendered.text.splitlines()  # the text part is not HTML: the address as it is


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_a_page_link_neither_part_mentions_the_page(language):
    rendered = render(language)
    recipient_words, _ = PAGE_WORDING[language]
    assert _links(Page(rendered.html)) == []
    assert "://" not in rendered.text and "href" not in rendered.html
    assert recipient_words not in rendered.text and recipient_words not in rendered.html


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "shop.example/r/abc", "https://shop.example/r/a b", "https://a.example/\nBcc: x"]
)
def test_a_page_link_that_is_not_one_web_address_is_refused(link):
    with pytest.raises(ValueError):
        render(page_link=link)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_ses_template_places_the_parts_with_a_page_link_exactly_as_rendered(language):
    rendered = render(language, page_link=LINK + "?a=1&b=2")
    template = _code_template()
    assert ses_render(template["TextPart"], {"text": rendered.text}) == rendered.text
    assert ses_render(template["HtmlPart"], {"html": rendered.html}) == rendered.html
