"""What ``addvalue serve --print-token`` shows a newcomer beyond the service token: a way into the /api
routes (an analyst token) and a request that answers with data at once (a demo day's platform summary)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from application.errors import NotFound
from application.principals import Role
from entrypoints.bootstrap import Container

__all__ = ["dashboard_sign_in_url", "print_analyst_start"]

# How far back to look for a closed day: `addvalue demo` closes at most 30 past days.
_LOOK_BACK_DAYS: Final = 31


def print_analyst_start(container: Container, url: str) -> None:
    """An analyst token (the service token is for ingestion: every /api route answers it 403) and the curl of
    the newest closed day's platform summary."""
    print("The dashboards, signed in as an analyst (open within 10 minutes, once):")
    print(f"  {dashboard_sign_in_url(container, 'analyst', None)}\n")
    token = container.tokens.mint("demo-analyst", "analyst")
    print("An analyst token, for the dashboards and metrics under /api, valid 12 hours:")
    print(f"  export ANALYST_TOKEN={token}\n")
    day = _newest_closed_day(container)
    if day is None:
        print("No day is closed yet (`addvalue demo` loads and closes 14 past days).\n")
        return
    print(f"The platform summary of {day.isoformat()}:")
    summary = f"{url}/api/metrics/platform-summary?date={day.isoformat()}"
    print(f'  curl -H "Authorization: Bearer $ANALYST_TOKEN" "{summary}"\n')


def _newest_closed_day(container: Container) -> date | None:
    yesterday = container.analytics.today() - timedelta(days=1)
    for back in range(_LOOK_BACK_DAYS):
        day = yesterday - timedelta(days=back)
        try:
            container.analytics.platform_summary(day)
        except NotFound:
            continue
        return day
    return None


def dashboard_sign_in_url(container: Container, role: Role, subject: str | None) -> str:
    """A one-time sign-in link (entrypoints/http/pages) on this service's address."""
    settings = container.settings
    link = container.sign_in.link_for(role, subject or f"dashboard-{role}")
    return f"http://{settings.host}:{settings.port}/sign-in/link/{link}"
