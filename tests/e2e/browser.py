"""A real browser for the dashboards' tests: Debian's chromium driven by Playwright for Python.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``apt-get install chromium``; .ci/run
installs it when missing), and the Playwright release is pinned to the one made for that Chromium major
(docs/dashboards.md). The flags keep Chromium from reaching out to the network on its own. One browser is
started per test module (``browser`` fixture), and each test gets a fresh context (no shared cookies).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Final

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

__all__ = ["CHROMIUM", "LAUNCH_FLAGS", "browser"]

CHROMIUM: Final = "/usr/bin/chromium"
LAUNCH_FLAGS: Final = (
    "--no-sandbox",  # the suite runs as root, where Chromium's sandbox refuses to start
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--no-first-run",
    "--no-pings",
    "--disable-dev-shm-usage",
)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium, once per test module."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (as .ci/run does)")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=list(LAUNCH_FLAGS), headless=True)
    yield launched
    launched.close()
