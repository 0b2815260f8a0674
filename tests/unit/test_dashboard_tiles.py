"""The Overview's KPI tiles: one number of an API answer each, and its change against the period before."""

from __future__ import annotations

from typing import Any

from entrypoints.http.pages.platform import tiles


def _series(dau: list[int], new: list[int], flourish: list[float | None], joins: list[int]) -> dict[str, Any]:
    return {
        "active": [{"dau": d, "wau": d * 2, "mau": d * 3, "new_people": n} for d, n in zip(dau, new, strict=True)],
        "flourish": [{"mean": m} for m in flourish],
        "add_value": [],
        "waves": [{"waves_joined": j} for j in joins],
    }


def test_tiles_take_the_last_day_or_the_sum_and_compare_with_the_period_before() -> None:
    now = _series([10, 20], [3, 4], [50.0, None], [1, 2])
    before = _series([8, 16], [5, 5], [40.0, 45.0], [0, 0])
    shown = {t["key"]: t for t in tiles(now, before)}
    assert (shown["dau"]["value"], shown["dau"]["delta"], shown["dau"]["percent"]) == (20, 4, 25.0)
    assert (shown["mau"]["value"], shown["mau"]["delta"]) == (60, 12)
    assert (shown["new_people"]["value"], shown["new_people"]["delta"], shown["new_people"]["percent"]) == (
        7,
        -3,
        -30.0,
    )
    # The mean index of the last day that has one; None days (withheld) are passed over.
    assert (shown["flourish"]["value"], shown["flourish"]["delta"]) == (50.0, 5.0)
    # No figure at all: no value and no change. Nothing before to compare with: no percentage.
    assert (shown["add_value"]["value"], shown["add_value"]["delta"]) == (None, None)
    assert (shown["waves_joined"]["value"], shown["waves_joined"]["delta"], shown["waves_joined"]["percent"]) == (
        3,
        3,
        None,
    )


def test_an_empty_period_before_gives_no_change() -> None:
    shown = {t["key"]: t for t in tiles(_series([5], [5], [1.0], [1]), _series([], [], [], []))}
    assert all(t["delta"] is None for t in shown.values())
    assert shown["dau"]["value"] == 5
