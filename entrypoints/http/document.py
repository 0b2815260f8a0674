"""What the OpenAPI document (``/schema/openapi.json``) says that Litestar cannot infer from the handlers.

The document is the one description of the API (docs/api.md): clients, the dashboards and the SDK docs read
their shapes there. Litestar writes most of it from the handlers' signatures; this module adds the rest:

- the two security schemes: ``BearerToken`` (a JWT, for /api and /v1/events) and ``WriteKey`` (HTTP Basic with
  the write key as user name and an empty password, for the Segment routes);
- the request bodies of the ingestion routes, which read the raw bytes themselves (a body may be gzip whatever
  its content type says) and so have no ``data`` parameter for Litestar to describe.

Each body schema says exactly what the route refuses as a whole (400 or 413) and what it takes: an event or
message that is not valid is not a refusal but an entry in the answer's ``rejected`` list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from litestar.openapi.spec import (
    Link,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIFormat

__all__ = [
    "BEARER",
    "CONSENT_CHANGE",
    "NEW_SILENCE",
    "PDF_OR_HTML",
    "SECURITY_SCHEMES",
    "WRITE_KEY",
    "ZIP_TOO",
    "events_body",
    "segment_batch_body",
    "segment_message_body",
]

BEARER: Final = "BearerToken"
WRITE_KEY: Final = "WriteKey"

SECURITY_SCHEMES: Final = {
    BEARER: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="A token from `addvalue token` (or the identity provider): /api by role, /v1/events as a "
        "service or as the user the events are about",
    ),
    WRITE_KEY: SecurityScheme(
        type="http",
        scheme="basic",
        description="A write key of ADDVALUE_WRITE_KEYS as the user name, empty password (Segment's and "
        "RudderStack's SDKs); a body may carry it as `writeKey` instead",
    ),
}

_ANY_EVENT: Final = Schema(description="one event; each is judged on its own and a bad one is listed in `rejected`")
_NULLABLE_OBJECT: Final = Schema(type=[OpenAPIType.OBJECT, OpenAPIType.NULL])
_NULLABLE_STRING: Final = Schema(type=[OpenAPIType.STRING, OpenAPIType.NULL])


def _with_body(name: str, schema: Schema, description: str) -> type[Operation]:
    """An Operation class for Litestar's ``operation_class``: the generated operation plus this JSON body."""
    body = RequestBody(
        content={"application/json": OpenAPIMediaType(schema=schema)}, description=description, required=True
    )

    @dataclass
    class WithBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    WithBody.__name__ = WithBody.__qualname__ = name
    return WithBody


def events_body(max_events: int, max_bytes: int) -> type[Operation]:
    """``POST /v1/events``: ``{"batch": [1..max_events events], "sent_at"?}``, nothing else."""
    schema = Schema(
        type=OpenAPIType.OBJECT,
        required=["batch"],
        additional_properties=False,
        properties={
            "batch": Schema(type=OpenAPIType.ARRAY, min_items=1, max_items=max_events, items=_ANY_EVENT),
            "sent_at": Schema(
                type=[OpenAPIType.STRING, OpenAPIType.NULL],
                format=OpenAPIFormat.DATE_TIME,
                description="when the device sent the batch, with its offset: corrects the device's clock",
            ),
        },
    )
    return _with_body(
        "EventsBatch", schema, f"catalog events; at most {max_bytes} bytes as sent and after gunzip (else 413)"
    )


def segment_batch_body(max_messages: int, max_bytes: int) -> type[Operation]:
    """``POST /v1/batch`` and ``/v1/b``: Segment's batch; fields other than these are ignored, as at Segment."""
    schema = Schema(
        type=OpenAPIType.OBJECT,
        required=["batch"],
        properties={
            "batch": Schema(type=OpenAPIType.ARRAY, max_items=max_messages, items=_ANY_EVENT),
            "context": _NULLABLE_OBJECT,
            "integrations": _NULLABLE_OBJECT,
            "sentAt": Schema(description="when the SDK sent the batch (ISO 8601)"),
            "writeKey": _NULLABLE_STRING,
        },
    )
    return _with_body("SegmentBatch", schema, f"Segment messages; at most {max_bytes} bytes before or after gzip")


