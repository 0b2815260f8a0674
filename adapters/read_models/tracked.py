"""Read models as the library intends: tracking recorders whose writes carry the position.

Each write of a view changes its rows and its tracking row (the position in
the event store's notification log) in one transaction, so a view is never
ahead of or behind what it says it has processed. Rebuilding clears both in
one transaction too. The two bases here hold what every view does alike on
its database (position, reset, a write that carries the position); each
view adds its own tables and statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Final, TypeVar, cast

from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteTrackingRecorder
from eventsourcing.utils import Environment
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from adapters.connections import checked_without_round_trip
from adapters.database_url import Database
from adapters.eventstore.persistence import event_store_env
from adapters.local_files import private_file
from adapters.read_models.page_rows import forget_page_tables

__all__ = ["UPSTREAM", "PostgresTrackedView", "SqliteTrackedView", "build_view", "factory_for"]

UPSTREAM: Final = "AddValue"  # the event store application's name, as tracked


class SqliteTrackedView(SQLiteTrackingRecorder):
    """A view in a SQLite file of its own (``addvalue.<SQLITE_FILE>.db``), with its tracking table."""

    VIEW_NAME: ClassVar[str]
    SQLITE_FILE: ClassVar[str]
    PROJECTION_TABLES: ClassVar[tuple[str, ...]]  # what a rebuild clears and a shadow swaps in

    def position(self) -> int:
        return self.max_tracking_id(UPSTREAM) or 0

    def reset(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            for name in self.PROJECTION_TABLES:
                c.execute(f"DELETE FROM {name}")
            c.execute("DELETE FROM tracking WHERE application_name=?", (UPSTREAM,))

    @contextmanager
    def _tracked_write(self, position: int) -> Iterator[SQLiteCursor]:
        """A transaction whose changes commit together with the view's new ``position``."""
        with self.datastore.transaction(commit=True) as c:
            yield c
            self._insert_tracking(c, Tracking(UPSTREAM, position))


class PostgresTrackedView(PostgresTrackingRecorder):
    """A view in the service's schema, its tables and tracking table named after it, on a pool of its own."""

    VIEW_NAME: ClassVar[str]
    PROJECTION_TABLES: ClassVar[tuple[str, ...]]

    def __init__(self, datastore: PostgresDatastore, *, tracking_table_name: str, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        checked_without_round_trip(datastore)
        self._tracking_table = self._in_schema(tracking_table_name)

    def _in_schema(self, table: str) -> Composed:
        return SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(table))

    def position(self) -> int:
        return self.max_tracking_id(UPSTREAM) or 0

    def reset(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for name in self.PROJECTION_TABLES:
                curs.execute(SQL("DELETE FROM {}").format(self._in_schema(name)))
            curs.execute(SQL("DELETE FROM {} WHERE application_name = %s").format(self._tracking_table), (UPSTREAM,))

    @contextmanager
    def _tracked_write(self, position: int) -> Iterator[Cursor[DictRow]]:
        """A transaction whose changes commit together with the view's new ``position``."""
        connection = None
        try:
            with self.datastore.transaction(commit=True) as curs:
                connection = curs.connection
                yield curs
                self._insert_tracking(curs, Tracking(UPSTREAM, position))
        except BaseException:
            if connection is not None:
                forget_page_tables(connection)  # a temporary table made in it is gone with it
            raise


S = TypeVar("S", bound=SqliteTrackedView)
P = TypeVar("P", bound=PostgresTrackedView)


def build_view(db: Database, name: str, sqlite_file: str, on_sqlite: type[S], on_postgres: type[P]) -> S | P:
    """A tracking-recorder view with a tracking row of its own.

    SQLite: a sibling file (``addvalue.<sqlite_file>.db``), since the library's
    SQLite tracking table has a fixed name. PostgreSQL: tables prefixed with
    ``name`` in the service's schema, on a small pool of their own.
    """
    env = event_store_env(db)
    env.pop("APPLICATION_RECORDER_TOPIC")
    if db.kind == "sqlite":
        env["SQLITE_DBNAME"] = str(private_file(db.sibling(sqlite_file)))
        return cast(S, factory_for(env, name).tracking_recorder(on_sqlite))
    env["POSTGRES_POOL_SIZE"] = "2"
    return cast(P, factory_for(env, name).tracking_recorder(on_postgres))


def factory_for(env: dict[str, str], name: str = "daily_counts") -> InfrastructureFactory[Any]:
    # The environment's name prefixes PostgreSQL table names: daily_counts_tracking.
    return InfrastructureFactory.construct(Environment(name, env))
