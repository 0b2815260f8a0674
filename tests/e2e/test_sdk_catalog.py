"""The SDK's types come from the service's own catalog: ``addvalue catalog schema``, the copy in sdk/, the generator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from domain.catalog import CATEGORY_OF
from entrypoints.cli.catalog import schema_text

SDK = Path(__file__).parents[2] / "sdk"


def node() -> str:
    """Node, which the generator check needs; missing, it is a failure that says so, never a skip."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node (20 or later) is not on PATH: the SDK checks need it; install Node.js")
    return found


def test_the_checked_in_schema_is_the_one_the_service_exports_from_its_catalog() -> None:
    checked_in = (SDK / "catalog.schema.json").read_text()
    assert checked_in == schema_text(), (
        "sdk/catalog.schema.json differs from domain/catalog.py: run "
        "`addvalue catalog schema > sdk/catalog.schema.json && (cd sdk && npm run generate)`"
    )
    schema = json.loads(checked_in)
    events = [schema["$defs"][ref["$ref"].removeprefix("#/$defs/")] for ref in schema["anyOf"]]
    names = {e["properties"]["event_name"]["enum"][0]: e["properties"]["event_category"]["enum"] for e in events}
    assert names == {name: [category] for name, category in CATEGORY_OF.items()}
    assert len(names) == 25


def test_addvalue_catalog_schema_prints_it_without_settings_or_files(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(SDK.parent)}  # no ADDVALUE_ setting at all
    run = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "catalog", "schema"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == (SDK / "catalog.schema.json").read_text()
    assert list(tmp_path.iterdir()) == []  # no development secret or database written


def test_the_generated_types_are_what_the_checked_in_schema_gives() -> None:
    run = subprocess.run(
        [node(), str(SDK / "scripts" / "generate-types.mjs"), "--check"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr


def test_the_generator_check_fails_when_the_schema_and_the_types_disagree(tmp_path: Path) -> None:
    copy = tmp_path / "sdk"
    shutil.copytree(SDK / "scripts", copy / "scripts")
    shutil.copytree(SDK / "src", copy / "src")
    schema = json.loads((SDK / "catalog.schema.json").read_text())
    kind = schema["$defs"]["PostCreatedProps"]["properties"]["kind"]
    kind["enum"] = [*kind["enum"], "video"]  # the service grew a value the SDK's types lack
    (copy / "catalog.schema.json").write_text(json.dumps(schema))
    run = subprocess.run(
        [node(), str(copy / "scripts" / "generate-types.mjs"), "--check"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 1
    assert "npm run generate" in run.stderr
