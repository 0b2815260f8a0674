"""docs/security.md's policy table says what the code enforces: the same routes, the same roles."""

from __future__ import annotations

import re
from pathlib import Path

from application.api_access.policy import POLICY
from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app

DOC = Path(__file__).parents[2] / "docs" / "security.md"
ROLES = ("user", "analyst", "admin", "auditor", "service")
ROW = re.compile(r"^\| `(GET|POST|PUT|DELETE|WebSocket) (/api/[^`]+)` \| (.+) \|$")


def documented() -> dict[tuple[str, str], tuple[str, ...]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        if match := ROW.match(line):
            rows[(match[1], match[2])] = tuple(cell.strip() for cell in match[3].split("|"))
    return rows


def test_every_api_route_is_in_the_policy_table_with_the_access_it_has(container: Container) -> None:
    app = create_app(container, run_jobs=False)
    enforced = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", None) or [route.route_handler]:  # type: ignore[attr-defined]
            if not route.path.startswith("/api") or handler.handler_name == "options_handler":
                continue
            rule = POLICY[handler.handler_name]  # a route with no rule fails here
            methods = sorted(getattr(handler, "http_methods", None) or {"WebSocket"})
            enforced[(methods[0], route.path)] = tuple(
                "own" if role in rule.own_only else "yes" if role in rule.roles else "no" for role in ROLES
            )
    assert len(enforced) == len(POLICY)
    assert documented() == enforced