def segment_message_body(max_bytes: int) -> type[Operation]:
    """``POST /v1/track`` and the other one-message routes: one Segment message, its type given by the path."""
    schema = Schema(type=OpenAPIType.OBJECT, properties={"writeKey": _NULLABLE_STRING})
    return _with_body("SegmentMessage", schema, f"one Segment message; at most {max_bytes} bytes")


_BINARY: Final = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


def _answers_200(content: dict[str, Schema], *, keep: bool) -> type[Operation]:
    """An Operation class whose 200 also (``keep``) or instead answers these media types."""

    @dataclass
    class Answers(Operation):
        def __post_init__(self) -> None:
            answer = (self.responses or {}).get("200")
            if isinstance(answer, OpenAPIResponse):
                given = {media: OpenAPIMediaType(schema=schema) for media, schema in content.items()}
                answer.content = {**(answer.content or {}), **given} if keep else given

    return Answers


# ``GET /api/users/{user_id}/export``: its 200 is the envelope, or with ``format=zip`` a zip file.
ZIP_TOO: Final = _answers_200({"application/zip": _BINARY}, keep=True)
# ``GET /api/reports/{report}/{period}``: its 200 is the PDF, or with ``format=html`` the HTML e-mail.
PDF_OR_HTML: Final = _answers_200(
    {"application/pdf": _BINARY, "text/html": Schema(type=OpenAPIType.STRING)}, keep=False
)


def _route(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


# After a person's consent is set, what can be asked about them: their consent, its history, their data, erasure.
_ABOUT_THE_PERSON: Final = {
    "consent": _route("/api/users/{user_id}/consent", "get"),
    "consent_history": _route("/api/users/{user_id}/consent/history", "get"),
    "export": _route("/api/users/{user_id}/export", "get"),
    "erase": _route("/api/users/{user_id}", "delete"),
}


_PURPOSES: Final = ("analytics", "personalization", "marketing", "location")
_CONSENT_BODY: Final = RequestBody(
    content={
        "application/json": OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.OBJECT,
                title="ConsentUpdate",
                required=list(_PURPOSES),
                additional_properties=False,
                properties={purpose: Schema(type=OpenAPIType.BOOLEAN) for purpose in _PURPOSES},
            )
        )
    },
    description="every purpose, true or false, and nothing else",
    required=True,
)


@dataclass
class ConsentChange(Operation):
    """``PUT /api/users/{user_id}/consent``: its body, and links from its 200 to the routes about the same person."""

    def __post_init__(self) -> None:
        self.request_body = _CONSENT_BODY
        answer = (self.responses or {}).get("200")
        if isinstance(answer, OpenAPIResponse):
            answer.links = {
                name: Link(operation_ref=ref, parameters={"user_id": "$request.path.user_id"})
                for name, ref in _ABOUT_THE_PERSON.items()
            }


CONSENT_CHANGE: Final = ConsentChange


_STRING: Final = OpenAPIType.STRING
_MATCHER: Final = Schema(
    type=OpenAPIType.OBJECT,
    title="Matcher",
    required=["name", "value"],
    additional_properties=False,
    properties={
        "name": Schema(type=_STRING, min_length=1, max_length=200),
        "value": Schema(type=_STRING, max_length=200),
        "regex": Schema(type=OpenAPIType.BOOLEAN),
    },
)
_SILENCE_BODY: Final = RequestBody(
    content={
        "application/json": OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.OBJECT,
                title="NewSilence",
                required=["matchers", "comment"],
                additional_properties=False,
                properties={
                    "matchers": Schema(type=OpenAPIType.ARRAY, items=_MATCHER, min_items=1, max_items=20),
                    "comment": Schema(type=_STRING, min_length=1, max_length=1000, pattern=r"\S"),
                    "duration": Schema(type=_STRING, pattern=r"^[1-9][0-9]{0,5}[smhd]$", default="2h"),
                },
            )
        )
    },
    description="the alerts to silence (every matcher must match their labels), why, and for how long",
    required=True,
)


@dataclass
class NewSilenceBody(Operation):
    """``POST /api/alerts/silences``: its body as the route reads it, strictly (entrypoints.http.alerts)."""

    def __post_init__(self) -> None:
        self.request_body = _SILENCE_BODY


NEW_SILENCE: Final = NewSilenceBody
