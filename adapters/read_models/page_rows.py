"""A page's rows written to PostgreSQL in one merge per table: binary COPY into a temporary table first.

A view's statement is written for one row (``INSERT … VALUES (%s, …) ON
CONFLICT …`` or ``DELETE … WHERE subject_id = %s``). For a page of rows, the
rows go by binary ``COPY`` (dumped in C by psycopg) into a temporary table of
the statement's column types, and the statement runs once with ``SELECT *
FROM`` that table in place of ``VALUES``: one plan and one pass on the
server, and little Python per row here. Deletes take an array (``= ANY``).

An upsert's rows must have distinct keys (a statement may not update a row
twice): the views merge a page's rows by key before. The merge takes the
rows in key order, so the views need not sort them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

from psycopg import Connection, Cursor

__all__ = ["forget_page_tables", "write_page"]

# The temporary tables each connection has (they live as long as it, emptied at every commit).
_made: WeakKeyDictionary[Connection[Any], set[str]] = WeakKeyDictionary()


def write_page(cursor: Cursor[Any], sql: str, rows: Sequence[Sequence[Any]], types: Sequence[str]) -> None:
    """Run ``sql``, a statement for one row, for all ``rows`` (columns of PostgreSQL ``types``)."""
    if " = %s" in sql and len(types) == 1:
        cursor.execute(sql.replace(" = %s", f" = ANY(%b::{types[0]}[])").encode(), [[row[0] for row in rows]])
        return
    values = "VALUES (" + ", ".join(["%s"] * len(types)) + ")"
    assert values in sql, sql
    table = _page_table(cursor, types)
    with cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)".encode()) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
    # The merge and the emptying in one round trip (no parameters: one simple query). In the order of the columns,
    # which is key order (every view's key columns come first): two writers of a view lock rows in the same order,
    # and the sort is PostgreSQL's, not a Python sort of tens of thousands of keys here.
    order = ", ".join(str(k) for k in range(1, len(types) + 1))
    merge = sql.replace(values, f"SELECT * FROM {table} ORDER BY {order}", 1)
    cursor.execute(f"{merge}; DELETE FROM {table}".encode())


def forget_page_tables(connection: Connection[Any]) -> None:
    """After a rollback: the temporary tables made in that transaction are gone."""
    _made.pop(connection, None)


def _page_table(cursor: Cursor[Any], types: Sequence[str]) -> str:
    name = "pg_temp.page_" + "_".join(types)
    made = _made.setdefault(cursor.connection, set())
    if name not in made:
        columns = ", ".join(f"c{i} {t}" for i, t in enumerate(types))
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS".encode())
        made.add(name)
    return name
