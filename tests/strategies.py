"""Hypothesis strategies for valid catalog events, derived from the schema itself.

Walking msgspec's type information keeps these in step with domain.catalog:
a new field or a changed bound changes what is generated.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import strategies as st
from msgspec import inspect as mi

from domain.catalog import CATALOG_EVENT_TYPES, CATEGORY_OF
from tests.fakes import CONTEXT


def _for_type(t: mi.Type) -> st.SearchStrategy[Any]:
    match t:
        case mi.IntType(ge=ge, le=le):
            return st.integers(min_value=ge, max_value=le)
        case mi.BoolType():
            return st.booleans()
        case mi.UUIDType():
            return st.uuids().map(str)
        case mi.LiteralType(values=values):
            return st.sampled_from(values)
        case mi.StrType(min_length=lo, max_length=hi):
            return st.text(min_size=lo or 0, max_size=min(hi or 80, 80)).filter(lambda s: len(s) >= (lo or 0))
        case mi.ListType(item_type=item, min_length=lo, max_length=hi):
            return st.lists(_for_type(item), min_size=lo or 0, max_size=hi or 5)
        case mi.UnionType(types=types):
            return st.one_of([_for_type(u) for u in types])
        case mi.NoneType():
            return st.none()
    raise NotImplementedError(f"no strategy for {t}")


def properties_for(event_type: type[msgspec.Struct]) -> st.SearchStrategy[dict[str, Any]]:
    info = mi.type_info(event_type)
    assert isinstance(info, mi.StructType)
    props = next(f.type for f in info.fields if f.name == "properties")
    assert isinstance(props, mi.StructType)
    required = {f.encode_name: _for_type(f.type) for f in props.fields if f.required}
    optional = {f.encode_name: _for_type(f.type) for f in props.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def within_the_last_29_days(draw: st.DrawFn) -> str:
    # Inside the catalog's 30 days of the wall clock the served app runs on, read when drawn: a long run never ages it.
    return (datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=draw(st.integers(0, 29 * 86400)))).isoformat()


@st.composite
def catalog_events(draw: st.DrawFn, event_type: type[msgspec.Struct] | None = None) -> dict[str, Any]:
    """A valid raw event (as a dict) of the given type, or of any of the 25."""
    chosen = event_type or draw(st.sampled_from(CATALOG_EVENT_TYPES))
    name = str(chosen.__struct_config__.tag)
    user_id = draw(st.uuids())
    properties = draw(properties_for(chosen))
    if name == "user_followed":
        properties["followed_user_id"] = str(draw(st.uuids().filter(lambda u: u != user_id)))
    return {
        "event_id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        "event_name": name,
        "event_category": CATEGORY_OF[name],
        "user_id": str(user_id),
        "session_id": draw(st.text(min_size=1, max_size=128)),
        "timestamp": within_the_last_29_days(draw),
        "properties": properties,
        "context": CONTEXT,
        "privacy": {"consent_given": draw(st.booleans()), "ip_anonymized": draw(st.booleans())},
    }


# Any JSON a client could send in place of a field: what the HTTP tests throw at the ingestion endpoints.
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

__all__ = ["JSON_VALUES", "catalog_events", "properties_for"]
