"""``make screenshots``: each dashboard page, desktop (1280 px) and phone (390 px) wide, into docs/screenshots/.

Starts ``addvalue serve`` on SQLite with demo data in a temporary folder (tests/e2e/served.py), signs in with
``addvalue dashboard-link`` and drives Debian's chromium as the browser tests do (tests/e2e/browser.py).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from entrypoints.demo import demo_user_ids
from tests.e2e.browser import CHROMIUM, LAUNCH_FLAGS
from tests.e2e.served import Served, start_served

OUT = Path(__file__).parents[1] / "docs" / "screenshots"
PAGES = {
    "overview": "/",
    "flourish": "/flourish",
    "waves": "/waves",
    "retention": "/retention",
    "segments": "/segments",
    "weekly": "/weekly",
    "executive": "/executive",
    "reports": "/reports",
    "realtime": "/realtime",
    "pipeline": "/pipeline",
}
WIDTHS = {"desktop": 1280, "phone": 390}


def _link(service: Served, role: str, sub: str | None = None) -> str:
    args = [sys.executable, "-m", "entrypoints.cli", "dashboard-link", "--role", role, *(["--sub", sub] if sub else [])]
    done = subprocess.run(args, env=service.env, cwd=service.workdir, check=True, capture_output=True, text=True)
    return done.stdout.split()[-1]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as driver:
        demo = ("demo", "--users", "50", "--days", "14")
        quality = ("jobs", "run", "data-quality")  # a checked day for the pipeline page
        report = ("reports", "run", "weekly-executive")  # last week's, for the Reports page and the weekly link
        with start_served("sqlite", Path(folder), prepare=(demo, quality, report)) as service:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=list(LAUNCH_FLAGS))
            for kind, width in WIDTHS.items():
                page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
                page.goto(_link(service, "admin"))  # an admin sees the platform pages and pipeline health
                for name, path in PAGES.items():
                    page.goto(service.base_url + path)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=OUT / f"{name}-{kind}.png", full_page=True)
                page.context.clear_cookies()
                page.goto(_link(service, "user", str(demo_user_ids(50, 7)[0])))
                page.screenshot(path=OUT / f"me-{kind}.png", full_page=True)
                page.context.close()
            browser.close()
    print(f"wrote {len(list(OUT.glob('*.png')))} screenshots to {OUT}")


if __name__ == "__main__":
    main()
