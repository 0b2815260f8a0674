"""Every metric of docs/metrics.md against a plain recount of the raw events (tests/oracle.py).

A generated history: a few people who consent, what they do over several UTC
days (Activations with moods, micro-acts, posts, Waves, logins …), sent in
batches through the real ingestion with a controlled clock: out of order,
late, from skewed device clocks and in several UTC offsets, duplicates (a
batch sent again, an event twice in a batch), someone who never consented,
sometimes a withdrawal of consent or an erasure part way. Days are closed and indices computed part
way and at the end, as the scheduler would. Then every read model is
compared with the oracle, rebuilt, and compared with itself.

Each example gets a fresh container (a new SQLite folder or PostgreSQL
schema): it costs about 0.1 s, and it lets every comparison be of a whole
read model. With one container for all examples, fresh ids would not be
enough: platform totals, closed days and the live counters are platform-wide,
so each example would need a stretch of time of its own, and every
comparison a filter by it, which is where a test's own bugs would hide.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

import msgspec
import psycopg
from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.database_url import parse_database_url
from application.principals import Principal
from application.read_models.projections import catch_up_together
from application.reporting.daily_indices import DailyIndices, PersonIndices
from domain.indices import streak
from domain.platform import PlatformDay
from entrypoints.bootstrap import Container, Overrides, bootstrap
from entrypoints.settings import Settings
from tests.fakes import CONSENT_ALL_OFF, FixedClock, consent, event
from tests.oracle import ADD_VALUE_WEIGHTS, FLOURISH_WEIGHTS, Oracle, PersonDay, Received, Sent

SERVICE = Principal(subject="tests", role="service")
NAMES = uuid.UUID("3f0c2a1e-7d4b-4e8a-9c6f-1b2d3e4f5a6b")  # event and user ids are derived: examples replay
START = datetime(2026, 3, 2, tzinfo=UTC)
ACTIVE_DAYS = 6
# Arrival after the event: on time, within hours, and late (over 24 h) by a day or three.
DELAYS = tuple(timedelta(minutes=m) for m in (1, 4, 95, 20 * 60, 26 * 60, 3 * 24 * 60 + 17))
SKEWS = (timedelta(0), timedelta(minutes=90), timedelta(hours=-7))  # the device clock's error
ZONES: tuple[tzinfo, ...] = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)))
# Received a few seconds after the last arrival: never on the minute an event happened, so "online in
# the last 5 minutes" and "started in the last 24 hours" never fall on their boundary.
SETTLE = timedelta(seconds=7)
WAVE_SECONDS = 75  # a Wave's duration is a multiple: an exact eighth of a point (seconds / 600)


# --- the histories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    events: tuple[Sent, ...]
    received_at: datetime
    skew: timedelta  # the device clock reads the true time plus this; sent_at tells the server


@dataclass(frozen=True)
class Send:
    batch: int


@dataclass(frozen=True)
class Resend:
    batch: int


@dataclass(frozen=True)
class Erase:
    person: uuid.UUID


@dataclass(frozen=True)
class CloseDays:
    """close-day and daily-indices for every day before today, as the scheduler would have run them."""


Step = Send | Resend | Erase | CloseDays
Plan = list[tuple[int, str, dict[str, Any]]]  # (minute into the episode, event name, properties)


@dataclass(frozen=True)
class History:
    people: tuple[uuid.UUID, ...]  # they consent to analytics before anything else of theirs is processed
    stranger: uuid.UUID | None  # never consents: nothing of theirs is collected
    zones: dict[uuid.UUID, tzinfo]  # the offset each device writes its timestamps with
    batches: tuple[Batch, ...]
    steps: tuple[Step, ...]


@st.composite
def activation(draw: st.DrawFn, tag: str) -> Plan:
    aid = f"act-{tag}"
    plan: Plan = [(0, "activation_started", {"activation_id": aid})]
    if draw(st.booleans()):
        plan.append(
            (1, "activation_mood_logged", {"activation_id": aid, "phase": "start", "mood": draw(st.integers(1, 10))})
        )
    if draw(st.booleans()):
        plan.append((2, "activation_affirmation_selected", {"activation_id": aid, "affirmation_id": "calm"}))
    for r in range(draw(st.integers(0, 3))):
        plan.append(
            (3 + r, "activation_round_completed", {"activation_id": aid, "round": r + 1, "duration_seconds": 60})
        )
    if draw(st.booleans()):
        plan.append((8, "activation_breathwork_completed", {"activation_id": aid, "duration_seconds": 120}))
    if draw(st.booleans()):  # finished; otherwise it is still in progress
        if draw(st.booleans()):
            mood = draw(st.integers(1, 10))
            plan.append((20, "activation_mood_logged", {"activation_id": aid, "phase": "end", "mood": mood}))
        plan.append((21, "activation_completed", {"activation_id": aid, "duration_seconds": 1260}))
    return plan


@st.composite
def wave(draw: st.DrawFn, tag: str) -> Plan:
    wid = f"wave-{tag.rsplit('-', 1)[1]}"  # shared across people, one episode per Wave and person
    plan: Plan = [(0, "wave_registered", {"wave_id": wid})] if draw(st.booleans()) else []
    plan.append((1, "wave_joined", {"wave_id": wid}))
    for i in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["message", "reaction", "question"]))
        plan.append((2 + i, "wave_interaction", {"wave_id": wid, "kind": kind}))
    for i in range(draw(st.integers(0, 2))):
        plan.append((6 + i, "wave_microact_shared", {"wave_id": wid, "microact_id": f"m-{tag}-{i}"}))
    if draw(st.booleans()):  # left; otherwise still in the Wave
        seconds = WAVE_SECONDS * draw(st.integers(0, 36))
        plan.append((45, "wave_left", {"wave_id": wid, "duration_seconds": seconds}))
        if draw(st.booleans()):
            plan.append((50, "wave_feedback_submitted", {"wave_id": wid, "rating": draw(st.integers(1, 5))}))
    return plan


@st.composite
def microact(draw: st.DrawFn, tag: str) -> Plan:
    mid, category = f"m-{tag}", draw(st.sampled_from(["kindness", "gratitude"]))
    plan: Plan = [(0, "microact_category_selected", {"category": category})]
    plan.append((1, "microact_created", {"microact_id": mid, "category": category}))
    if draw(st.booleans()):
        plan.append((2, "microact_updated", {"microact_id": mid, "fields": ["title"]}))
    if draw(st.booleans()):
        audience = draw(st.sampled_from(["community", "followers", "wave"]))
        plan.append((3, "microact_shared", {"microact_id": mid, "audience": audience}))
    return plan


COMMUNITY: dict[str, dict[str, Any]] = {
    "post_created": {"post_id": "p-mine", "kind": "text"},
    "post_liked": {"post_id": "p-1"},
    "post_commented": {"post_id": "p-1", "comment_id": "c-1"},
    "post_shared": {"post_id": "p-1", "channel": "whatsapp"},
    "user_followed": {"followed_user_id": str(uuid.UUID(int=1))},  # someone, never the sender
    "user_login": {"method": "password"},
    "user_profile_update": {"fields": ["display_name"]},
    "user_signup": {"signup_method": "email"},
}


@st.composite
def community(draw: st.DrawFn, tag: str) -> Plan:
    names = draw(st.lists(st.sampled_from(sorted(COMMUNITY)), min_size=1, max_size=4))
    return [(i, name, COMMUNITY[name]) for i, name in enumerate(names)]


EPISODES = (activation, wave, microact, community)


@st.composite
def activity(draw: st.DrawFn, who: uuid.UUID) -> list[tuple[datetime, Sent]]:
    """One person's episodes, each in an hour of its own, with when each event reaches the server."""
    arrivals = []
    slots = draw(st.lists(st.tuples(st.integers(0, ACTIVE_DAYS - 1), st.integers(0, 22)), unique=True, max_size=5))
    for n, (day, hour) in enumerate(slots):
        plan = draw(draw(st.sampled_from(EPISODES))(tag=f"{who.hex[:6]}-{n}"))
        begin = START + timedelta(days=day, hours=hour, minutes=2)
        together, delay = draw(st.booleans()), draw(st.sampled_from(DELAYS))
        for i, (minute, name, props) in enumerate(plan):
            sent = Sent(
                uuid.uuid5(NAMES, f"{who}/{n}/{i}"), name, who, begin + timedelta(minutes=minute), props, f"s{n}"
            )
            arrivals.append((sent.occurred_at + (delay if together else draw(st.sampled_from(DELAYS))), sent))
    return arrivals


