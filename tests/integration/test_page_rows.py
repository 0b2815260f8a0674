"""PostgreSQL views write a page's rows through a temporary table per connection (adapters.read_models.page_rows).

The table is made inside a page's transaction: when that transaction rolls
back, the table is gone with it, and the next page on that connection must
make it again rather than COPY into nothing.
"""

from __future__ import annotations

import threading
import uuid
from datetime import date

import psycopg
import pytest

from adapters.read_models.page_rows import forget_page_tables, write_page
from adapters.read_models.user_days import PostgresUserDays
from adapters.read_models.views import ShadowView
from application.read_models.ports import UserDaysChanges
from entrypoints.bootstrap import Container

DAY = date(2026, 11, 30)


def changes(subject: uuid.UUID, n: int) -> UserDaysChanges:
    found = UserDaysChanges()
    found.counts[(subject, DAY, "events")] = n
    found.moods.append((subject, DAY, "end", 7))
    return found


# The temporary tables are PostgreSQL's; SQLite writes with executemany.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_page_after_one_that_rolled_back_is_written_on_the_same_connection(container: Container) -> None:
    assert isinstance(container.user_days_view, PostgresUserDays)
    shadow = ShadowView(container.settings.database, container.user_days_view)  # a pool of one connection
    try:
        written(shadow.view)
    finally:
        shadow.discard()


def failed_page(view: PostgresUserDays, subject: uuid.UUID) -> None:
    with view._tracked_write(1) as cursor:
        view._changes(cursor, changes(subject, 5))  # makes the temporary tables, then the page fails
        raise RuntimeError("a page that fails after its rows were written")


def written(view: PostgresUserDays) -> None:
    subject = uuid.uuid4()
    with pytest.raises(RuntimeError):
        failed_page(view, subject)

    view.apply(changes(subject, 2), 2)
    view.apply(changes(subject, 3), 3)

    assert view.position() == 3
    (day,) = view.days_of(subject, DAY, DAY)
    assert day.counts == {"events": 5}
    assert day.moods_end == (7, 7)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_writers_of_the_same_rows_in_opposite_orders_wait_for_each_other_and_never_deadlock(
    container: Container,
) -> None:
    """The merge takes a page's rows in key order, whatever order the view gave them in: without that, two
    writers upserting the same rows, one forwards and one backwards, lock them in opposite orders."""
    db = container.settings.database
    table = f'"{db.schema}".page_order_check'
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (k uuid PRIMARY KEY, n bigint NOT NULL)")
    keys = sorted(uuid.uuid4() for _ in range(2000))
    upsert = f"INSERT INTO {table} VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET n = {table}.n + excluded.n"
    both_in = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(rows: list[tuple[uuid.UUID, int]]) -> None:
        try:
            with psycopg.connect(db.url) as conn, conn.cursor() as cursor:
                for _ in range(5):
                    both_in.wait(timeout=10)
                    write_page(cursor, upsert, rows, ("uuid", "bigint"))
                    conn.commit()
                    forget_page_tables(conn)
        except BaseException as e:  # reported by the assertion below
            failures.append(e)
            both_in.abort()

    writers = [
        threading.Thread(target=write, args=([(k, 1) for k in keys],)),
        threading.Thread(target=write, args=([(k, 1) for k in reversed(keys)],)),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    with psycopg.connect(db.url) as conn:
        assert conn.execute(f"SELECT count(*), min(n), max(n) FROM {table}").fetchone() == (2000, 10, 10)
