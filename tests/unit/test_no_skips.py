"""The CI switch that turns a skip into a failure (tests/no_skips.py), run on a throwaway test file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPING = """
import pytest

def test_needs_something_missing():
    pytest.skip("PostgreSQL tests need ADDVALUE_TEST_POSTGRES_URL")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_to_fail():
    assert False
"""


def run_pytest(tmp_path: Path, no_skips: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_throwaway.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "ADDVALUE_TEST_NO_SKIPS"}
    if no_skips is not None:
        env["ADDVALUE_TEST_NO_SKIPS"] = no_skips
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.no_skips"]
    return subprocess.run(
        [*command, "--rootdir", str(tmp_path), str(tmp_path)], check=False, env=env, capture_output=True, text=True
    )


def test_a_skip_fails_the_run_under_the_ci_switch(tmp_path: Path) -> None:
    run = run_pytest(tmp_path, "1")
    assert run.returncode == 1, run.stdout
    assert "1 failed, 1 xfailed" in run.stdout, run.stdout
    assert "ADDVALUE_TEST_NO_SKIPS=1 makes a skip a failure" in run.stdout
    assert "ADDVALUE_TEST_POSTGRES_URL" in run.stdout  # the reason it skipped is kept


def test_without_the_switch_a_skip_stays_a_skip(tmp_path: Path) -> None:
    run = run_pytest(tmp_path, None)
    assert run.returncode == 0, run.stdout
    assert "1 skipped, 1 xfailed" in run.stdout, run.stdout