@st.composite
def histories(draw: st.DrawFn) -> History:
    people = tuple(uuid.uuid5(NAMES, f"person-{i}") for i in range(draw(st.integers(2, 6))))
    stranger = uuid.uuid5(NAMES, "stranger") if draw(st.booleans()) else None
    arrivals = sorted(
        (a for who in (*people, *([stranger] if stranger else [])) for a in draw(activity(who))),
        key=lambda a: (a[0], a[1].occurred_at, a[1].event_id),
    )
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(arrivals) - 1)), max_size=4))) if len(arrivals) > 1 else []
    groups = [arrivals[i:j] for i, j in zip([0, *cuts], [*cuts, len(arrivals)], strict=True)]
    batches, first_batch = _with_consents([draw(_batch(group)) for group in groups], people)
    withdrawn = draw(st.none() | _withdrawal(batches, people, first_batch))
    if withdrawn is not None:
        batches = withdrawn[0]
    return History(
        people=people,
        stranger=stranger,
        zones={p: draw(st.sampled_from(ZONES)) for p in (*people, *([stranger] if stranger else []))},
        batches=tuple(batches),
        steps=tuple(draw(_steps(len(batches), first_batch, withdrawn[1:] if withdrawn else None))),
    )


@st.composite
def _batch(draw: st.DrawFn, arrivals: list[tuple[datetime, Sent]]) -> Batch:
    """Received just after the last of them arrived, from a device whose clock is off."""
    events = [s for _, s in arrivals]
    if draw(st.booleans()):  # the device sends them in an order of its own
        events = list(draw(st.permutations(events)))
    twice = draw(st.booleans())
    if events and twice:  # and one of them twice in the same batch
        events.insert(draw(st.integers(0, len(events))), draw(st.sampled_from(events)))
    received_at = max((a for a, _ in arrivals), default=START + timedelta(hours=1)) + SETTLE
    return Batch(tuple(events), received_at, draw(st.sampled_from(SKEWS)))


