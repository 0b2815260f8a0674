"""The metrics of docs/metrics.md recomputed in plain Python from the raw events as they were sent.

A reference for the integration tests, written from docs/metrics.md and the
event catalog (/work/shared/event-catalog.md), not from the code under test:
it imports nothing from domain/, application/ or adapters/. It is slow and
obvious on purpose: every number is a loop over the collected events.

It replays what the pipeline is told, in order: batches of events (an
``event_id`` already stored, or seen earlier in the batch, is a duplicate;
nothing is collected from a person without analytics consent), erasures, and
the closing of days. Each event carries its true time; the tests send it
with a skewed device clock and ``sent_at``, and the pipeline must correct it
back (catalog, "Envelope").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

__all__ = ["Oracle", "PersonDay", "Received", "Sent"]

DAY = timedelta(days=1)
WINDOW = 28  # days of an index's window, D - 27 ... D (section 2)
ONLINE_WITHIN = timedelta(minutes=5)  # "online now": last seen in the last 5 minutes
ACTIVATION_WITHIN = timedelta(hours=24)  # an Activation started and not completed within 24 h
WAVE_WITHIN = timedelta(hours=24)  # the longest stay in a Wave the catalog allows (duration_seconds <= 86400)

# docs/metrics.md, section 1: which catalog event each count of a person's day counts.
COUNTED_AS = {
    "activation_completed": "activations_completed",
    "activation_round_completed": "rounds_completed",
    "microact_created": "microacts_created",
    "microact_shared": "microacts_shared",
    "post_created": "posts_created",
    "post_liked": "likes_given",
    "post_commented": "comments_given",
    "post_shared": "shares_given",
    "user_followed": "follows_given",
    "wave_joined": "waves_joined",
    "wave_interaction": "wave_interactions",
    "wave_microact_shared": "wave_microacts_shared",
    "wave_feedback_submitted": "feedback_given",
}
# Section 4, the default weights, in the order of the components.
FLOURISH_WEIGHTS = {"mood": 0.35, "microact": 0.20, "community": 0.20, "consistency": 0.25}
ADD_VALUE_WEIGHTS = {"sharing": 0.30, "community": 0.30, "wave": 0.25, "feedback": 0.15}


@dataclass(frozen=True)
class Sent:
    """One catalog event as the app sent it, with the time it really happened (UTC)."""

    event_id: UUID
    name: str
    user: UUID
    occurred_at: datetime
    properties: dict[str, Any]
    session: str = "session-1"


class Received(NamedTuple):
    """What the pipeline must answer for a batch."""

    accepted: int
    duplicates: int
    not_collected: int


@dataclass(frozen=True)
class PersonDay:
    """Section 1: one person's UTC day; ``counts`` holds the non-zero counts only."""

    counts: dict[str, int]
    moods_start: tuple[int, ...]
    moods_end: tuple[int, ...]


