"""Non-personal records of the platform: a day's closed totals, and the runs of batch jobs.

They carry no one's data, so they are stored readable (``is_personal =
False``) under the nil subject, and survive every erasure. A day's totals are
frozen when the day is closed: rebuilding a read model after an erasure
replays these records instead of recounting people who are gone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

__all__ = ["FINAL_AFTER", "PLATFORM_SUBJECT", "JobRun", "PlatformDay", "PlatformReport"]

# Events of non-personal streams still name a subject (the mapper's header); this one is no one.
PLATFORM_SUBJECT: Final = UUID(int=0)
# A day is final once no event may arrive for it any more (the catalog's 30 days, after correction).
FINAL_AFTER: Final = timedelta(days=31)
_DAY_NAMESPACE: Final = UUID("5d1e4a0c-2b7e-4c1a-9f3e-7a6b5c4d3e2f")
_JOB_NAMESPACE: Final = UUID("a3c2e1f0-9b8a-4d7c-8e6f-5a4b3c2d1e0f")


class PlatformDay(Aggregate):
    """One UTC day's anonymous platform totals, as they stood when the day was closed."""

    class Closed(Aggregate.Created):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        day: date
        totals: dict[str, int]

    class Reclosed(Aggregate.Event):
        """Late events arrived after the close; the totals were recomputed."""

        is_personal: ClassVar[bool] = False
        subject_id: UUID
        day: date  # so a reader of the log alone knows which day (records before 2026-11-26 lack it)
        totals: dict[str, int]

        def apply(self, aggregate: Any) -> None:
            aggregate.totals = dict(self.totals)
            aggregate.closures += 1

    @classmethod
    def create_id(cls, day: date) -> UUID:
        return uuid5(_DAY_NAMESPACE, day.isoformat())

    @classmethod
    def close(cls, day: date, totals: dict[str, int]) -> PlatformDay:
        return cls._create(cls.Closed, id=cls.create_id(day), subject_id=PLATFORM_SUBJECT, day=day, totals=totals)

    def __init__(self, day: date, totals: dict[str, int]) -> None:
        self.day = day
        self.totals = dict(totals)
        self.closures = 1

    def reclose(self, recounted: dict[str, int]) -> bool:
        """Keep, for each total, the larger of the recorded and the recounted value.

        Late events can only raise a count; only an erasure lowers one, and a
        closed day must not change when someone is erased (docs/metrics.md,
        rule 4). False when nothing changed: a rerun is idempotent.
        """
        merged = {k: max(self.totals.get(k, 0), recounted.get(k, 0)) for k in self.totals.keys() | recounted.keys()}
        if merged == self.totals:
            return False
        self.trigger_event(self.Reclosed, subject_id=PLATFORM_SUBJECT, day=self.day, totals=merged)
        return True


class JobRun(Aggregate):
    """The runs of one batch job for one period: when, how long, how many rows, how it ended."""

    class Scheduled(Aggregate.Created):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        job: str
        period: str

    class Ran(Aggregate.Event):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        started_at: datetime
        seconds: float
        rows: int
        status: str  # "succeeded" or "failed"
        error: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.runs.append(self)

    @classmethod
    def create_id(cls, job: str, period: str) -> UUID:
        return uuid5(_JOB_NAMESPACE, f"{job}:{period}")

    @classmethod
    def start(cls, job: str, period: str) -> JobRun:
        return cls._create(
            cls.Scheduled, id=cls.create_id(job, period), subject_id=PLATFORM_SUBJECT, job=job, period=period
        )

    def __init__(self, job: str, period: str) -> None:
        self.job = job
        self.period = period
        self.runs: list[JobRun.Ran] = []

    def record(self, *, started_at: datetime, seconds: float, rows: int, error: str | None) -> None:
        self.trigger_event(
            self.Ran,
            subject_id=PLATFORM_SUBJECT,
            started_at=started_at,
            seconds=seconds,
            rows=rows,
            status="failed" if error else "succeeded",
            error=error,
        )


_REPORT_NAMESPACE: Final = UUID("0c9f8e7d-6b5a-4c3d-8e2f-1a0b9c8d7e6f")


class PlatformReport(Aggregate):
    """A batch job's anonymous result for one period (an hour, a week, a month), as computed.

    ``counts`` are numbers of events or people: a recomputation keeps the
    larger of the recorded and the recounted value, for the reason a closed
    day does (late events raise counts, only an erasure lowers them).
    ``derived`` values (a forecast, a mean index) are computed from
    anonymous inputs and replaced by each recomputation.
    """

    class Computed(Aggregate.Created):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        job: str
        period: str
        counts: dict[str, int]
        derived: dict[str, float]

    class Recomputed(Aggregate.Event):
        is_personal: ClassVar[bool] = False
        subject_id: UUID
        counts: dict[str, int]
        derived: dict[str, float]

        def apply(self, aggregate: Any) -> None:
            aggregate.counts = dict(self.counts)
            aggregate.derived = dict(self.derived)

    @classmethod
    def create_id(cls, job: str, period: str) -> UUID:
        return uuid5(_REPORT_NAMESPACE, f"{job}:{period}")

    @classmethod
    def compute(cls, job: str, period: str, counts: dict[str, int], derived: dict[str, float]) -> PlatformReport:
        return cls._create(
            cls.Computed,
            id=cls.create_id(job, period),
            subject_id=PLATFORM_SUBJECT,
            job=job,
            period=period,
            counts=counts,
            derived=derived,
        )

    def __init__(self, job: str, period: str, counts: dict[str, int], derived: dict[str, float]) -> None:
        self.job = job
        self.period = period
        self.counts = dict(counts)
        self.derived = dict(derived)

    def recompute(self, counts: dict[str, int], derived: dict[str, float]) -> bool:
        """Merge a recomputation (max rule for counts); False when nothing changed, so a rerun is idempotent."""
        merged = {k: max(self.counts.get(k, 0), counts.get(k, 0)) for k in self.counts.keys() | counts.keys()}
        if merged == self.counts and derived == self.derived:
            return False
        self.trigger_event(self.Recomputed, subject_id=PLATFORM_SUBJECT, counts=merged, derived=dict(derived))
        return True