def _with_consents(batches: list[Batch], people: tuple[uuid.UUID, ...]) -> tuple[list[Batch], dict[uuid.UUID, int]]:
    """Each person's consent first in the first batch that holds something of theirs (or the first batch)."""
    first = {p: next((i for i, b in enumerate(batches) if any(e.user == p for e in b.events)), 0) for p in people}
    out = []
    for i, batch in enumerate(batches):
        consents = []
        for person in (p for p in people if first[p] == i):
            theirs = [e.occurred_at for b in batches for e in b.events if e.user == person]
            at = min(theirs) - timedelta(minutes=1) if theirs else batch.received_at - timedelta(seconds=30)
            props = {**CONSENT_ALL_OFF, "analytics": True}
            consents.append(Sent(uuid.uuid5(NAMES, f"{person}/consent"), "user_consent_update", person, at, props))
        out.append(Batch((*consents, *batch.events), batch.received_at, batch.skew))
    return out, first


@st.composite
def _withdrawal(
    draw: st.DrawFn, batches: list[Batch], people: tuple[uuid.UUID, ...], first_batch: dict[uuid.UUID, int]
) -> tuple[list[Batch], uuid.UUID, int]:
    """Someone withdraws their consent part way: nothing of theirs processed after it is collected.

    The batches with the withdrawal in, who withdrew, and in which batch.
    """
    person = draw(st.sampled_from(people))
    i = draw(st.integers(first_batch[person], len(batches) - 1))
    events = list(batches[i].events)
    after_consent = next(
        (n + 1 for n, e in enumerate(events) if e.user == person and e.name == "user_consent_update"), 0
    )
    props = {**CONSENT_ALL_OFF, "analytics": False}
    at = batches[i].received_at - timedelta(seconds=10)
    withdrawal = Sent(uuid.uuid5(NAMES, f"{person}/withdrawal"), "user_consent_update", person, at, props, "settings")
    events.insert(draw(st.integers(after_consent, len(events))), withdrawal)
    return [*batches[:i], Batch(tuple(events), batches[i].received_at, batches[i].skew), *batches[i + 1 :]], person, i


