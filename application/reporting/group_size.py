"""The minimum group size of aggregate answers: a value computed over fewer people is withheld.

An analyst sees aggregates only; a mean over one person is that person's value, and a
quartile over two is one of theirs. So every aggregate value (index means and quartiles,
segment counts, the rates and means of the period summaries) is sent only when the group
it was computed over holds at least ``minimum`` people (``ADDVALUE_MIN_GROUP_SIZE``,
default 5); otherwise it is ``null`` and ``withheld`` gives the reason. The group's size
itself is still shown. Values sent are rounded to one decimal: more digits tell nothing
about the group and help to solve for one member's value.

Applied when an answer is made, not when it is computed, so reports recorded before this
rule, and a change of the setting, are covered without recomputing anything.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["DEFAULT_MIN_GROUP_SIZE", "GroupSizeRule"]

DEFAULT_MIN_GROUP_SIZE: Final = 5
_INDEX_VALUES: Final = ("mean", "p25", "median", "p75")
# Period-summary values that describe people, and the count of the group each is computed over.
# Counts of people and events are the group sizes themselves, shown as they are.
_SUMMARY_GROUPS: Final = {
    "mean_flourish_index": "flourish_people",
    "churn_rate": "previous_month_active_people",
    "mau_growth": "monthly_active_people",
    "mean_daily_active_people": "monthly_active_people",
}


class GroupSizeRule:
    """Withholds aggregate values computed over fewer than ``minimum`` people; rounds the rest."""

    def __init__(self, minimum: int = DEFAULT_MIN_GROUP_SIZE) -> None:
        if minimum < 1:
            raise ValueError(f"the minimum group size must be at least 1, got {minimum}")
        self.minimum = minimum

    def reason(self, people: int | None) -> str | None:
        """Why a value over ``people`` is withheld (None: it is not). An unknown size is withheld."""
        if people is not None and people >= self.minimum:
            return None
        if people is None:
            return f"withheld: the group's size was not recorded (minimum group size {self.minimum})"
        return f"withheld: {people} people, fewer than the minimum group size of {self.minimum}"

    def index_point(self, day: str, point: dict[str, Any]) -> dict[str, Any]:
        """One day of an index dashboard: ``people`` always; mean and quartiles rounded, or null."""
        why = self.reason(point["people"])
        values = {k: None if why else round(point[k], 1) for k in _INDEX_VALUES}
        return {"date": day, "people": point["people"], **values, "withheld": why}

    def segments(self, counts: dict[str, int]) -> tuple[dict[str, int | None], str | None]:
        """The segments' counts, or all null when the day's people (their sum) are too few."""
        why = self.reason(sum(counts.values()))
        return {k: None if why else n for k, n in counts.items()}, why

    def summary(
        self, counts: dict[str, int], derived: dict[str, float]
    ) -> tuple[dict[str, float | None], dict[str, str]]:
        """A period summary's figures: counts as they are; each value about people rounded, or null.

        Values not in the table above (trend and forecast of daily active people) are
        fitted to daily counts, not to anyone's own value: rounded only.
        """
        figures: dict[str, float | None] = dict(counts)
        withheld: dict[str, str] = {}
        for name, value in derived.items():
            group = _SUMMARY_GROUPS.get(name)
            why = self.reason(counts.get(group)) if group else None
            if why:
                withheld[name] = why
            figures[name] = None if why else round(value, 1)
        return figures, withheld
