"""/api/audit: the access log, and the history of any person or stream, for auditors."""

from __future__ import annotations

from typing import Final

import anyio.to_thread
import msgspec
from litestar import Response, get
from litestar.status_codes import HTTP_404_NOT_FOUND

from entrypoints.http import envelope, params
from entrypoints.http.dependencies import Person, Services
from entrypoints.http.envelope import ERRORS, Envelope
from entrypoints.http.errors import ApiError

__all__ = ["ROUTES"]

_NO_SUBJECT: Final = (
    "no data is held for this user (never seen, or erased: replay an erased person by the "
    "subject id of their erasure receipt, GET /api/audit/streams/{subject_id})"
)


@get("/audit/access-log", name="audit_access_log", responses=ERRORS)
async def audit_access_log(
    container: Services, after: params.After = 0, limit: params.Limit = 100
) -> Response[Envelope]:
    """Access records after sequence number ``after``, oldest first (at most ``limit``)."""
    records = await anyio.to_thread.run_sync(container.access_log.page, after, limit)
    return envelope.live({"records": msgspec.to_builtins(records)}, data_points=len(records))


@get("/audit/users/{user_id:str}/history", name="audit_user_history", responses=ERRORS)
async def audit_user_history(
    container: Services,
    person: Person,
    user_id: params.PersonIdPath,
    after: params.After = 0,
    limit: params.Limit = 100,
) -> Response[Envelope]:
    """One person's event history, decrypted (redacted after erasure), from log position ``after``."""
    subject = await anyio.to_thread.run_sync(container.subjects.subject_for, person)
    if subject is None:
        raise ApiError(HTTP_404_NOT_FOUND, "not_found", _NO_SUBJECT)
    entries = await anyio.to_thread.run_sync(
        lambda: container.history.page_of_subject(subject, after=after, limit=limit)
    )
    return envelope.live({"subject_id": str(subject), "events": msgspec.to_builtins(entries)}, data_points=len(entries))


@get("/audit/streams/{stream_id:str}", name="audit_stream", responses=ERRORS)
async def audit_stream(container: Services, stream_id: params.StreamIdPath) -> Response[Envelope]:
    """Any aggregate's history with versions (decrypted, or redacted when its key is gone)."""
    stream = params.uuid("stream_id", stream_id)
    entries = await anyio.to_thread.run_sync(container.history.of_stream, stream)
    if not entries:
        raise ApiError(HTTP_404_NOT_FOUND, "not_found", "no stream has this id")
    return envelope.live({"stream_id": str(stream), "events": msgspec.to_builtins(entries)}, data_points=len(entries))


ROUTES: Final = (audit_access_log, audit_user_history, audit_stream)