@dataclass
class Oracle:
    stored_ids: set[UUID] = field(default_factory=set)
    consented: set[UUID] = field(default_factory=set)
    erased: set[UUID] = field(default_factory=set)
    collected: list[Sent] = field(default_factory=list)  # in the order they were processed
    closed: dict[date, dict[str, int]] = field(default_factory=dict)

    # --- what happens -------------------------------------------------------------------------

    def send(self, batch: Sequence[Sent]) -> Received:
        """Process a batch in order; consent is the person's as of each event (catalog, "Consent")."""
        accepted = duplicates = not_collected = 0
        seen_here: set[UUID] = set()
        for event in batch:
            if event.event_id in self.stored_ids or event.event_id in seen_here:
                duplicates += 1
                continue
            seen_here.add(event.event_id)
            if event.name == "user_consent_update":
                self._consent(event)
            if event.user in self.consented:
                self.collected.append(event)
            elif event.name != "user_consent_update":
                not_collected += 1  # no consent (withdrawn, never given, or the person erased): no trace
                continue
            # Collected, or a consent update without analytics: recorded all the same, as proof of the choice.
            self.stored_ids.add(event.event_id)
            accepted += 1
        return Received(accepted, duplicates, not_collected)

    def _consent(self, update: Sent) -> None:
        if update.user in self.erased:
            raise NotImplementedError("a consent update after an erasure: not modelled here")
        if update.properties["analytics"]:
            self.consented.add(update.user)
        else:
            self.consented.discard(update.user)

    def erase(self, user: UUID) -> None:
        self.erased.add(user)
        self.consented.discard(user)  # the key and the user id's mapping go: the person is unknown

    def close_day(self, day: date) -> None:
        """Rule 4: a (re-)close keeps, for each total, the larger of the recorded and the recounted value."""
        recounted = self.recount(day)
        recorded = self.closed.get(day, recounted)
        self.closed[day] = {k: max(recorded.get(k, 0), recounted.get(k, 0)) for k in recorded.keys() | recounted}

    # --- per person ---------------------------------------------------------------------------

    def people(self) -> set[UUID]:
        """Everyone with collected events who is not erased."""
        return {e.user for e in self.collected if e.user not in self.erased}

    def events_of(self, user: UUID) -> list[Sent]:
        return [e for e in self.collected if e.user == user and user not in self.erased]

    def person_days(self, user: UUID) -> dict[date, PersonDay]:
        days: dict[date, tuple[Counter[str], list[int], list[int]]] = {}
        for e in self.events_of(user):
            counts, starts, ends = days.setdefault(e.occurred_at.date(), (Counter(), [], []))
            counts["events"] += 1
            if e.name in COUNTED_AS:
                counts[COUNTED_AS[e.name]] += 1
            if e.name == "wave_left":
                counts["wave_seconds"] += e.properties["duration_seconds"]
            if e.name == "wave_feedback_submitted":
                counts["feedback_rating_sum"] += e.properties["rating"]
            if e.name == "activation_mood_logged":
                (starts if e.properties["phase"] == "start" else ends).append(e.properties["mood"])
        return {
            day: PersonDay({k: n for k, n in c.items() if n}, tuple(sorted(s)), tuple(sorted(x)))
            for day, (c, s, x) in days.items()
        }

    def active_days(self, user: UUID) -> set[date]:
        return {e.occurred_at.date() for e in self.events_of(user)}

    def streak(self, user: UUID, on: date) -> int:
        """Section 5: consecutive active days ending on ``on``, or on the day before while ``on`` may still come."""
        active = {d for d in self.active_days(user) if d <= on}
        day = on if on in active else on - DAY
        count = 0
        while day in active:
            count += 1
            day -= DAY
        return count

    # --- platform -----------------------------------------------------------------------------

    def daily_counts(self, *, erased_too: bool) -> dict[tuple[date, str], int]:
        """Collected events per UTC day and name; with ``erased_too``, the erased people's too."""
        counted = Counter(
            (e.occurred_at.date(), e.name) for e in self.collected if erased_too or e.user not in self.erased
        )
        return dict(counted)

    def active_people(self, first: date, last: date) -> int:
        """Section 6: DAU (first = last), WAU (6 days before), MAU (29 days before)."""
        return sum(1 for p in self.people() if any(first <= d <= last for d in self.active_days(p)))

    def new_people(self, day: date) -> int:
        return sum(1 for p in self.people() if min(self.active_days(p)) == day)

    def day_totals(self, day: date) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for person in self.people():
            found = self.person_days(person).get(day)
            if found is not None:
                totals.update(found.counts)
        return {k: n for k, n in totals.items() if n}

    def recount(self, day: date) -> dict[str, int]:
        """What closing ``day`` now records: the day's totals and the people active as of it."""
        return {
            **self.day_totals(day),
            "daily_active_people": self.active_people(day, day),
            "weekly_active_people": self.active_people(day - 6 * DAY, day),
            "monthly_active_people": self.active_people(day - 29 * DAY, day),
            "new_people": self.new_people(day),
            # Each event name's count as the live daily counts hold it (an erased person's share included).
            **{f"event:{name}": n for (d, name), n in self.daily_counts(erased_too=True).items() if d == day},
        }

    # --- live activity ------------------------------------------------------------------------

    def daily_active_users(self, now: datetime) -> int:
        return self.active_people(now.date(), now.date())

    def online_now(self, now: datetime) -> int:
        people = self.people()
        return sum(1 for p in people if max(e.occurred_at for e in self.events_of(p)) >= now - ONLINE_WITHIN)

    def microacts_today(self, now: datetime, *, erased_too: bool) -> int:
        return self.daily_counts(erased_too=erased_too).get((now.date(), "microact_created"), 0)

    def wave_participants(self, now: datetime) -> dict[str, int]:
        """People whose latest join or leave of a Wave, by when it happened, is a join within the last 24 h."""
        latest: dict[tuple[UUID, str], Sent] = {}
        for e in self.collected:
            if e.name in ("wave_joined", "wave_left") and e.user not in self.erased:
                key = (e.user, e.properties["wave_id"])
                if key not in latest or e.occurred_at > latest[key].occurred_at:
                    latest[key] = e
        return dict(
            Counter(
                wave
                for (_, wave), e in latest.items()
                if e.name == "wave_joined" and e.occurred_at >= now - WAVE_WITHIN
            )
        )

    def activations_in_progress(self, now: datetime) -> int:
        """Activations started in the last 24 hours and not completed."""
        started = {
            (e.user, e.properties["activation_id"]): e.occurred_at
            for e in self.collected
            if e.name == "activation_started" and e.user not in self.erased
        }
        ended = [e for e in self.collected if e.name == "activation_completed"]
        completed = {(e.user, e.properties["activation_id"]) for e in ended}
        return sum(1 for key, at in started.items() if key not in completed and at >= now - ACTIVATION_WITHIN)

    def arrived_in_time_order(self, names: Iterable[str], key: str) -> bool:
        """Whether, for each person and ``key`` property, these events were processed in the order they happened."""
        chosen = set(names)
        last: dict[tuple[UUID, str], datetime] = {}
        for e in self.collected:
            if e.name in chosen:
                k = (e.user, e.properties[key])
                if k in last and e.occurred_at < last[k]:
                    return False
                last[k] = e.occurred_at
        return True

    # --- indices (sections 2 and 3) -----------------------------------------------------------

    def flourish(self, user: UUID, on: date) -> dict[str, float]:
        days = self._window(user, on)
        sums = _sums(days)
        created_and_shared = sums["microacts_created"] + sums["microacts_shared"] + sums["wave_microacts_shared"]
        active, streak = len(days), self.streak(user, on)  # every PersonDay has at least one event
        components = {
            "mood": _mood(days),
            "microact": pct(sat(created_and_shared, 8)),
            "community": pct(sat(_given(sums) + 2 * sums["waves_joined"] + sums["wave_interactions"], 12)),
            "consistency": pct(0.6 * min(1, active / 20) + 0.4 * min(1, streak / 7)),
        }
        return {**components, "value": weighted(components, FLOURISH_WEIGHTS)}

    def add_value(self, user: UUID, on: date) -> dict[str, float]:
        sums = _sums(self._window(user, on))
        wave = 2 * sums["waves_joined"] + sums["wave_interactions"] + 2 * sums["wave_microacts_shared"]
        components = {
            "sharing": pct(sat(sums["microacts_shared"], 4)),
            "community": pct(sat(_given(sums), 10)),
            "wave": pct(sat(wave + sums["wave_seconds"] / 600, 8)),
            "feedback": pct(sat(sums["feedback_given"], 2)),
        }
        return {**components, "value": weighted(components, ADD_VALUE_WEIGHTS)}

    def _window(self, user: UUID, on: date) -> list[PersonDay]:
        """The person's days D - 27 ... D, oldest first.

        In date order because float sums depend on order: a mean that the docs
        round half to even must come out bit for bit as the code's does.
        """
        first = on - (WINDOW - 1) * DAY
        return [p for d, p in sorted(self.person_days(user).items()) if first <= d <= on]


