"""Who may call what: the policy table of the Analytics API, in one place (docs/security.md shows it).

- ``user``: only their own per-person metrics (the ``user_id`` asked about
  must be the token's subject);
- ``analyst``: aggregates only, never one person's figures;
- ``admin``: everything;
- ``auditor``: the access log and history replay, read-only;
- ``service``: ingestion only (no route here).

A test walks every route x role x own/other user against this table, and
another checks that the table in docs/security.md says the same.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

import msgspec

from application.principals import Principal, Role

__all__ = ["PAGES", "POLICY", "Decision", "Rule", "decide", "rule_of"]


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """``roles`` may call the route; those in ``own_only`` only about themselves."""

    roles: frozenset[Role]
    own_only: frozenset[Role] = frozenset()


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    allowed: bool
    reason: str = ""


_PERSONAL: Final = Rule(roles=frozenset({"user", "admin"}), own_only=frozenset({"user"}))
_AGGREGATE: Final = Rule(roles=frozenset({"analyst", "admin"}))
_AUDIT: Final = Rule(roles=frozenset({"auditor", "admin"}))
_ADMIN: Final = Rule(roles=frozenset({"admin"}))

# Route name -> rule. Route names are the handlers' names in the area modules of
# entrypoints/http/ (metrics.py, dashboards.py, realtime.py, privacy.py, audit.py, alerts.py).
POLICY: Final[dict[str, Rule]] = {
    "flourish_index": _PERSONAL,
    "add_value_index": _PERSONAL,
    "user_activity": _PERSONAL,
    "user_consent": _PERSONAL,
    "user_consent_change": _PERSONAL,
    "user_consent_history": _PERSONAL,
    "user_export": _PERSONAL,
    "user_erase": _PERSONAL,
    "platform_summary": _AGGREGATE,
    "hourly_activity": _AGGREGATE,
    "exports_list": _AGGREGATE,
    "export_dataset": _AGGREGATE,
    "reports_list": _AGGREGATE,
    "report_file": _AGGREGATE,
    "dashboard_flourish": _AGGREGATE,
    "dashboard_add_value": _AGGREGATE,
    "dashboard_wave_participation": _AGGREGATE,
    "dashboard_executive_summary": _AGGREGATE,
    "dashboard_active_people": _AGGREGATE,
    "dashboard_anomalies": _AGGREGATE,
    "dashboard_retention": _AGGREGATE,
    "dashboard_segments": _AGGREGATE,
    "dashboard_weekly": _AGGREGATE,
    "dashboard_monthly": _AGGREGATE,
    "realtime_dau": _AGGREGATE,
    "realtime_active_sessions": _AGGREGATE,
    "realtime_live_waves": _AGGREGATE,
    "realtime_metrics": _AGGREGATE,
    "quality_day": _AGGREGATE,
    "quality_series": _AGGREGATE,
    "audit_access_log": _AUDIT,
    "audit_user_history": _AUDIT,
    "audit_stream": _AUDIT,
    "admin_projections": _ADMIN,
    "admin_projection_rebuild": _ADMIN,
    "admin_projections_rebuild_all": _ADMIN,
    "admin_projection_rebuild_status": _ADMIN,
    "alerts_list": _AGGREGATE,
    "alerts_silence": _ADMIN,
    "alerts_unsilence": _ADMIN,
}


# The dashboards' pages (entrypoints/http/pages), by handler name: the platform pages show the same
# aggregates as the routes above; ``/me`` is a person's own page, and no one else's.
_PLATFORM_PAGE: Final = Rule(roles=frozenset({"analyst", "admin"}))
PAGES: Final[dict[str, Rule]] = {
    "page_overview": _PLATFORM_PAGE,
    "page_flourish": _PLATFORM_PAGE,
    "page_add_value": _PLATFORM_PAGE,
    "page_waves": _PLATFORM_PAGE,
    "page_retention": _PLATFORM_PAGE,
    "page_realtime": _PLATFORM_PAGE,
    "page_segments": _PLATFORM_PAGE,
    "page_weekly": _PLATFORM_PAGE,
    "page_monthly": _PLATFORM_PAGE,
    "page_executive": _PLATFORM_PAGE,
    # The kept reports, served with the session cookie: the rules of /api/reports, whatever they become.
    "page_reports": POLICY["reports_list"],
    "page_report_file": POLICY["report_file"],
    # Pipeline health: the service's own state, for those who run it (there is no operator role: admins).
    "page_pipeline": Rule(roles=frozenset({"admin"})),
    "page_me": Rule(roles=frozenset({"user"}), own_only=frozenset({"user"})),
    "page_me_consent": Rule(roles=frozenset({"user"}), own_only=frozenset({"user"})),
    "page_me_export": Rule(roles=frozenset({"user"}), own_only=frozenset({"user"})),
    "page_me_erase": Rule(roles=frozenset({"user"}), own_only=frozenset({"user"})),
}


# A route missing from the table is refused to everyone: a lookup error would answer 500, a default rule
# could let someone in by mistake. (A test checks every served route has a rule.)
_NOBODY: Final = Rule(roles=frozenset())


def rule_of(route: str, table: dict[str, Rule] = POLICY) -> Rule:
    """The rule of ``route`` in ``table`` (POLICY or PAGES); one no role satisfies when the table does not name it."""
    return table.get(route, _NOBODY)


def decide(route: str, principal: Principal, about: UUID | None = None, *, table: dict[str, Rule] = POLICY) -> Decision:
    """May ``principal`` call ``route`` (about the app user ``about``, for per-person routes)?"""
    rule = rule_of(route, table)
    if not rule.roles:
        return Decision(allowed=False, reason="this route is not in the access policy")
    if principal.role not in rule.roles:
        allowed = ", ".join(sorted(rule.roles))
        return Decision(allowed=False, reason=f"role '{principal.role}' may not call this; it needs one of: {allowed}")
    if principal.role in rule.own_only and (about is None or principal.subject_uuid() != about):
        return Decision(allowed=False, reason="a user may only read their own metrics")
    return Decision(allowed=True)
