"""Pictures of the pages, at a phone's size (390x844) and a desktop's (1280x800).

The browser tests take them on the way through their flows and check each is the size it claims; with
`SCREENSHOTS_DIR` set (`make screenshots` sets it to docs/img) they are kept there for the README.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

from selenium import webdriver

from tests.browser.conftest import DESKTOP, PHONE

KEEP = os.environ.get("SCREENSHOTS_DIR")
_OUT = Path(KEEP) if KEEP else Path(tempfile.mkdtemp(prefix="screens-"))


def _viewport(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600},
    )


def shoot(driver: webdriver.Chrome, name: str) -> list[Path]:
    """The page as it is now, at both sizes (the page is laid out again for each), then back to the phone."""
    taken = []
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        _viewport(driver, size)
        path = _OUT / f"{name}-{label}.png"
        driver.save_screenshot(str(path))
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == size, path
        taken.append(path)
    _viewport(driver, PHONE)
    return taken
