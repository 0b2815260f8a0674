"""Analyst exports: every dataset in every format says what the API's own routes say for the same range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Final

import msgspec
import pytest

from application.reporting.exports import DATASETS
from entrypoints.settings import Settings
from tests.e2e.api_support import Api, running_api
from tests.e2e.export_support import api_rows, load_demo, read_csv, read_duckdb, read_json, read_parquet

# The service's clock is api_support.NOW (2 March 2026, 05:00 UTC): the range starts before the demo's first
# day and ends on today, so it holds days with no data and days not closed yet.
FIRST: Final = date(2026, 1, 26)
LAST: Final = date(2026, 3, 2)
HOURLY_DAY: Final = date(2026, 2, 25)
MIN_GROUP: Final = 12


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    # A minimum group size the demo's quietest days fall under, so withheld values are compared too.
    with running_api(msgspec.structs.replace(settings, min_group_size=MIN_GROUP)) as running:
        load_demo(running.container, users=40, days=21, hourly_day=HOURLY_DAY)
        yield running


def _export(api: Api, dataset: str, fmt: str) -> bytes:
    response = api.get(
        f"/api/exports/{dataset}", "analyst", **{"from": FIRST.isoformat(), "to": LAST.isoformat()}, format=fmt
    )
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response.content


def test_every_dataset_in_every_format_equals_the_api_answers_for_the_range(api: Api, tmp_path: Path) -> None:
    for name, dataset in DATASETS.items():
        expected = api_rows(api, name, FIRST, LAST)
        assert expected, f"{name}: the demo should give rows to compare"
        assert read_json(_export(api, name, "json")) == expected, name
        assert read_csv(_export(api, name, "csv"), dataset) == expected, name
        parquet = _export(api, name, "parquet")
        assert read_parquet(parquet) == expected, name
        path = tmp_path / f"{name}.parquet"
        path.write_bytes(parquet)
        assert read_duckdb(str(path)) == expected, name


def test_withheld_values_are_empty_in_exports_as_in_the_api(api: Api) -> None:
    rows = read_json(_export(api, "index-distributions", "json"))
    small = [row for row in rows if row["people"] < MIN_GROUP]
    assert small, "the demo's first days have fewer people than the minimum group size"
    assert all(row["mean"] is None and row["withheld"] for row in small)
    assert any(row["mean"] is not None for row in rows)


def test_the_list_names_each_dataset_with_its_columns(api: Api) -> None:
    response = api.get("/api/exports", "analyst")
    assert response.status_code == 200
    listed = {d["name"]: [c["name"] for c in d["columns"]] for d in response.json()["data"]["datasets"]}
    assert listed == {name: [c.name for c in d.columns] for name, d in DATASETS.items()}


def test_people_and_bad_requests_are_refused_before_any_byte(api: Api) -> None:
    assert api.get("/api/exports/platform-days", "user").status_code == 403
    assert api.get("/api/exports/people", "analyst").status_code == 404
    assert api.get("/api/exports/segments", "analyst", format="xlsx").status_code == 400
    too_long = api.get("/api/exports/segments", "analyst", **{"from": "2023-01-01", "to": "2026-03-01"})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "bad_parameter"
