"""An executive report's rendering: the e-mail is valid HTML with inline styles only, the PDF holds every
section and each of its pages renders (pdftoppm, from Debian's poppler-utils, which .ci/run installs)."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pypdf
import pytest
from tinyhtml5.parser import HTMLParser

from adapters.reports.render import WeasyRenderer, number
from application.reporting.executive import ReportContent, Tile

_LAST = date(2026, 3, 1)


@pytest.fixture(scope="module")
def content() -> ReportContent:
    days = [_LAST - timedelta(days=k) for k in range(55, -1, -1)]
    return ReportContent(
        report="weekly-executive",
        title="Weekly executive report",
        period="2026-W09",
        previous_period="2026-W08",
        first=date(2026, 2, 23),
        last=_LAST,
        zone="Europe/Berlin",
        tiles=[
            Tile(key="wau", label="Weekly active people", value=1234, previous=1100, unit="people"),
            Tile(key="flourish_mean", label="Mean Flourish Index", value=61.26, previous=60.0, unit="index"),
            Tile(key="churn_percent", label="Churn (last month)", value=None, previous=4.0, unit="percent"),
        ],
        dau=[(d, 400 + 3 * k) for k, d in enumerate(days)],
        forecast=[(_LAST + timedelta(days=k), 570.0, 540.0, 600.0) for k in range(1, 15)],
        indices=[
            {"index": "flourish", "people": 300, "mean": 61.26, "p25": 50.0, "median": 62.0, "p75": 71.0},
            {"index": "add_value", "people": 3, "mean": None, "p25": None, "median": None, "p75": None},
        ],
        waves={"waves_joined": 77, "wave_seconds": 3600},
        wave_days=[(d, 10 + k % 3) for k, d in enumerate(days[-7:])],
        cohorts_week="2026-W09",
        cohorts=[{"cohort": "2026-W08", "size": 40, "active_by_week": [40, 22]}],
        quality={"completeness": 99.5, "accuracy": 100.0, "timeliness": None, "consistency": 97.25},
        quality_days=7,
        alerts=[("<b>High Error Rate</b>", datetime(2026, 2, 25, 13, 5, tzinfo=UTC))],
        anomalies=[
            {"date": "2026-02-24", "metric": "dau", "direction": "spike", "value": 900}
            | {"expected": 500.0, "low": 450.0, "high": 550.0, "size": 9.1}
        ],
    )


@pytest.fixture(scope="module")
def rendered(content: ReportContent) -> tuple[str, str, bytes]:
    return WeasyRenderer().render(content)


def test_the_email_is_valid_html_styled_inline_and_escapes_what_it_shows(rendered: tuple[str, str, bytes]) -> None:
    subject, html, _ = rendered
    assert subject == "Weekly executive report: 2026-W09"
    parser = HTMLParser()
    parser.parse(html)
    assert parser.errors == []
    for refused in ("<style", "<link", "<script", "<svg", "<b>"):
        assert refused not in html  # mail clients drop style sheets and scripts; SVG is in the PDF
    assert "&lt;b&gt;High Error Rate&lt;/b&gt;" in html
    assert "1234" in html
    assert "61.3" in html
    assert "n/a" in html  # the churn, withheld or not computed


def test_the_pdf_holds_every_section_and_each_page_renders(rendered: tuple[str, str, bytes], tmp_path: Path) -> None:
    pdf = rendered[2]
    assert pdf.startswith(b"%PDF")
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    text = "\n".join(page.extract_text() for page in pages)
    for shown in ("Weekly active", "1234", "+12.2 %", "61.3", "+1.3 pts", "Data quality", "Metric anomalies", "spike"):
        assert shown in text, shown
    assert "Daily active people, with the 14-day forecast band" in text  # the chart's title, drawn in SVG
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", "report.pdf", "page"], cwd=tmp_path, check=True)
    images = sorted(tmp_path.glob("page*.png"))
    assert len(images) == len(pages)
    assert all(image.stat().st_size > 1000 for image in images)


def test_figures_are_printed_whole_for_people_and_to_a_decimal_otherwise() -> None:
    assert [number(None), number(12.0), number(12.5), number(61.26, "index"), number(4.04, "percent")] == [
        "n/a",
        "12",
        "12.5",
        "61.3",
        "4.0 %",
    ]
