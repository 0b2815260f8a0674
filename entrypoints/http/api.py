"""The Analytics API (Litestar): metrics, dashboards, real time, privacy and audit, under /api.

Every request passes the same gate (``entrypoints.http.gate``); every answer, errors included, is the
seed's envelope (``entrypoints.http.envelope``); every request that reaches a route is written to the
tamper-evident access log before its answer leaves (``entrypoints.http.access_log``).
The routes are in one module per area; this one puts them under /api with what they share.
"""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from application.reporting.exports import Exports
from entrypoints.bootstrap import Container
from entrypoints.http import (
    admin_projections,
    alerts,
    audit,
    dashboards,
    exports,
    metrics,
    privacy,
    quality,
    realtime,
    reports,
)
from entrypoints.http.access_log import AccessLogMiddleware
from entrypoints.http.auth import VerifiedTokens
from entrypoints.http.dependencies import provided
from entrypoints.http.document import BEARER
from entrypoints.http.errors import enveloped_errors
from entrypoints.http.gate import Gate, admitted_person, admitted_principal
from entrypoints.http.socket_gate import SocketGate

__all__ = ["api_router"]


def api_router(container: Container, tokens: VerifiedTokens, gate: Gate, access_log: AccessLogMiddleware) -> Router:
    """Every /api route, behind the gate and ``access_log`` (the app closes it at shutdown), answering errors in
    the envelope."""
    return Router(
        "/api",
        route_handlers=[
            *metrics.ROUTES,
            *privacy.ROUTES,
            *dashboards.ROUTES,
            *realtime.ROUTES,
            *audit.ROUTES,
            *admin_projections.ROUTES,
            *quality.ROUTES,
            *alerts.ROUTES,
            *exports.ROUTES,
            *reports.ROUTES,
        ],
        dependencies={
            "analytics": provided(container.analytics),
            "aggregate": provided(dashboards.Aggregates()),
            "exporter": provided(Exports(container.analytics, container.quality)),
            "feed": provided(realtime.LiveFeed(container.analytics)),
            "door": provided(SocketGate(container, tokens)),
            "principal": Provide(admitted_principal, sync_to_thread=False),
            "person": Provide(admitted_person, sync_to_thread=False),
        },
        middleware=[access_log],
        guards=[gate.guard],
        security=[{BEARER: []}],
        exception_handlers=enveloped_errors(),
        tags=["analytics"],
    )