@st.composite
def _steps(
    draw: st.DrawFn, count: int, first_batch: dict[uuid.UUID, int], withdrawn: tuple[uuid.UUID, int] | None
) -> list[Step]:
    after: list[list[Step]] = [[] for _ in range(count)]
    j = draw(st.integers(0, count - 1))  # a batch sent again (the app did not get the answer)
    after[j].append(Resend(draw(st.integers(0, j))))
    if draw(st.booleans()):  # someone erased part way, once their consent is in
        e = draw(st.integers(0, count - 1))
        # Not before a consent update of theirs: what that does after an erasure is not modelled.
        unsent = {withdrawn[0]} if withdrawn and withdrawn[1] > e else set()
        known = sorted(p for p, i in first_batch.items() if i <= e and p not in unsent)
        if known:
            after[e].append(Erase(draw(st.sampled_from(known))))
    after[draw(st.integers(0, count - 1))].append(CloseDays())  # the daily jobs, before late events arrive
    for extras in after:
        extras[:] = draw(st.permutations(extras))
    return [step for i in range(count) for step in (Send(i), *after[i])]


# --- the service under test ------------------------------------------------------------------------


@contextmanager
def fresh_container(backend: str, clock: FixedClock) -> Iterator[Container]:
    """A container on an empty database of its own, like conftest's ``container``, per example."""
    master_key, secret = os.urandom(32), "test-secret-" + "x" * 40
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            db = parse_database_url(f"sqlite:///{folder}/addvalue.db")
            built = bootstrap(
                Settings(database=db, master_key=master_key, jwt_secret=secret), overrides=Overrides(clock=clock)
            )
            try:
                yield built
            finally:
                built.close()
        return
    url = os.environ["ADDVALUE_TEST_POSTGRES_URL"]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    db = parse_database_url(url, schema=schema)
    built = bootstrap(Settings(database=db, master_key=master_key, jwt_secret=secret), overrides=Overrides(clock=clock))
    try:
        yield built
    finally:
        built.close()
        with psycopg.connect(url, autocommit=True) as conn:  # the schema, and those named after it (_keys, …)
            found = conn.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (schema,))
            for (name,) in found.fetchall():
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


