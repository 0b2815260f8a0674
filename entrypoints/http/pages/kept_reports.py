"""The Reports page (analysts and admins): the kept executive reports, downloadable with the session cookie.

/api/reports takes a bearer token, which a browser on the dashboards does not hold, so the files are served
again here, behind the pages' door: the same rule as the API's (``PAGES``, analyst and admin), the same quota
and a record in the access log per download. The bytes are the API's (``entrypoints.http.reports.kept_file``):
the kept artifact, never rendered again. The weekly, monthly and executive pages link to the kept report of
the period they show (``kept_link``).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, Final

import anyio.to_thread
from litestar import Request, Response, get
from litestar.response import Template

from application.reporting.scheduled_reports import REPORTS
from entrypoints.bootstrap import Container
from entrypoints.http.dependencies import Services
from entrypoints.http.pages.platform import page
from entrypoints.http.reports import FileFormat, PeriodPath, ReportPath, kept_file

__all__ = ["ROUTES", "kept_link"]

_FOR_CADENCE: Final[dict[str, str]] = {spec.cadence: name for name, spec in REPORTS.items()}
_FOR_CADENCE["executive"] = _FOR_CADENCE["month"]  # the executive summary page shows a month


def _href(report: str, period: str, format: str) -> str:
    return f"/reports/{report}/{period}?format={format}"


async def kept_link(container: Container, cadence: str, period: str) -> dict[str, str] | None:
    """The kept report of ``period`` (a week or a month label) with its download links, or None if none is."""
    report = _FOR_CADENCE.get(cadence)
    if report is None or not period:
        return None
    kept = await anyio.to_thread.run_sync(container.report_desk.listed, report)
    if not any(p == period for _, p, _, _ in kept):
        return None
    title = REPORTS[report].title
    return {
        "title": title,
        "period": period,
        "pdf": _href(report, period, "pdf"),
        "html": _href(report, period, "html"),
    }


@get("/reports", name="page_reports")
async def page_reports(request: Request[Any, Any, Any], container: Services) -> Template:
    """Every kept report, weekly then monthly, latest period first: name, period, when generated, the downloads."""
    kept = await anyio.to_thread.run_sync(container.report_desk.listed)
    order = list(REPORTS)
    kept.sort(key=lambda k: k[1], reverse=True)  # labels of one report sort as their periods do
    kept.sort(key=lambda k: order.index(k[0]) if k[0] in order else len(order))
    rows = [
        {
            "report": report,
            "title": REPORTS[report].title if report in REPORTS else report,
            "period": period,
            "generated_at": at.astimezone(UTC).isoformat(timespec="seconds"),
            "generated": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "pdf_kb": max(1, round(size / 1024)),
            "pdf": _href(report, period, "pdf"),
            "html": _href(report, period, "html"),
        }
        for report, period, at, size in kept
    ]
    return page(request, "reports", None, rows=rows, specs=list(REPORTS.values()))


@get("/reports/{report:str}/{period:str}", name="page_report_file")
async def page_report_file(
    container: Services, report: ReportPath, period: PeriodPath, format: FileFormat = "pdf"
) -> Response[bytes]:
    """One kept report as a download (``format``: pdf or html), the same bytes as /api/reports/{report}/{period}."""
    return await kept_file(container, report, period, format)


ROUTES: Final = (page_reports, page_report_file)
