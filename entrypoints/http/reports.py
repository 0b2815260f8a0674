"""/api/reports: the executive reports and the generated ones, downloadable as the e-mail (HTML) or the PDF.

A report is generated once per period by its job (docs/reports.md) and kept two years; these routes read
the kept artifact, never render again (analyst, admin).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import anyio.to_thread
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST

from application.errors import BadQuery, NotFound
from application.reporting.scheduled_reports import REPORTS
from domain.periods import PeriodError, parse_period
from entrypoints.bootstrap import Container
from entrypoints.http import envelope
from entrypoints.http.dependencies import Services
from entrypoints.http.document import PDF_OR_HTML
from entrypoints.http.envelope import ERRORS, Envelope
from entrypoints.http.errors import ApiError

__all__ = ["ROUTES", "FileFormat", "PeriodPath", "ReportPath", "kept_file"]

ReportPath = Annotated[str, PathParameter(description=f"one of: {', '.join(REPORTS)}")]
PeriodPath = Annotated[
    str, PathParameter(description="the week (2026-W48) or month (2026-11) the report covers, or a date in it")
]
FileFormat = Annotated[Literal["pdf", "html"], QueryParameter(description="pdf (the attachment) or html (the e-mail)")]
_MEDIA: Final = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}
_FILE: Final = {
    200: ResponseSpec(data_container=bytes, media_type="application/pdf", description="the PDF, or the HTML e-mail")
}


@get("/reports", name="reports_list", responses=ERRORS)
async def reports_list(container: Services) -> Response[Envelope]:
    """The executive reports (schedule in the reporting time zone, period, contents) and every generated one."""
    kept = await anyio.to_thread.run_sync(container.report_desk.listed)
    reports = [
        {
            "name": s.name,
            "schedule": s.schedule,
            "time_zone": container.settings.reporting_timezone,
            "period": s.cadence,
            "description": s.description,
        }
        for s in REPORTS.values()
    ]
    generated = [
        {
            "report": report,
            "period": period,
            "generated_at": at.isoformat(),
            "pdf_bytes": size,
            "pdf": f"/api/reports/{report}/{period}?format=pdf",
            "html": f"/api/reports/{report}/{period}?format=html",
        }
        for report, period, at, size in kept
    ]
    return envelope.live({"reports": reports, "generated": generated}, data_points=len(generated))


@get("/reports/{report:str}/{period:str}", name="report_file", responses=ERRORS | _FILE, operation_class=PDF_OR_HTML)
async def report_file(
    container: Services, report: ReportPath, period: PeriodPath, format: FileFormat = "pdf"
) -> Response[bytes]:
    """A generated report of one period, as kept: the PDF or the HTML e-mail."""
    return await kept_file(container, report, period, format)


async def kept_file(container: Container, report: str, period: str, format: str) -> Response[bytes]:
    """The kept file of ``report`` for ``period`` as a download; the API's route and the Reports page share it."""
    if format not in _MEDIA:  # Litestar leaves an annotated Literal unchecked
        raise ApiError(HTTP_400_BAD_REQUEST, "bad_parameter", "format: expected pdf or html")
    if report not in REPORTS:
        raise NotFound(f"no report is called {report!r}; there are: {', '.join(REPORTS)}")
    try:
        label = parse_period(REPORTS[report].cadence, period)
    except PeriodError as e:
        raise BadQuery(f"period: {e}") from None
    artifact = await anyio.to_thread.run_sync(container.report_desk.get, report, label)
    body = artifact.pdf if format == "pdf" else artifact.html.encode()
    name = f"{report}-{label}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, max-age=300"}
    return Response(body, media_type=_MEDIA[format], headers=headers)


ROUTES: Final = (reports_list, report_file)