def sat(x: float, half: float) -> float:
    return 1 - float(0.5 ** (x / half))


def pct(share: float) -> float:
    return round(100 * min(1.0, max(0.0, share)), 1)


def weighted(components: dict[str, float], weights: dict[str, float]) -> float:
    """The weighted mean of the rounded components, rounded to one decimal (section 2)."""
    return round(sum(weights[k] * components[k] for k in weights) / sum(weights.values()), 1)


def _sums(days: Iterable[PersonDay]) -> Counter[str]:
    total: Counter[str] = Counter()
    for day in days:
        total.update(day.counts)
    return total


def _given(sums: Counter[str]) -> int:
    """Contributions given: a post or a comment counts two, a like, a share or a follow one."""
    posts_and_comments = sums["posts_created"] + sums["comments_given"]
    return 2 * posts_and_comments + sums["likes_given"] + sums["shares_given"] + sums["follows_given"]


def _mood(days: Iterable[PersonDay]) -> float:
    """Level: mean over Activation Days of the day's mean reading; lift: mean end - start where both."""
    activation_days = [d for d in days if d.moods_start or d.moods_end]
    if not activation_days:
        return 0.0
    level = _mean([_mean(d.moods_start + d.moods_end) for d in activation_days])
    lifts = [_mean(d.moods_end) - _mean(d.moods_start) for d in activation_days if d.moods_start and d.moods_end]
    lift = _mean(lifts) if lifts else 0.0
    return pct((level - 1) / 9 + 0.25 * lift / 9)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)
