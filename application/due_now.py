"""Scheduled jobs that do whatever is due when they run, whatever period they are run for."""

from __future__ import annotations

from collections.abc import Callable

from domain.periods import Cadence

__all__ = ["DueNowJob"]


class DueNowJob:
    """A job (reporting.ports.Job) whose period only says when it ran: each run does all that is due by now.

    Subclasses name the job, its schedule and cadence, and hand the work to this constructor.
    """

    name: str
    schedule: str  # cron expression, UTC
    cadence: Cadence
    description: str
    every_period = False  # a missed run is made up by one run, for the latest period (reporting.owed)

    def __init__(self, work: Callable[[], int]) -> None:
        self._work = work

    def run(self, period: str) -> int:  # noqa: ARG002 - everything due by now, whatever the period
        return self._work()
