"""Geo enrichment: country and region of an anonymized address, from an operator-supplied ``.mmdb`` file.

Reads MaxMind GeoIP2/GeoLite2 City or Country databases and DB-IP's
databases in the same layout. The file is opened once and memory-mapped;
lookups are local and need no network. Without a file, ``NoGeoLookup``
leaves every event without a location.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Final

import maxminddb
import structlog

from application.errors import StorageError
from application.ingest.ports import GeoLookup
from domain.network import Geo

if TYPE_CHECKING:
    from maxminddb.types import Record
    from structlog.typing import FilteringBoundLogger

__all__ = ["GeoDatabaseError", "MaxmindGeoLookup", "NoGeoLookup", "build_geo_lookup"]

_IPV4_ONLY: Final = 4
# Words in ``database_type`` of the layouts we read: GeoLite2-City, GeoIP2-Country, DBIP-City-Lite, ...
_GEO_LAYOUTS: Final = ("city", "country", "location")


class GeoDatabaseError(StorageError):
    """The geo database cannot be used; the message names the file and what to do."""


class MaxmindGeoLookup(GeoLookup):
    """Country and first subdivision from a GeoIP2-City-style ``.mmdb`` file (the ``GeoLookup`` port).

    Safe to share between threads: the reader only reads a memory map.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._reader = maxminddb.open_database(self.path, maxminddb.MODE_AUTO)
        except (OSError, maxminddb.InvalidDatabaseError) as e:
            raise GeoDatabaseError(
                f"geo database {self.path}: cannot be opened as a MaxMind DB (.mmdb) file ({e}); "
                "point the setting at a GeoLite2-City or DB-IP city .mmdb, or leave it unset to turn geo off"
            ) from e
        metadata = self._reader.metadata()
        self.database_type: str = metadata.database_type
        self._ipv4_only = metadata.ip_version == _IPV4_ONLY

    def lookup(self, anonymized_ip: str) -> Geo | None:
        """Where ``anonymized_ip`` is, or None when the file does not know its country.

        Raises ``ValueError`` when ``anonymized_ip`` is not an IP address.
        """
        ip = ipaddress.ip_address(anonymized_ip)
        if ip.version != _IPV4_ONLY and self._ipv4_only:
            return None  # the reader would raise: an IPv4-only file knows nothing of IPv6
        return _geo(self._reader.get(ip))

    def close(self) -> None:
        """Release the file; lookups after this raise ``ValueError``."""
        self._reader.close()


class NoGeoLookup(GeoLookup):
    """The ``GeoLookup`` port when geo enrichment is off: nothing is ever found."""

    def lookup(self, anonymized_ip: str) -> Geo | None:  # noqa: ARG002 - the port's signature
        """Always None."""
        return None

    def close(self) -> None:
        """Nothing to release; present so both lookups close alike."""


def build_geo_lookup(path: str | None, log: FilteringBoundLogger | None = None) -> MaxmindGeoLookup | NoGeoLookup:
    """The lookup for the configured ``.mmdb`` ``path``; ``NoGeoLookup`` (logged once) when there is none.

    Raises ``GeoDatabaseError`` when a path is given but is not a usable
    database: a configured file that is missing should stop the start-up,
    not quietly turn geo off.
    """
    logger = structlog.get_logger(__name__) if log is None else log
    if not path:
        logger.info("geo.disabled", reason="no geo database (.mmdb) configured; events get no country or region")
        return NoGeoLookup()
    lookup = MaxmindGeoLookup(path)
    if not any(word in lookup.database_type.lower() for word in _GEO_LAYOUTS):
        # Still opened: a renamed build may be fine, but an ASN file, say, would find no country at all.
        logger.warning("geo.unexpected_database", path=str(lookup.path), database_type=lookup.database_type)
    logger.info("geo.enabled", path=str(lookup.path), database_type=lookup.database_type)
    return lookup


def _geo(record: Record | None) -> Geo | None:
    """``country.iso_code`` and ``subdivisions[0].iso_code`` of a GeoIP2 record, if it has a country."""
    if not isinstance(record, dict):
        return None
    country = _iso_code(record.get("country"))
    if country is None:
        return None
    subdivisions = record.get("subdivisions")
    # DB-IP's city files name subdivisions without an ISO code: region stays None there.
    region = _iso_code(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else None
    return Geo(country=country, region=region)


def _iso_code(node: Record | None) -> str | None:
    code = node.get("iso_code") if isinstance(node, dict) else None
    return code if isinstance(code, str) and code else None
