"""Under ``ADDVALUE_TEST_NO_SKIPS=1`` (set by .ci/run), a skipped test is a failed test.

The PostgreSQL, outage, browser and SMTP tests skip on a machine that lacks
what they need, which is right on a laptop and wrong in CI: a skipped test
there proved nothing while the run reported green. Tests meant for one backend
are parametrised for it instead of skipping on the other.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

NO_SKIPS_VARIABLE = "ADDVALUE_TEST_NO_SKIPS"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if os.environ.get(NO_SKIPS_VARIABLE) == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, and {NO_SKIPS_VARIABLE}=1 makes a skip a failure: {reason}"
