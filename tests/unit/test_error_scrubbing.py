"""What leaves for the error tracker: the log scrubber applied to every part of a Sentry event."""

from __future__ import annotations

import json
import uuid

from entrypoints.error_tracking import scrubbed

PERSON = uuid.uuid4()
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBsYW50ZWQ"


def _event() -> dict[str, object]:
    return {
        "event_id": "0123456789abcdef0123456789abcdef",
        "level": "error",
        "user": {"id": str(PERSON), "ip_address": "198.51.100.23"},
        "request": {
            "url": f"http://svc/api/users/{PERSON}/export",
            "headers": {"Authorization": f"Bearer {JWT}"},
            "data": {"user_id": str(PERSON)},
            "env": {"REMOTE_ADDR": "198.51.100.23"},
        },
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": f"no key for {PERSON} (ana@example.org from 198.51.100.23, token {JWT})",
                    "stacktrace": {"frames": [{"function": "lookup", "module": "adapters.geo", "lineno": 7}]},
                }
            ]
        },
        "extra": {"user_id": str(PERSON), "path": f"/api/users/{PERSON.hex}/history", "write_key": "k" * 24},
        "breadcrumbs": {"values": [{"message": f"GET http://svc/x?token={JWT}", "category": "httplib"}]},
        "contexts": {"trace": {"trace_id": "fedcba9876543210fedcba9876543210"}, "response": {"ip": "198.51.100.23"}},
        "tags": {"route": "/api/users/{user_id:uuid}/export", "process": "serve"},
    }


def test_nothing_personal_is_left_in_any_part_of_an_event() -> None:
    text = json.dumps(scrubbed(_event()))
    for planted in (str(PERSON), PERSON.hex, JWT, "198.51.100.23", "ana@example.org", "k" * 24):
        assert planted not in text, planted


def test_what_identifies_the_event_and_locates_the_fault_stays() -> None:
    clean = scrubbed(_event())
    assert "user" not in clean
    assert "request" not in clean  # no URL, header, body or address of the request
    assert clean["event_id"] == "0123456789abcdef0123456789abcdef"
    assert clean["contexts"]["trace"] == {"trace_id": "fedcba9876543210fedcba9876543210"}
    assert clean["tags"] == {"route": "/api/users/{user_id:uuid}/export", "process": "serve"}
    frame = clean["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert (frame["module"], frame["function"], frame["lineno"]) == ("adapters.geo", "lookup", 7)
    assert clean["exception"]["values"][0]["value"].startswith("no key for [uuid] ([email] from [ip], token [jwt])")
    assert clean["extra"]["user_id"] == "[redacted]"
