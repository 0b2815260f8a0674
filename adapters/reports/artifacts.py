"""The generated reports, one row per (report, period): SQLite ``addvalue.reports.db`` beside the event store,
PostgreSQL ``<schema>.report_artifacts``. Written once (a second insert of the same period changes nothing),
dropped after two years (application.reporting.scheduled_reports.KEEP_FOR).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from adapters.alerting.tables import Sql
from adapters.database_url import Database
from application.reporting.ports import ReportArtifact

__all__ = ["SqlReportArtifacts"]

_TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS {p}report_artifacts (report TEXT NOT NULL, period TEXT NOT NULL,"
    " generated_at TEXT NOT NULL, subject TEXT NOT NULL, html TEXT NOT NULL, pdf {blob} NOT NULL,"
    " figures TEXT NOT NULL, PRIMARY KEY (report, period))",
)


class SqlReportArtifacts:
    """``ReportArtifacts`` on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self._sql = Sql(db, sibling="reports", tables=_TABLES, what="report artifacts", lock="addvalue:report_tables")
        self._t = f"{self._sql.prefix}report_artifacts"

    def add(self, artifact: ReportArtifact) -> bool:
        a = artifact
        with self._sql.transaction() as db:
            rows = db.run(
                f"INSERT INTO {self._t} VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (report, period) DO NOTHING"
                " RETURNING period",
                (a.report, a.period, _stamp(a.generated_at), a.subject, a.html, a.pdf, a.figures),
            )
        return bool(rows)

    def get(self, report: str, period: str) -> ReportArtifact | None:
        with self._sql.transaction() as db:
            rows = db.run(
                f"SELECT report, period, generated_at, subject, html, pdf, figures FROM {self._t}"
                " WHERE report = ? AND period = ?",
                (report, period),
            )
        return _artifact(rows[0]) if rows else None

    def listed(self, report: str | None = None) -> list[tuple[str, str, datetime, int]]:
        where, params = ("WHERE report = ?", (report,)) if report else ("", ())
        with self._sql.transaction() as db:
            rows = db.run(
                f"SELECT report, period, generated_at, LENGTH(pdf) FROM {self._t} {where} ORDER BY period DESC, report",
                params,
            )
        return [(r, p, datetime.fromisoformat(at), int(size)) for r, p, at, size in rows]

    def purge(self, before: datetime) -> int:
        with self._sql.transaction() as db:
            rows = db.run(f"DELETE FROM {self._t} WHERE generated_at < ? RETURNING period", (_stamp(before),))
        return len(rows)

    def close(self) -> None:
        self._sql.close()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _artifact(row: tuple[Any, ...]) -> ReportArtifact:
    return ReportArtifact(
        report=row[0],
        period=row[1],
        generated_at=datetime.fromisoformat(row[2]),
        subject=row[3],
        html=row[4],
        pdf=bytes(row[5]),
        figures=row[6],
    )
