"""The HTTP interface (Litestar): the app factory, and one worker of ``addvalue serve --workers N``.

The routes are in one module per area: ingest.py (``/v1/events``), sources.py (the Segment routes),
health.py, and api.py (``/api``: metrics, dashboards, real time, privacy, audit). errors.py answers
every failed request.
"""

from __future__ import annotations

import os
from typing import Final

from litestar import Litestar
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components

from entrypoints.bootstrap import Container, bootstrap
from entrypoints.error_tracking import start_error_tracking
from entrypoints.http import health
from entrypoints.http.access_log import AccessLogMiddleware
from entrypoints.http.api import api_router
from entrypoints.http.auth import VerifiedTokens
from entrypoints.http.bodies import StrictBody
from entrypoints.http.cors import Cors
from entrypoints.http.dependencies import provided
from entrypoints.http.document import SECURITY_SCHEMES
from entrypoints.http.errors import plain_errors
from entrypoints.http.gate import Gate
from entrypoints.http.guard import IngestGuard
from entrypoints.http.ingest import MAX_BATCH_BYTES, TOO_LARGE, ingest_events
from entrypoints.http.observability import RequestTimer, metrics_page
from entrypoints.http.pages import is_page, page_routes, template_config
from entrypoints.http.security_headers import SecurityHeaders
from entrypoints.http.sources import segment_router
from entrypoints.logging import configure_logging
from entrypoints.runtime import started, tune_for_serving
from entrypoints.scheduler import scheduler_for
from entrypoints.settings import Settings, load_settings

__all__ = ["app_from_environment", "create_app"]

# Pinned, so the page loads the same bundle the CSP and docs/security.md describe.
_SWAGGER_UI_VERSION: Final = "5.18.2"


def create_app(container: Container, *, run_jobs: bool = True) -> Litestar:
    """The service's HTTP app; ``run_jobs`` also starts the scheduled projection jobs."""
    settings = container.settings
    run_jobs = run_jobs and settings.serve_projections
    # A device sends many batches with one token: verified once, then kept (never past exp; 60 s for JWKS keys).
    tokens = VerifiedTokens(container.tokens.verify, valid_until_expiry=container.tokens.valid_until_expiry)
    guard = IngestGuard(
        trusted_proxies=settings.trusted_proxies,
        per_user=settings.rate_limit_user,
        per_network=settings.rate_limit_network,
        quarantine_per_sender=settings.quarantine_limit_sender,
    )
    scheduler = scheduler_for(container)
    gate = Gate(container, tokens)  # one gate, one quota and one refusal count for /api and the pages
    access_logs = (AccessLogMiddleware(container), AccessLogMiddleware(container, prefix=""))  # /api, the pages
    return Litestar(
        route_handlers=[
            ingest_events,
            metrics_page,
            *health.ROUTES,
            segment_router(),
            api_router(container, tokens, gate, access_logs[0]),
            *page_routes(container, gate, access_logs[1]),
        ],
        middleware=[RequestTimer(container)],
        template_config=template_config(),
        dependencies={"container": provided(container), "tokens": provided(tokens), "guard": provided(guard)},
        on_startup=[container.group_commit.start, *([scheduler.start] if run_jobs else [])],
        # The access logs' last refusal counts are written while the store is still open (container.close
        # comes after these, where the caller adds it).
        on_shutdown=[
            *([scheduler.stop] if run_jobs else []),
            container.group_commit.stop,
            *(access_log.close for access_log in access_logs),
        ],
        request_max_body_size=MAX_BATCH_BYTES,
        dto=StrictBody,  # every data: body decoded strictly, in one place (entrypoints/http/bodies.py)
        return_dto=None,
        exception_handlers=plain_errors(too_large=TOO_LARGE),
        debug=False,
        before_send=[
            SecurityHeaders(
                trusted_proxies=settings.trusted_proxies, docs_paths=_docs_paths(settings), is_page=is_page
            ),
            Cors(settings.cors_origins),
        ],
        openapi_config=OpenAPIConfig(
            title="AddValue Analytics",
            version="1",
            components=Components(security_schemes=dict(SECURITY_SCHEMES)),
            render_plugins=_openapi_pages(settings),
        ),
    )


def _openapi_pages(settings: Settings) -> list[OpenAPIRenderPlugin]:
    """The JSON document always; the Swagger UI page only when ADDVALUE_API_DOCS=true.

    Every docs page Litestar ships loads its scripts from a public CDN without integrity
    hashes, so a compromised CDN would run its code on the page where an operator pastes
    a token: off unless asked for. The JSON document is listed first, so it also answers
    at ``/schema``.
    """
    pages: list[OpenAPIRenderPlugin] = [JsonRenderPlugin()]
    if settings.api_docs:
        pages.append(SwaggerRenderPlugin(version=_SWAGGER_UI_VERSION))
    return pages


def _docs_paths(settings: Settings) -> frozenset[str]:
    return frozenset({"/schema/swagger"}) if settings.api_docs else frozenset()


def app_from_environment() -> Litestar:
    """One worker of ``addvalue serve --workers N``: its own container, from the environment's settings."""
    configure_logging(os.environ.get("ADDVALUE_LOG_LEVEL", "info"))
    tune_for_serving()  # as in a single-process serve
    settings = load_settings()
    start_error_tracking(settings.error_tracking, process="serve")
    container = bootstrap(settings)
    started()
    app = create_app(container)
    app.on_shutdown.append(container.close)
    return app
