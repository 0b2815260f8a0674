"""``addvalue alerts``: checking a file, start-up errors, silences, and the Prometheus rules checked by promtool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]


def addvalue(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ADDVALUE_")}
    environ |= {
        "PYTHONPATH": str(ROOT),
        "ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/var/addvalue.db",
        "ADDVALUE_LOG_LEVEL": "warning",
        **(env or {}),
    }
    command = [sys.executable, "-m", "entrypoints.cli", *args]
    return subprocess.run(command, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)


BAD = """
alerts:
  - name: "Pipeline Lag"
    condition: "processing_lag > 5 minutes AND (error_rate > 1 OR null_rate > 5%)"
    severity: critical
    notification: engineering_team
"""


def test_check_accepts_the_default_file_and_names_rule_column_and_expectation_of_a_bad_one(tmp_path: Path) -> None:
    good = addvalue(tmp_path, "alerts", "check")
    assert good.returncode == 0, good.stderr
    assert "4 alerts" in good.stdout
    assert '"name":"High Event Error Rate","condition":"error_rate > 1%"' in good.stdout
    (tmp_path / "bad.yaml").write_text(BAD)
    bad = addvalue(tmp_path, "alerts", "check", str(tmp_path / "bad.yaml"))
    assert bad.returncode == 2
    assert "alert 1 ('Pipeline Lag')" in bad.stderr
    assert "column 48: expected '%' after the number (error_rate is a ratio, e.g. 1%)" in bad.stderr
    assert not (tmp_path / "var" / "addvalue.db").exists()  # no database opened, nothing started


def test_checking_an_alert_file_writes_no_key_material_in_a_fresh_data_folder(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD)
    for args, code in (
        (("alerts", "check"), 0),
        (("alerts", "check", str(tmp_path / "bad.yaml")), 2),
        (("alerts", "prometheus-rules"), 0),
    ):
        done = addvalue(tmp_path, *args, env={"ADDVALUE_ALERTS_FILE": ""})
        assert done.returncode == code, (args, done.stderr)
    by_variable = addvalue(tmp_path, "alerts", "check", env={"ADDVALUE_ALERTS_FILE": str(tmp_path / "bad.yaml")})
    assert by_variable.returncode == 2
    assert "alert 1 ('Pipeline Lag')" in by_variable.stderr
    assert not (tmp_path / "var").exists()  # no master.key, no jwt.secret, no database


def test_a_bad_alert_file_stops_serve_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD)
    served = addvalue(tmp_path, "serve", env={"ADDVALUE_ALERTS_FILE": str(tmp_path / "bad.yaml")})
    assert served.returncode == 2
    assert "configuration error: ADDVALUE_ALERTS_FILE:" in served.stderr
    assert "column 48" in served.stderr


def test_silences_are_added_listed_and_expired(tmp_path: Path) -> None:
    added = addvalue(
        tmp_path, "alerts", "silence", "add", "--match", "severity=critical", "--duration", "1h",
        "--author", "ops", "--comment", "maintenance",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    silence_id = yaml.safe_load(added.stdout)["id"]
    assert silence_id in addvalue(tmp_path, "alerts", "silence", "list").stdout
    assert addvalue(tmp_path, "alerts", "silence", "expire", silence_id).returncode == 0
    assert addvalue(tmp_path, "alerts", "silence", "expire", "nope").returncode == 2
    listed = addvalue(tmp_path, "alerts", "list")
    assert [yaml.safe_load(line)["state"] for line in listed.stdout.splitlines()] == ["inactive"] * 4


# For each seed alert, one case or more: series from the /metrics families that make it fire at the time given.
_EVENTS = "addvalue_ingest_events_total"
CASES: list[tuple[str, list[dict[str, str]], str]] = [
    (
        "HighEventErrorRate",
        [
            {"series": f'{_EVENTS}{{outcome="accepted"}}', "values": "0+98x20"},
            {"series": f'{_EVENTS}{{outcome="rejected"}}', "values": "0+2x20"},
        ],
        "10m",
    ),
    (  # server errors count: 0.5% rejected alone would not fire, with 1% of events answered 5xx it does
        "HighEventErrorRate",
        [
            {"series": f'{_EVENTS}{{outcome="accepted"}}', "values": "0+197x20"},
            {"series": f'{_EVENTS}{{outcome="rejected"}}', "values": "0+1x20"},
            {"series": f'{_EVENTS}{{outcome="failed"}}', "values": "0+2x20"},
        ],
        "10m",
    ),
    (
        "PipelineLag",
        [{"series": 'addvalue_projection_lag_seconds{projection="user_days"}', "values": "0 60 400 400"}],
        "3m",
    ),
    (  # the projections within 5 minutes, an app database's outbox not: it fires
        "PipelineLag",
        [
            {"series": 'addvalue_projection_lag_seconds{projection="user_days"}', "values": "0 60 60 60"},
            {"series": 'addvalue_outbox_oldest_pending_seconds{outbox="db:5432/app"}', "values": "0 30 400 400"},
        ],
        "3m",
    ),
    ("BatchJobFailure", [{"series": 'addvalue_job_last_run_failed{job="close-day"}', "values": "0 0 1 1"}], "3m"),
    (
        "DataQualityIssue",
        [
            {"series": f'{_EVENTS}{{outcome="accepted"}}', "values": "0+97x80"},
            {"series": f'{_EVENTS}{{outcome="duplicate"}}', "values": "0+3x80"},
        ],
        "70m",
    ),
    (  # null_rate: 6% of the events lack a required field
        "DataQualityIssue",
        [
            {"series": f'{_EVENTS}{{outcome="accepted"}}', "values": "0+94x80"},
            {"series": f'{_EVENTS}{{outcome="rejected"}}', "values": "0+6x80"},
            {
                "series": 'addvalue_ingest_missing_field_events_total{event="wave_joined",field="properties.wave_id"}',
                "values": "0+6x80",
            },
        ],
        "70m",
    ),
]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: apt-get install prometheus (.ci/run)")
def test_the_prometheus_rules_pass_promtool_and_each_seed_alert_fires_in_its_unit_test(tmp_path: Path) -> None:
    printed = addvalue(tmp_path, "alerts", "prometheus-rules")
    assert printed.returncode == 0, printed.stderr
    (tmp_path / "rules.yml").write_text(printed.stdout)
    checked = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 rules found" in checked.stdout
    rules = {r["alert"]: r for r in yaml.safe_load(printed.stdout)["groups"][0]["rules"]}
    assert set(rules) == {alert for alert, _, _ in CASES}
    tests: list[dict[str, Any]] = []
    for alert, series, at in CASES:
        fired = {"exp_labels": rules[alert]["labels"], "exp_annotations": rules[alert]["annotations"]}
        tests.append(
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": at, "alertname": alert, "exp_alerts": [fired]},
                    {"eval_time": "0m", "alertname": alert, "exp_alerts": []},  # not before
                ],
            }
        )
    (tmp_path / "rules_test.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "tests": tests}))
    tested = subprocess.run(
        ["promtool", "test", "rules", "rules_test.yml"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
