"""PostgreSQL views write a page's rows through a temporary table per connection (adapters.read_models.page_rows).

The table is made inside a page's transaction: when that transaction rolls
back, the table is gone with it, and the next page on that connection must
make it again rather than COPY into nothing.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

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
