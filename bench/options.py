"""The command-line options every benchmark shares: its description and the PostgreSQL database it runs on."""

from __future__ import annotations

import argparse
import os

# The test suite's database unless told otherwise: benchmarks make their own schema in it and leave the rest alone.
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def benchmark_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser that shows the script's docstring as written and asks for ``--database-url``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("ADDVALUE_TEST_POSTGRES_URL", DEFAULT_DATABASE_URL))
    return parser
