"""Geo lookups against a real, tiny ``.mmdb`` file in the GeoIP2 City layout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from adapters.geo import GeoDatabaseError, MaxmindGeoLookup, NoGeoLookup, build_geo_lookup
from application.errors import StorageError
from domain.network import Geo, anonymize_ip


def city(country: str | None, *subdivisions: str) -> dict[str, Any]:
    """A record as GeoLite2-City has them (trimmed): codes, ids and names."""
    record: dict[str, Any] = {"continent": {"code": "EU", "geoname_id": 6255148, "names": {"en": "Europe"}}}
    if country is not None:
        record["country"] = {"iso_code": country, "geoname_id": 2921044, "names": {"en": country}}
    if subdivisions:
        record["subdivisions"] = [{"iso_code": code, "geoname_id": 2950157 + i} for i, code in enumerate(subdivisions)]
    return record


def write_mmdb(path: Path, networks: dict[str, dict[str, Any]], *, ip_version: int = 6) -> Path:
    writer = MMDBWriter(ip_version=ip_version, ipv4_compatible=ip_version == 6, database_type="GeoLite2-City")
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def lookup(tmp_path: Path) -> Iterator[MaxmindGeoLookup]:
    path = write_mmdb(
        tmp_path / "city.mmdb",
        {
            "203.0.113.0/24": city("DE", "BE"),
            "2001:db8:abcd::/48": city("FR", "IDF", "75"),
            "198.51.100.0/24": city("LU"),
            "192.0.2.0/24": city(None),  # e.g. a satellite provider: a continent, no country
        },
    )
    geo = MaxmindGeoLookup(path)
    yield geo
    geo.close()


def test_an_anonymized_ipv4_address_inside_a_network_finds_its_country_and_region(lookup: MaxmindGeoLookup) -> None:
    assert lookup.lookup(anonymize_ip("203.0.113.77")) == Geo(country="DE", region="BE")


def test_an_anonymized_ipv6_address_finds_the_first_subdivision(lookup: MaxmindGeoLookup) -> None:
    assert lookup.lookup(anonymize_ip("2001:db8:abcd:1234::1")) == Geo(country="FR", region="IDF")


def test_a_mapped_address_is_looked_up_in_the_ipv4_space(lookup: MaxmindGeoLookup) -> None:
    assert lookup.lookup(anonymize_ip("::ffff:203.0.113.5")) == Geo(country="DE", region="BE")


def test_a_record_without_subdivisions_has_no_region(lookup: MaxmindGeoLookup) -> None:
    assert lookup.lookup(anonymize_ip("198.51.100.9")) == Geo(country="LU", region=None)


@pytest.mark.parametrize("address", ["203.0.114.77", "2001:db8:abce::1", "10.0.0.1", "::1"])
def test_an_address_outside_every_network_finds_nothing(lookup: MaxmindGeoLookup, address: str) -> None:
    assert lookup.lookup(anonymize_ip(address)) is None


def test_a_record_without_a_country_finds_nothing(lookup: MaxmindGeoLookup) -> None:
    assert lookup.lookup(anonymize_ip("192.0.2.1")) is None


def test_an_ipv4_only_file_finds_nothing_for_ipv6_instead_of_failing(tmp_path: Path) -> None:
    geo = MaxmindGeoLookup(write_mmdb(tmp_path / "v4.mmdb", {"203.0.113.0/24": city("DE", "BE")}, ip_version=4))
    try:
        assert geo.lookup("203.0.113.0") == Geo(country="DE", region="BE")
        assert geo.lookup("2001:db8:abcd::") is None
    finally:
        geo.close()


def test_a_lookup_of_something_that_is_not_an_address_is_a_programming_error(lookup: MaxmindGeoLookup) -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        lookup.lookup("unknown")


@pytest.mark.parametrize("content", [b"", b"not a MaxMind database\n" * 100])
def test_a_file_that_is_not_an_mmdb_is_refused_with_its_name(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    path.write_bytes(content)
    with pytest.raises(GeoDatabaseError, match=r"geo database .*GeoLite2-City\.mmdb: cannot be opened") as raised:
        MaxmindGeoLookup(path)
    assert isinstance(raised.value, StorageError)  # handled like every other unusable file


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match=r"missing\.mmdb: cannot be opened"):
        build_geo_lookup(str(tmp_path / "missing.mmdb"))


@pytest.mark.parametrize("path", [None, ""])
def test_without_a_path_geo_is_off_and_says_so_once(path: str | None) -> None:
    with structlog.testing.capture_logs() as logs:
        geo = build_geo_lookup(path, structlog.get_logger("test"))
    assert isinstance(geo, NoGeoLookup)
    assert geo.lookup("203.0.113.0") is None
    assert [(e["event"], e["log_level"]) for e in logs] == [("geo.disabled", "info")]
    assert "no geo database" in logs[0]["reason"]


def test_with_a_path_the_file_is_opened_and_named_in_the_log(tmp_path: Path) -> None:
    path = write_mmdb(tmp_path / "city.mmdb", {"203.0.113.0/24": city("DE", "BE")})
    with structlog.testing.capture_logs() as logs:
        geo = build_geo_lookup(str(path))
    try:
        assert isinstance(geo, MaxmindGeoLookup)
        assert geo.lookup("203.0.113.0") == Geo(country="DE", region="BE")
        assert logs == [
            {"event": "geo.enabled", "log_level": "info", "path": str(path), "database_type": "GeoLite2-City"}
        ]
    finally:
        geo.close()


def test_a_database_of_another_kind_is_opened_with_a_warning(tmp_path: Path) -> None:
    writer = MMDBWriter(database_type="GeoLite2-ASN")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"autonomous_system_number": 64500})
    writer.to_db_file(str(tmp_path / "asn.mmdb"))
    with structlog.testing.capture_logs() as logs:
        geo = build_geo_lookup(str(tmp_path / "asn.mmdb"))
    try:
        assert geo.lookup("203.0.113.0") is None
        assert [(e["event"], e["log_level"]) for e in logs] == [
            ("geo.unexpected_database", "warning"),
            ("geo.enabled", "info"),
        ]
    finally:
        geo.close()
