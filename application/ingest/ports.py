"""Ports of ingestion: what taking events in needs from outside."""

from __future__ import annotations

from typing import Protocol

from domain.network import Geo

__all__ = ["GeoLookup"]


class GeoLookup(Protocol):
    """Country and region of an already anonymized address (MaxMind/DB-IP .mmdb, or none)."""

    def lookup(self, anonymized_ip: str) -> Geo | None: ...
