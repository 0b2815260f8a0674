"""``addvalue catalog schema``: the event catalog as a JSON Schema, for clients that type their events from it."""

from __future__ import annotations

import argparse
import json
import sys

from domain.catalog_schema import catalog_schema
from entrypoints.cli.output import Subcommands

__all__ = ["add_catalog", "catalog", "schema_text"]


def add_catalog(commands: Subcommands) -> None:
    catalog = commands.add_parser("catalog", help="the event catalog for clients (needs no database or secret)")
    actions = catalog.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "schema",
        help="print the JSON Schema of the 25 catalog events; sdk/catalog.schema.json is this output, "
        "and sdk/scripts/generate-types.mjs makes the SDK's types from it",
    )


def schema_text() -> str:
    """The schema as ``sdk/catalog.schema.json`` holds it: indented, in the catalog's order, one final newline."""
    return json.dumps(catalog_schema(), indent=2, ensure_ascii=False) + "\n"


def catalog(args: argparse.Namespace) -> int:
    # Only "schema" exists; argparse has refused anything else.
    assert args.action == "schema"
    sys.stdout.write(schema_text())
    return 0