class Run:
    """A history played against the service and the oracle side by side, step by step."""

    def __init__(self, container: Container, clock: FixedClock, history: History, page_size: int) -> None:
        self.container, self.clock, self.history, self.page_size = container, clock, history, page_size
        self.oracle = Oracle()
        self.subjects: dict[uuid.UUID, uuid.UUID] = {}  # kept past an erasure, to look for what must be gone
        self.indices = next(job for job in container.jobs.all() if isinstance(job, DailyIndices))

    def play(self, step: Step) -> None:
        match step:
            case Send(batch=i):
                self.clock.current = self.history.batches[i].received_at
                self.send(self.history.batches[i])
            case Resend(batch=i):
                self.send(self.history.batches[i])  # now, the same bytes again
            case Erase(person=person):
                self.container.erasure.erase(person, requested_by="test")
                self.oracle.erase(person)
            case CloseDays():
                self.close_days(until=self.clock.now().date() - timedelta(days=1))
        self.catch_up()
        self.check_live(self.clock.now())

    def send(self, batch: Batch) -> None:
        raw = [self._encoded(e, batch.skew) for e in batch.events]
        sent_at = self.clock.now() + batch.skew
        (report,) = self.container.ingestion.record(
            [self.container.ingestion.prepare(raw, sent_at=sent_at, principal=SERVICE)]
        )
        assert not report.rejected, report.rejected
        assert Received(report.accepted, report.duplicates, report.not_collected) == self.oracle.send(batch.events)
        for person in (p for p in self.history.people if p not in self.subjects):
            subject = self.container.keys.subject_for(person, create=False)
            if subject is not None:
                self.subjects[person] = subject

    def _encoded(self, sent: Sent, skew: timedelta) -> bytes:
        """As the device writes it: its own clock, its own offset; ``sent_at`` lets the server correct both."""
        at = (sent.occurred_at + skew).astimezone(self.history.zones[sent.user])
        return event(sent.name, sent.user, sent.properties, at=at, event_id=sent.event_id, session_id=sent.session)

    def catch_up(self) -> None:
        """What the projection thread does between requests: every read model, from one read of the log."""
        catch_up_together(self.container.store, list(self.container.projections.values()), page_size=self.page_size)

    def close_days(self, until: date) -> None:
        for day in _days(START.date(), until):
            for job in ("close-day", "daily-indices"):
                report = self.container.jobs.run(job, day)
                assert report.status == "succeeded", report.error
            self.oracle.close_day(day)

    def check_live(self, now: datetime) -> None:
        snapshot = self.container.live_activity.snapshot(now)
        oracle = self.oracle
        assert snapshot.daily_active_users == oracle.daily_active_users(now)
        assert snapshot.online_now == oracle.online_now(now)
        # From the daily counts, which keep an erased person's share until a rebuild (docs/metrics.md, 7).
        assert snapshot.microacts_today == oracle.microacts_today(now, erased_too=True)
        # Decided by when things happened, whatever order they arrived in.
        assert snapshot.wave_participants == oracle.wave_participants(now)
        assert snapshot.activations_in_progress == oracle.activations_in_progress(now)

    def finish(self) -> list[date]:
        """The next morning, after the last arrival: every day closed and indexed; the days concerned."""
        last = max(b.received_at for b in self.history.batches)
        self.clock.current = datetime.combine(last.date() + timedelta(days=1), time(2, 30, 7), UTC)
        self.catch_up()
        yesterday = self.clock.now().date() - timedelta(days=1)
        self.close_days(until=yesterday)
        self.check_live(self.clock.now())
        return _days(START.date(), yesterday)

    def check_read_models(self, days: list[date]) -> None:
        c, oracle = self.container, self.oracle
        # Counted as they were collected: an erased person's share stays until a rebuild.
        assert c.daily_counts_view.counts() == oracle.daily_counts(erased_too=True)
        if self.history.stranger is not None:  # no key or record is made for them (architecture.md)
            assert c.keys.subject_for(self.history.stranger, create=False) is None
        for person, subject in self.subjects.items():
            found = {
                d.day: PersonDay(_nonzero(d.counts), d.moods_start, d.moods_end)
                for d in c.user_days.days_of(subject, days[0] - timedelta(days=60), days[-1] + timedelta(days=1))
            }
            assert found == oracle.person_days(person)
            for day in days:
                assert streak(found, day) == oracle.streak(person, day)
                self.check_indices(person, subject, day)
        for day in days:
            assert _nonzero(c.user_days.day_totals(day)) == oracle.day_totals(day)
            for back in (timedelta(0), timedelta(days=6), timedelta(days=29)):  # DAU, WAU, MAU
                assert c.user_days.active_people(day - back, day) == oracle.active_people(day - back, day)
            assert c.user_days.new_people(day) == oracle.new_people(day)
            closed: PlatformDay = c.store.repository.get(PlatformDay.create_id(day))
            assert _nonzero(closed.totals) == _nonzero(oracle.closed[day]), day

    def check_indices(self, person: uuid.UUID, subject: uuid.UUID, day: date) -> None:
        found = self.indices.of(subject, day)
        first = day - timedelta(days=27)
        if not any(first <= d <= day for d in self.oracle.active_days(person)):
            assert found is None  # erased, or nothing in the 28 days: no row
            return
        assert found is not None
        assert _flourish(found) == self.oracle.flourish(person, day)
        assert _add_value(found) == self.oracle.add_value(person, day)
        assert found.flourish.formula_version == found.add_value.formula_version == "2026-11.1"
        weights = {f"flourish_{k}": w for k, w in FLOURISH_WEIGHTS.items()}
        weights |= {f"add_value_{k}": w for k, w in ADD_VALUE_WEIGHTS.items()}
        assert msgspec.structs.asdict(found.weights) == weights

    def read_models(self, days: list[date]) -> dict[str, Any]:
        """Everything a reader can see, for the days and people of the history."""
        c = self.container
        span = (days[0] - timedelta(days=60), days[-1] + timedelta(days=1))
        probes = sorted({b.received_at for b in self.history.batches} | {self.clock.now()})
        live = {now: msgspec.structs.asdict(c.live_activity.snapshot(now)) for now in probes}
        return {
            "daily_counts": c.daily_counts_view.counts(),
            "microacts_today": {now: live[now].pop("microacts_today") for now in probes},
            "live": live,
            "user_days": {s: c.user_days.days_of(s, *span) for s in self.subjects.values()},
            "day_totals": {d: c.user_days.day_totals(d) for d in days},
            "active": {(d, n): c.user_days.active_people(d - timedelta(days=n), d) for d in days for n in (0, 6, 29)},
            "new_people": {d: c.user_days.new_people(d) for d in days},
            "indices": {(s, d): c.user_days_view.indices_of(s, d) for s in self.subjects.values() for d in days},
            "closed": {d: c.store.repository.get(PlatformDay.create_id(d)).totals for d in days},
        }

    def rebuild(self, *, together: bool) -> None:
        projections = list(self.container.projections.values())
        if together:  # as `addvalue projections rebuild --all` does
            catch_up_together(self.container.store, projections, page_size=self.page_size, rebuild=True)
        else:
            for projection in projections:
                projection.rebuild()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    """A count of 0 (a Wave left after 0 seconds) may or may not have a row: the same either way."""
    return {k: n for k, n in counts.items() if n}


