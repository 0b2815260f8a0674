"""/api/exports: the aggregate datasets an analyst may download, streamed as CSV, Parquet or JSON.

The dataset and range are checked before the first byte is sent, so a bad request still gets the
envelope and its status; the rows are then read and encoded a chunk at a time in a worker thread
(Litestar iterates a plain iterator off the event loop), so memory stays flat whatever the range.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter, SkipValidation
from litestar.response import Stream

from adapters.exports.files import FORMATS, MEDIA_TYPES, Format, encode
from application.reporting.exports import DATASETS, Exports
from entrypoints.http import envelope, params
from entrypoints.http.dependencies import Reads
from entrypoints.http.envelope import ERRORS, Envelope
from entrypoints.http.params import From, To

__all__ = ["ROUTES"]

Exporter = SkipValidation[Exports]
FormatParam = Annotated[Format, QueryParameter(description=f"the file's format: {', '.join(FORMATS)}")]
DatasetPath = Annotated[str, PathParameter(description=f"one of: {', '.join(DATASETS)}")]
_FILE: Final = {
    200: ResponseSpec(
        data_container=bytes,
        media_type="text/csv",
        description="the file (text/csv, application/vnd.apache.parquet or application/json), streamed",
    )
}


@get("/exports", name="exports_list", responses=ERRORS)
async def exports_list(request: Request[Any, Any, Any]) -> Response[Envelope]:
    """Every dataset that can be exported, with its columns (type, unit, description)."""
    datasets = [
        {
            "name": d.name,
            "description": d.description,
            "formula_version": d.formula_version,
            "columns": [
                {"name": c.name, "type": c.type, "unit": c.unit, "description": c.description} for c in d.columns
            ],
        }
        for d in DATASETS.values()
    ]
    return envelope.live({"datasets": datasets, "formats": list(FORMATS)}, data_points=len(datasets))


@get("/exports/{dataset:str}", name="export_dataset", responses=ERRORS | _FILE)
async def export_dataset(
    *,
    analytics: Reads,
    exporter: Exporter,
    dataset: DatasetPath,
    from_: From = None,
    to: To = None,
    format: FormatParam = "csv",
) -> Stream:
    """A dataset's rows for [from, to] (default: the 30 days to yesterday): aggregates only, the minimum group
    size applied; at most 800 days."""
    first, last = params.day_range(from_, to, params.yesterday(analytics))
    chosen = exporter.check(dataset, first, last)
    name = f"{dataset}_{first.isoformat()}_{last.isoformat()}.{format}"
    return Stream(
        encode(chosen, exporter.rows(dataset, first, last), format, first, last),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


ROUTES: Final = (exports_list, export_dataset)
