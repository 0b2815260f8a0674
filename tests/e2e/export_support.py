"""Helpers of the export tests: demo activity with its jobs run, the API's answers as export rows, file readers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow.parquet as pq

from application.principals import Principal
from application.reporting.exports import DATASETS, Dataset
from domain.periods import days_of, parse_period
from entrypoints.bootstrap import Container
from entrypoints.demo import demo_batches
from tests.e2e.api_support import Api

__all__ = ["api_rows", "load_demo", "read_csv", "read_duckdb", "read_json", "read_parquet"]

_DEMO = Principal(subject="demo", role="service")


def load_demo(container: Container, *, users: int, days: int, hourly_day: date) -> None:
    """``users`` people over ``days`` days to the clock's now; the days closed and their jobs run, as at night."""
    for batch in demo_batches(users=users, days=days, now=container.clock.now(), seed=11):
        container.ingestion.ingest(batch, sent_at=None, principal=_DEMO)
    today = container.analytics.today()
    past = [today - timedelta(days=back) for back in range(days, 0, -1)]
    for day in past:
        for job in ("close-day", "daily-indices", "data-quality"):
            assert container.jobs.run(job, day).status == "succeeded"
    for cadence, job in (("week", "weekly-summary"), ("month", "monthly-summary")):
        for label in sorted({parse_period(cadence, d.isoformat()) for d in past}):  # type: ignore[arg-type]
            if days_of(cadence, label)[1] < today:  # type: ignore[arg-type]
                assert container.jobs.run(job, label).status == "succeeded"
    start = datetime(hourly_day.year, hourly_day.month, hourly_day.day, tzinfo=UTC)
    for hour in range(24):
        assert container.jobs.run("hourly-activity", (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H")).status


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _answer(api: Api, path: str, **query: str) -> dict[str, Any] | None:
    response = api.get(path, "analyst", **query)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def api_rows(api: Api, dataset: str, first: date, last: date) -> list[dict[str, Any]]:
    """What the API's own routes answer for the range, in an export's rows (JSON values)."""
    rows: list[dict[str, Any]] = []
    if dataset == "platform-days":
        columns = [c.name for c in DATASETS[dataset].columns[1:]]
        for day in _days(first, last):
            if found := _answer(api, "/api/metrics/platform-summary", date=day.isoformat()):
                rows.append({"date": day.isoformat(), **{c: found["breakdown"].get(c, 0) for c in columns}})
    elif dataset == "hourly-activity":
        for day in _days(first, last):
            for point in _answer(api, "/api/metrics/hourly", date=day.isoformat())["series"]:  # type: ignore[index]
                hour = point["hour"] + ":00:00Z"
                rows.append(point | {"hour": hour, "microacts_by_category": _compact(point["microacts_by_category"])})
    elif dataset in ("weekly-summaries", "monthly-summaries"):
        cadence = dataset.removesuffix("ly-summaries")
        for label in _labels(cadence, first, last):
            if found := _answer(api, f"/api/dashboard/{cadence}ly", **{cadence: label}):
                for figure, value in sorted(found["breakdown"].items()):
                    rows.append(
                        {cadence: label, "figure": figure, "value": value, "withheld": found["withheld"].get(figure)}
                    )
    elif dataset == "retention-cohorts":
        for label in _labels("week", first, last):
            for cohort in (_answer(api, "/api/dashboard/retention", week=label) or {"cohorts": []})["cohorts"]:
                for since, active in enumerate(cohort["active_by_week"]):
                    rows.append(
                        {"week": label, "cohort": cohort["cohort"], "size": cohort["size"], "weeks_since": since}
                        | {"active_people": active}
                    )
    elif dataset == "index-distributions":
        rows = _index_rows(api, first, last)
    elif dataset == "data-quality":
        for day in _answer(api, "/api/quality/series", **{"from": first.isoformat(), "to": last.isoformat()})["days"]:  # type: ignore[index]
            for check in day["checks"]:
                rows.append(
                    {"date": day["period"], "dimension": check["dimension"], "check": check["check"]}
                    | {"passed_percent": round(100 * check["passed"], 2), "score": day["scores"][check["dimension"]]}
                )
    else:
        for day in _days(first, last):
            if found := _answer(api, "/api/dashboard/segments", date=day.isoformat()):
                for segment, people in found["breakdown"].items():
                    rows.append(
                        {"date": day.isoformat(), "segment": segment, "people": people, "withheld": found["withheld"]}
                    )
    return rows


def _index_rows(api: Api, first: date, last: date) -> list[dict[str, Any]]:
    rows = []
    for index, path in (("flourish", "flourish"), ("add_value", "add-value")):
        response = api.get(f"/api/dashboard/{path}", "analyst", **{"from": first.isoformat(), "to": last.isoformat()})
        version = response.json()["metadata"]["formula_version"]
        for point in response.json()["data"]["series"]:
            rows.append({"index": index, **point, "formula_version": version})
    order = {name: k for k, name in enumerate(c.name for c in DATASETS["index-distributions"].columns)}
    return sorted(
        ({k: row[k] for k in sorted(row, key=order.__getitem__)} for row in rows),
        key=lambda row: (row["date"], row["index"] != "flourish"),
    )


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _labels(cadence: str, first: date, last: date) -> list[str]:
    labels: list[str] = []
    label = parse_period(cadence, first.isoformat())  # type: ignore[arg-type]
    while days_of(cadence, label)[0] <= last:  # type: ignore[arg-type]
        labels.append(label)
        label = parse_period(cadence, (days_of(cadence, label)[1] + timedelta(days=1)).isoformat())  # type: ignore[arg-type]
    return labels


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def read_json(body: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(body)["rows"]
    return rows


def read_parquet(body: bytes) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in pq.read_table(io.BytesIO(body)).to_pylist()]


def read_duckdb(path: str) -> list[dict[str, Any]]:
    with duckdb.connect() as db:
        result = db.execute("SELECT * FROM read_parquet(?)", [path])
        names = [d[0] for d in result.description]
        return [{k: _jsonable(v) for k, v in zip(names, row, strict=True)} for row in result.fetchall()]


def read_csv(body: bytes, dataset: Dataset) -> list[dict[str, Any]]:
    """The CSV's rows, each cell turned back into the column's type (an empty cell is null)."""
    types = {c.name: c.type for c in dataset.columns}
    reader = csv.DictReader(io.StringIO(body.decode()))
    assert reader.fieldnames == list(types)
    rows = []
    for row in reader:
        rows.append({k: _typed(v, types[k]) for k, v in row.items()})
    return rows


def _typed(cell: str, type_: str) -> Any:
    if cell == "":
        return None
    if type_ == "int64":
        return int(cell)
    if type_ == "float64":
        return float(cell)
    return cell