def _flourish(found: PersonIndices) -> dict[str, float]:
    f = found.flourish
    parts = (f.mood_score, f.microact_score, f.community_score, f.consistency_score, f.value)
    return dict(zip((*FLOURISH_WEIGHTS, "value"), parts, strict=True))


def _add_value(found: PersonIndices) -> dict[str, float]:
    a = found.add_value
    parts = (a.sharing_score, a.community_score, a.wave_score, a.feedback_score, a.value)
    return dict(zip((*ADD_VALUE_WEIGHTS, "value"), parts, strict=True))


def _without_erased_share(models: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in models.items() if k not in ("daily_counts", "microacts_today")}


# --- the tests -------------------------------------------------------------------------------------


# Fewer examples on PostgreSQL: the oracle's side is the same on both, and there each costs ~4x as much.
EXAMPLES = {"sqlite": 20, "postgres": 10}


def test_every_metric_equals_a_plain_recount_of_the_events_before_and_after_a_rebuild(backend: str) -> None:
    @settings(max_examples=EXAMPLES[backend], deadline=None)
    @given(history=histories(), page_size=st.sampled_from([3, 1000]), together=st.booleans())
    def on_this_backend(history: History, page_size: int, together: bool) -> None:
        _play_compare_rebuild(backend, history, page_size, together=together)

    on_this_backend()


