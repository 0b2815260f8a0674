"""The alert condition grammar: what it accepts, what it refuses and where, and that it never runs anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.alerting.rules import SIGNALS, RulesError, rules_from
from domain.alert_conditions import Comparison, Condition, ConditionError, Junction, parse_condition, parse_duration
from domain.alerts import AlertRule, next_step

SEED = {
    "error_rate > 1%": {"error_rate": 0.02},
    "processing_lag > 5 minutes": {"processing_lag": 301.0},
    "daily_job_failed = true": {"daily_job_failed": 1.0},
    "null_rate > 5% OR duplicate_rate > 1%": {"null_rate": 0.0, "duplicate_rate": 0.011},
}


@pytest.mark.parametrize(("text", "values"), SEED.items())
def test_the_seed_conditions_parse_and_hold_just_past_their_thresholds(text: str, values: dict[str, float]) -> None:
    condition = parse_condition(text, SIGNALS)
    assert condition.holds(values)
    assert not condition.holds(dict.fromkeys(values, 0.0))


def test_thresholds_are_read_in_the_signal_s_unit() -> None:
    assert parse_condition("error_rate > 1%", SIGNALS) == Comparison("error_rate", ">", 0.01, "1%")
    assert parse_condition("processing_lag >= 5m", SIGNALS) == Comparison("processing_lag", ">=", 300.0, "5 m")
    assert parse_condition("processing_lag < 2 hours", SIGNALS).threshold == 7200.0  # type: ignore[union-attr]
    assert parse_condition("quality_accuracy < 80", SIGNALS).threshold == 80.0  # type: ignore[union-attr]


def test_and_binds_tighter_than_or_and_parentheses_regroup() -> None:
    loose = parse_condition("error_rate > 1% OR null_rate > 1% AND duplicate_rate > 1%", SIGNALS)
    grouped = parse_condition("(error_rate > 1% OR null_rate > 1%) AND duplicate_rate > 1%", SIGNALS)
    values = {"error_rate": 0.5, "null_rate": 0.0, "duplicate_rate": 0.0}
    assert loose.holds(values)
    assert not grouped.holds(values)


def test_a_signal_with_no_data_never_holds() -> None:
    assert not parse_condition("error_rate > 1%", SIGNALS).holds({"error_rate": None})
    assert not parse_condition("quality_score < 90", SIGNALS).holds({})


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("errors_rate > 1%", 1, "a signal (one of"),
        ("error_rate >> 1%", 13, "a number"),
        ("error_rate > 1", 15, "'%' after the number"),
        ("processing_lag > 5 parsecs", 20, "a unit"),
        ("daily_job_failed = yes", 20, "true or false"),
        ("daily_job_failed > true", 1, "'= true' or '= false'"),
        ("(error_rate > 1%", 17, "')'"),
        ("error_rate > 1% AND", 20, "a signal"),
        ("error_rate > 1% ; rm -rf /", 17, "a signal, a number, a comparison or a parenthesis"),
        ("__import__('os') > 1%", 12, "a signal, a number, a comparison or a parenthesis"),
    ],
)
def test_a_mistake_names_the_column_and_what_was_expected(text: str, column: int, expected: str) -> None:
    with pytest.raises(ConditionError) as raised:
        parse_condition(text, SIGNALS)
    assert raised.value.column == column
    assert expected in raised.value.expected


def test_an_alert_file_mistake_names_the_rule_and_the_field() -> None:
    document = {"alerts": [{"name": "Lag", "condition": "lag > 5m", "severity": "critical", "notification": "x"}]}
    with pytest.raises(RulesError, match=r"alert 1 \('Lag'\): condition 'lag > 5m': column 1: expected a signal"):
        rules_from(document, "alerts.yaml")
    document["alerts"][0] |= {"condition": "processing_lag > 5m", "for": "soon"}
    with pytest.raises(RulesError, match=r"alert 1 \('Lag'\): for: expected a duration"):
        rules_from(document, "alerts.yaml")
    document["alerts"][0] |= {"for": "1m"}
    document["receivers"] = {"x": [{"pager": "123"}]}
    with pytest.raises(RulesError, match=r"receivers: x: expected \{webhook: URL\}"):
        rules_from(document, "alerts.yaml")


def test_durations() -> None:
    assert parse_duration("5m") == parse_duration("5 minutes") == 300
    assert parse_duration("0") == 0
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration("5")


def _render(condition: Condition) -> str:
    if isinstance(condition, Comparison):
        return f"{condition.signal} {condition.op} {condition.text}"
    return f" {condition.op} ".join(f"({_render(part)})" for part in condition.parts)


_RATIO = st.builds(
    lambda s, op, n: Comparison(s, op, n / 100, f"{n:g}%"),
    st.sampled_from(["error_rate", "duplicate_rate", "null_rate"]),
    st.sampled_from([">", ">=", "<", "<=", "!="]),
    st.integers(0, 100).map(float),
)
_BOOLEAN = st.builds(
    lambda op, b: Comparison("daily_job_failed", op, float(b), "true" if b else "false"),
    st.sampled_from(["=", "!="]),
    st.booleans(),
)
_CONDITIONS = st.recursive(
    _RATIO | _BOOLEAN,
    lambda inner: st.builds(
        lambda op, parts: Junction(op, tuple(parts)),
        st.sampled_from(["AND", "OR"]),
        st.lists(inner, min_size=2, max_size=3),
    ),
    max_leaves=8,
)


@given(_CONDITIONS, st.fixed_dictionaries({s: st.floats(0, 1) for s in ("error_rate", "duplicate_rate", "null_rate")}))
def test_a_written_condition_parses_back_to_the_same_tree(condition: Condition, values: dict[str, float]) -> None:
    parsed = parse_condition(_render(condition), SIGNALS)
    full = values | {"daily_job_failed": 1.0}
    assert parsed.holds(full) == condition.holds(full)


@given(st.text(max_size=60))
def test_any_text_is_a_condition_or_a_condition_error(text: str) -> None:
    error = None
    try:
        parse_condition(text, SIGNALS)
    except ConditionError as e:  # the only way it may fail
        error = e
    assert error is None or 1 <= error.column <= len(text) + 1


RULE = AlertRule(
    name="Lag",
    condition_text="processing_lag > 5m",
    condition=parse_condition("processing_lag > 5m", SIGNALS),
    severity="critical",
    notification=(),
    for_=timedelta(minutes=2),
)
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_states_go_inactive_pending_firing_resolved() -> None:
    step = next_step("inactive", True, pending_since=None, now=T0, rule=RULE)
    assert (step.state, step.event) == ("pending", "pending")
    step = next_step("pending", True, pending_since=T0, now=T0 + timedelta(minutes=1), rule=RULE)
    assert (step.state, step.event) == ("pending", None)
    step = next_step("pending", True, pending_since=T0, now=T0 + timedelta(minutes=2), rule=RULE)
    assert (step.state, step.event) == ("firing", "firing")
    assert next_step("firing", True, pending_since=T0, now=T0, rule=RULE).event is None
    assert next_step("firing", False, pending_since=T0, now=T0, rule=RULE).event == "resolved"
    assert next_step("pending", False, pending_since=T0, now=T0, rule=RULE).event == "cleared"
    assert next_step("inactive", False, pending_since=None, now=T0, rule=RULE).event is None
