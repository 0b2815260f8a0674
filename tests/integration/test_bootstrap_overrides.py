"""bootstrap(settings, overrides=...): what the overrides give is used everywhere, and stays the caller's."""

from __future__ import annotations

from application.ingest.ports import GeoLookup
from application.read_models.ports import Leases
from domain.network import Geo
from entrypoints.bootstrap import Overrides, bootstrap
from entrypoints.settings import Settings
from tests.fakes import FixedClock


class HeldElsewhere(Leases):
    """Every lease belongs to another process."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def hold(self, name: str) -> bool:
        self.asked.append(name)
        return False


class NowhereGeo(GeoLookup):
    def __init__(self) -> None:
        self.closed = False

    def lookup(self, anonymized_ip: str) -> Geo | None:
        return None

    def close(self) -> None:
        self.closed = True


def test_the_given_clock_geo_and_leases_are_the_ones_every_part_uses(settings: Settings) -> None:
    clock, geo, leases = FixedClock(), NowhereGeo(), HeldElsewhere()
    with bootstrap(settings, overrides=Overrides(clock=clock, geo=geo, leases=leases)) as container:
        assert (container.clock, container.geo, container.leases) == (clock, geo, leases)
        assert container.analytics.today() == clock.now().date()
        assert container.daily_counts.catch_up().processed == 0  # held elsewhere: this process does not write
        assert leases.asked == ["daily_counts"]
    assert not geo.closed  # what the caller gave stays open; the caller closes it


def test_the_projections_are_built_with_their_upkeep(settings: Settings) -> None:
    with bootstrap(settings) as container:
        for projection in container.projections.values():
            assert projection.shadows is not None
            assert projection.lease is not None
            assert projection.lease()
            assert projection.clock is container.clock
