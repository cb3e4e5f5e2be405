"""The browser tier: Debian's Chromium, headless, driven through its ChromeDriver by Selenium.

`make test` installs both where they are missing (`make browser`); a machine without them fails these
tests rather than skipping them, so a green run always means the pages were really opened.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import axe_selenium_python
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

PHONE = (390, 844)
DESKTOP = (1280, 800)
AXE_SCRIPT = Path(axe_selenium_python.__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
# Serious or critical: what keeps someone from using a page at all (no label, no contrast, no name).
BLOCKING_IMPACTS = {"serious", "critical"}


def _executable(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make browser` (Debian: apt-get install chromium chromium-driver)")
    return found


def new_browser(size: tuple[int, int] = PHONE, language: str = "en") -> webdriver.Chrome:
    """A fresh headless Chromium with an empty profile; the flags keep it off the network it cannot reach."""
    options = webdriver.ChromeOptions()
    options.binary_location = _executable("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",
        f"--window-size={size[0]},{size[1]}",
        f"--lang={language}",
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    driver = webdriver.Chrome(options=options, service=Service(_executable("chromedriver")))
    driver.set_page_load_timeout(30)
    # Headless Chromium keeps its window at least 500 px wide: a phone's viewport is emulated instead.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600},
    )
    return driver


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver = new_browser()
    yield driver
    driver.quit()


def axe_violations(driver: webdriver.Chrome) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now (the packaged copy, no network)."""
    driver.execute_script(AXE_SCRIPT.read_text())
    result = driver.execute_async_script("const done = arguments[arguments.length - 1]; axe.run().then(done);")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]


def wait_for(driver: webdriver.Chrome, condition, timeout: float = 30):
    """Waits on the page's own state (never a fixed time) until `condition(driver)` holds."""
    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def tab_to(driver: webdriver.Chrome, element_id: str):
    """Moves the focus with TAB alone until it rests on `element_id`; the focused element."""
    for _ in range(40):
        active = driver.switch_to.active_element
        if active.get_attribute("id") == element_id:
            return active
        active.send_keys(Keys.TAB)
    raise AssertionError(f"TAB never reached #{element_id}")
