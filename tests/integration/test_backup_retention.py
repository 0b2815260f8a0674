"""The ``backup`` job writes a backup per run and deletes those past ADDVALUE_BACKUP_RETENTION_DAYS (issue 14).

The service's clock is injected and moved on by weeks; SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from entrypoints.bootstrap import Overrides, bootstrap
from entrypoints.settings import Settings
from tests.fakes import FixedClock


def test_each_run_writes_a_backup_and_deletes_those_older_than_the_retention_only(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    chosen = msgspec.structs.replace(
        settings, archive_dir=tmp_path / "archive", backup_dir=folder, backup_retention_days=90
    )
    (folder / "operator-notes").mkdir(parents=True)  # not the job's: never deleted
    clock = FixedClock(datetime.now(UTC))
    seen: list[list[str]] = []
    rows = []
    with bootstrap(chosen, overrides=Overrides(clock=clock)) as container:
        for days in (0, 50, 45):  # day 0, day 50, day 95: day 0's is then older than 90 days
            clock.advance(days=days)
            report = container.jobs.run("backup")
            assert report.status == "succeeded", report
            rows.append(report.rows)
            seen.append(sorted(p.name for p in folder.iterdir() if p.name != "operator-notes"))

    (day0,), (also_day0, day50), (also_day50, day95) = seen
    assert (also_day0, also_day50) == (day0, day50)
    assert len({day0, day50, day95}) == 3
    assert rows == [1, 1, 2]  # the third run wrote one and deleted one
    assert (folder / "operator-notes").is_dir()
    made = json.loads((folder / day95 / "manifest.json").read_text())["created_at"]
    assert datetime.fromisoformat(made) == clock.current  # named and dated by the service's clock