def _play_compare_rebuild(backend: str, history: History, page_size: int, *, together: bool) -> None:
    clock = FixedClock(START)
    with fresh_container(backend, clock) as container:
        run = Run(container, clock, history, page_size)
        for step in history.steps:
            run.play(step)
        days = run.finish()
        _describe(run)
        run.check_read_models(days)
        before = run.read_models(days)

        run.rebuild(together=together)
        after = run.read_models(days)
        assert _without_erased_share(after) == _without_erased_share(before)
        # Every day was closed after the last arrival, so its closing record holds every count,
        # an erased person's share included: a rebuild takes them from it (docs/metrics.md, rule 3).
        assert after["daily_counts"] == before["daily_counts"] == run.oracle.daily_counts(erased_too=True)
        assert after["microacts_today"] == before["microacts_today"]
        for day in days:  # nothing recounts a closed day
            assert container.jobs.run("close-day", day).rows == 0


def _describe(run: Run) -> None:
    """What the example held, for hypothesis's statistics (``hypothesis.event``)."""
    oracle, steps = run.oracle, run.history.steps
    late = sum(1 for b in run.history.batches for e in b.events if b.received_at - e.occurred_at > timedelta(days=1))
    note(f"collected events: {len(oracle.collected) // 25 * 25}+, late ones: {min(late, 5)}{'+' if late > 5 else ''}")
    for kind in (Resend, Erase, CloseDays):
        if any(isinstance(s, kind) for s in steps):
            note(kind.__name__)
    if not oracle.arrived_in_time_order(("wave_joined", "wave_left"), "wave_id"):
        note("Wave joins and leaves out of order")
    if run.history.stranger is not None:
        note("someone who never consented")
    if any(
        e.name == "user_consent_update" and not e.properties["analytics"] for b in run.history.batches for e in b.events
    ):
        note("a withdrawal")


def _send(container: Container, *raw: bytes) -> None:
    report = container.ingestion.ingest(list(raw), sent_at=None, principal=SERVICE)
    assert report.accepted == len(raw), report


def test_a_leave_or_completion_that_arrives_before_its_start_still_ends_it(container: Container) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    person = uuid.uuid4()
    _send(
        container,
        consent(person, analytics=True, at=now - timedelta(minutes=30)),
        event("wave_left", person, {"wave_id": "w", "duration_seconds": 600}, at=now - timedelta(minutes=10)),
        event(
            "activation_completed",
            person,
            {"activation_id": "a", "duration_seconds": 600},
            at=now - timedelta(minutes=10),
        ),
    )
    # The device was offline: what happened first arrives last.
    _send(
        container,
        event("wave_joined", person, {"wave_id": "w"}, at=now - timedelta(minutes=20)),
        event("activation_started", person, {"activation_id": "a"}, at=now - timedelta(minutes=20)),
    )
    container.live_activity.catch_up()
    snapshot = container.live_activity.snapshot(now)
    assert (snapshot.wave_participants, snapshot.activations_in_progress) == ({}, 0)


def test_a_rebuild_after_an_erasure_keeps_the_daily_counts_of_a_closed_day(container: Container) -> None:
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    person = uuid.uuid4()
    _send(
        container,
        consent(person, analytics=True, at=yesterday),
        event("microact_created", person, {"microact_id": "m", "category": "kindness"}, at=yesterday),
    )
    container.daily_counts.catch_up()
    assert container.jobs.run("close-day", yesterday.date()).rows == 1
    closed = container.daily_counts_view.counts()
    container.erasure.erase(person, requested_by="test")
    container.daily_counts.rebuild()
    assert container.daily_counts_view.counts() == closed
