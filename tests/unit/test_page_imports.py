"""The recipient's page and the courier at the door share the layer, not their paths: the verify
function loads nothing of the page (templates, catalogs, links), and the page loads no verification."""

from __future__ import annotations

from tests.support.imports import modules_loaded_by

PAGE_MODULES = ("delivery_otp.recipient_page", "delivery_otp.links", "delivery_otp.wording", "jinja2")


def test_the_verify_function_loads_nothing_of_the_page():
    assert modules_loaded_by("verify", PAGE_MODULES) == set()


def test_the_page_function_loads_no_verification():
    loaded = modules_loaded_by("recipient_page", ("delivery_otp.",))
    assert "delivery_otp.recipient_page" in loaded and "delivery_otp.verification" not in loaded
