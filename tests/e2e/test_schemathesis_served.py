"""The API is what its OpenAPI document says: schemathesis against the served process (`addvalue serve`, PostgreSQL).

All four phases (examples, coverage, fuzzing, stateful) and every check, with the credentials each part of the
API takes: an admin token for /api, a service token for /v1/events, a write key (HTTP Basic) for the Segment
routes. Any finding fails the test, with schemathesis's report. The command and the case count are in
docs/api.md.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import POSTGRES_URL
from tests.e2e.served import Served, start_served

__all__ = ["SERVED_ENV", "run_schemathesis"]

_WRITE_KEY: Final = "schemathesis-write-key-" + os.urandom(12).hex()
# Generated requests must meet the document, not the limits that keep one client from crowding others out.
SERVED_ENV: Final = {
    "ADDVALUE_WRITE_KEYS": f"sdk={_WRITE_KEY}",
    "ADDVALUE_API_REQUESTS_PER_HOUR": "1000000",
    "ADDVALUE_RATE_LIMIT_USER": "0",
    "ADDVALUE_RATE_LIMIT_NETWORK": "0",
    "ADDVALUE_QUARANTINE_LIMIT_SENDER": "0",
    # The coverage phase sends every route without a token: on a fast machine over 60 refusals at once.
    "ADDVALUE_REFUSAL_LIMIT": "0",
}
# Per operation and phase, at most this many generated cases: the whole run stays under a minute.
MAX_EXAMPLES: Final = 5
SEED: Final = 19
# 413 (a body or batch over its limit) is a refusal too; schemathesis's default list leaves it out.
_REJECTIONS: Final = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
# What a schema-valid request may get: an answer, or "not found" for an id nobody has (and never a 5xx).
_ACCEPTANCES: Final = ["2xx", "304", "401", "403", "404", "429"]
# from/to may be at most 366 days apart, from not after to: a rule between two parameters, which JSON Schema cannot
# state (the parameters' descriptions and docs/api.md do). A schema-valid pair outside it is a 400 on these routes.
_RANGE_ROUTES: Final = r"^/api/(dashboard/(active-users|flourish|add-value|wave-participation)|metrics/user-activity)$"
_SEGMENT_ROUTES: Final = r"^/v1/(batch|b|track|identify|screen|page|alias|group)$"


def _config(served: Served) -> str:
    admin = served.token("schemathesis-admin", "admin")
    service = served.token("schemathesis-service", "service")
    basic = base64.b64encode(f"{_WRITE_KEY}:".encode()).decode()
    operations = [
        ("include-path-regex", "^/api/", f"Bearer {admin}"),
        ("include-path", "/v1/events", f"Bearer {service}"),
        ("include-path-regex", _SEGMENT_ROUTES, f"Basic {basic}"),
    ]
    lines = [
        f"[checks.negative_data_rejection]\nexpected-statuses = {json.dumps(_REJECTIONS)}\n",
        f"[checks.positive_data_acceptance]\nexpected-statuses = {json.dumps(_ACCEPTANCES)}\n",
        # The access log's records name route templates (/api/users/{user_id}/consent), not resources: links
        # inferred from them would send "{user_id}". The document's own links and the dependency analysis stay.
        '[phases.stateful.inference]\nalgorithms = ["dependency-analysis"]\n',
        f'[[operations]]\ninclude-path-regex = "{_RANGE_ROUTES}"\n'
        f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*_ACCEPTANCES, '400'])}\n",
    ]
    for key, value, authorization in operations:
        lines.append(f'[[operations]]\n{key} = "{value}"\nheaders = {{ Authorization = "{authorization}" }}\n')
    return "\n".join(lines)


def run_schemathesis(served: Served, workdir: Path, extra: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` on the served document, all phases and checks; its output and exit code."""
    config = workdir / "schemathesis.toml"
    config.write_text(_config(served))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{served.base_url}/schema/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--no-color",
        # One worker: with two, hypothesis describes filter lambdas with ast.parse from two threads at once,
        # and CPython 3.11 then fails with "AST constructor recursion depth mismatch" (seen in CI, 2026-12-03).
        "--workers",
        "1",
        *(extra or []),
    ]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="needs ADDVALUE_TEST_POSTGRES_URL")
def test_schemathesis_finds_nothing_against_the_served_process(tmp_path: Path) -> None:
    with start_served("postgres", tmp_path, env=SERVED_ENV) as served:
        result = run_schemathesis(served, tmp_path)
        log = served.output()
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20000:]
    generated = re.search(r"(\d+) generated, \1 passed", report)
    assert generated is not None, report[-4000:]
    assert int(generated[1]) >= 1000, report[-4000:]  # 1,179 on 2026-12-03: the run was not cut short
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅\s+{phase} \(in", report), (phase, report[-4000:])
    assert "Traceback" not in log, log[-4000:]
