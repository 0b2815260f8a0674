"""Fixtures of the command-line tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.served import served

__all__ = ["served"]  # the served process (tests/e2e/served.py), for every e2e test


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder and no ADDVALUE_ settings: the CLI's defaults, SQLite in ./var."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("ADDVALUE_"):
            monkeypatch.delenv(name)
    return tmp_path
