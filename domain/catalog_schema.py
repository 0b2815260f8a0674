"""The catalog as a JSON Schema: what clients type their events from (the TypeScript SDK in ``sdk/``).

The schema is made from :data:`domain.catalog.CatalogEvent` itself, so it cannot drift from what the
service accepts; ``addvalue catalog schema`` prints it, and a test compares it with the copy checked
into ``sdk/``. msgspec's schema gives every event the whole category enum; each event's own category
is pinned here, since a client must send exactly that one.
"""

from __future__ import annotations

from typing import Any

import msgspec

from domain.catalog import CATALOG_EVENT_TYPES, CATEGORY_OF, CatalogEvent

__all__ = ["catalog_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def catalog_schema() -> dict[str, Any]:
    """One event of the 25 (any of them), with every envelope field, property, bound and enum."""
    schema: dict[str, Any] = msgspec.json.schema(CatalogEvent)
    definitions = schema["$defs"]
    for event_type in CATALOG_EVENT_TYPES:
        fields = definitions[event_type.__name__]["properties"]
        fields["event_category"] = {"enum": [CATEGORY_OF[event_type.name]]}
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "AddValue catalog event",
        "description": "One event of the AddValue event catalog, as POST /v1/events takes it in its batch.",
        **schema,
    }
