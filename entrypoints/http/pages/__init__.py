"""The dashboards in the browser: server-rendered pages (Jinja, through Litestar's template support).

``signing``: sign-in by link or token, sign-out. ``platform`` and ``summaries``: the analysts' pages;
``kept_reports``: the kept executive reports to download.
``pipeline``: pipeline health, for admins. ``me``: a person's own
transparency page. ``door``: the session cookie and the gate every page passes. ``static/``: our one
script and stylesheet, and vendored uPlot (scripts/fetch_vendor.sh). docs/dashboards.md describes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from entrypoints.bootstrap import Container
from entrypoints.http.access_log import AccessLogMiddleware
from entrypoints.http.dashboards import Aggregates
from entrypoints.http.dependencies import provided
from entrypoints.http.gate import Gate
from entrypoints.http.pages import kept_reports, me, pipeline, platform, signing, summaries
from entrypoints.http.pages.door import PageDoor, page_errors

__all__ = ["is_page", "page_routes", "template_config"]

_HERE: Final = Path(__file__).parent
_PAGE_PREFIXES: Final = (
    "/sign-in",
    "/sign-out",
    "/me",
    "/static/",
    "/flourish",
    "/add-value",
    "/waves",
    "/retention",
    "/realtime",
    "/segments",
    "/weekly",
    "/monthly",
    "/executive",
    "/pipeline",
    "/reports",
)


def is_page(path: str) -> bool:
    """Whether ``path`` is one of the dashboards' (it gets the pages' CSP, not the API's)."""
    return path == "/" or path.startswith(_PAGE_PREFIXES)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=_HERE / "templates", engine=JinjaTemplateEngine)


def page_routes(container: Container, gate: Gate, access_log: AccessLogMiddleware) -> list[ControllerRouterHandler]:
    """Sign-in and sign-out (no session needed), the pages behind the door (logged by ``access_log``, which the app
    closes at shutdown), and the static files."""
    door = PageDoor(container.sign_in, gate, container.settings.trusted_proxies)
    errors = page_errors()
    return [
        Router("/", route_handlers=list(signing.ROUTES), exception_handlers=errors, include_in_schema=False),
        Router(
            "/",
            route_handlers=[*platform.ROUTES, *summaries.ROUTES, *kept_reports.ROUTES, *pipeline.ROUTES, *me.ROUTES],
            dependencies={
                "analytics": provided(container.analytics),
                "aggregate": provided(Aggregates()),
            },
            guards=[door.guard],
            middleware=[access_log],
            exception_handlers=errors,
            include_in_schema=False,
        ),
        create_static_files_router("/static", directories=[_HERE / "static"], include_in_schema=False),
    ]
