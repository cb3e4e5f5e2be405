"""The browser tier's own tools work: Chromium opens a page and axe-core judges it."""

from __future__ import annotations

import pytest

from tests.browser.conftest import axe_violations

pytestmark = pytest.mark.xdist_group("browser")


def test_axe_finds_an_unlabelled_field_and_passes_a_labelled_one(browser):
    browser.get("data:text/html,<html lang=en><title>t</title><main><input id=x></main></html>")
    assert any(v["id"] == "label" for v in axe_violations(browser))
    browser.get(
        "data:text/html,<html lang=en><title>t</title><main><label for=x>Code</label><input id=x></main></html>"
    )
    assert axe_violations(browser) == []
