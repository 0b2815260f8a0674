"""The shared metrics folder of multiprocess mode: a dead process's live gauges swept, its counts kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient
from prometheus_client import values

from adapters.metrics.prometheus import PrometheusMetrics, sweep_dead, use_shared_folder
from entrypoints.bootstrap import Container
from entrypoints.cli.serve import PROJECTIONS
from entrypoints.http.app import create_app

_CHILD = """
import sys
from adapters.metrics.prometheus import use_shared_folder, PrometheusMetrics
from application.observability.ports import IngestOutcomeCounts
from pathlib import Path
use_shared_folder(Path(sys.argv[1]), wipe=False)
metrics = PrometheusMetrics()
metrics.ingest_queue_depth(7)
metrics.ingest_outcomes(IngestOutcomeCounts(accepted=3))
"""


def _files(folder: Path) -> set[str]:
    return {p.name.rsplit("_", 1)[0] for p in folder.glob("*.db")}


def test_a_dead_process_leaves_its_counts_and_loses_its_live_gauges(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    subprocess.run([sys.executable, "-c", _CHILD, str(folder)], check=True, cwd=Path(__file__).parents[2])
    assert _files(folder) == {"counter", "histogram", "gauge_livesum"}
    assert sweep_dead(folder) == 1
    assert _files(folder) == {"counter", "histogram"}  # totals never fall; serve's next start wipes them


def test_serve_start_wipes_what_dead_processes_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "metrics"
    subprocess.run([sys.executable, "-c", _CHILD, str(folder)], check=True, cwd=Path(__file__).parents[2])
    # use_shared_folder sets the environment of this process: keep it to this test.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    use_shared_folder(folder, wipe=True)
    assert _files(folder) == set()


def test_without_a_token_metrics_answer_only_loopback_peers(container: Container) -> None:
    with TestClient(app=create_app(container, run_jobs=False)) as client:  # its peer is "testclient"
        refused = client.get("/metrics")
    assert refused.status_code == 403
    assert "ADDVALUE_METRICS_TOKEN" in refused.text


def test_the_worker_knows_the_projection_names_before_building_anything(container: Container) -> None:
    assert set(PROJECTIONS) == set(container.projections)


def test_a_measurement_that_fails_does_not_stop_the_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = PrometheusMetrics()
    monkeypatch.setattr(metrics, "job_failed", None)  # any failure inside the library's call
    metrics.job_ran("close-day", succeeded=False, seconds=1.0, finished_at=0.0)  # logged, not raised
    assert b'addvalue_job_duration_seconds_count{job="close-day"} 1.0' in metrics.exposition()
