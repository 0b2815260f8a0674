"""Request bodies are read strictly, on every route that takes one: ``0`` is not ``false`` (the served process).

Litestar's own conversion is lax; the app decodes every ``data:`` body in one place
(entrypoints/http/bodies.py), and a refusal names the bad field's path.
"""

from __future__ import annotations

import uuid

import httpx

from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from entrypoints.http.bodies import StrictBody
from entrypoints.settings import Settings
from tests.e2e.api_support import error_of
from tests.e2e.served import Served

CHOICE = {"analytics": True, "personalization": False, "marketing": False, "location": False}
SILENCE = {"matchers": [{"name": "alertname", "value": "Pipeline Lag"}], "comment": "deploy", "duration": "1h"}


def test_true_typed_fields_refuse_0_with_the_path_of_the_field_on_every_route_with_a_body(served: Served) -> None:
    admin = served.bearer("admin-1", "admin")
    consent = f"/api/users/{uuid.uuid4()}/consent"
    with httpx.Client(base_url=served.base_url, headers=admin, timeout=10) as client:
        refusals = {
            "location": client.put(consent, json=CHOICE | {"location": 0}),
            "analytics": client.put(consent, json=CHOICE | {"analytics": 1}),
            "matchers[0].regex": client.post(
                "/api/alerts/silences", json=SILENCE | {"matchers": [{"name": "a", "value": "b", "regex": 0}]}
            ),
        }
        for path, answer in refusals.items():
            error = error_of(answer, 400)
            assert error["code"] == "bad_parameter", answer.text
            assert error["message"].startswith(f"{path}: Expected `bool`, got `int`"), answer.text
        assert client.put(consent, json=CHOICE).status_code == 200
        assert client.post("/api/alerts/silences", json=SILENCE).status_code == 200
        unknown = error_of(client.put(consent, json=CHOICE | {"extra": True}), 400)
        assert "unknown field `extra`" in unknown["message"]
        empty = error_of(client.put(consent, content=b""), 400)
        assert empty["message"] == "body: missing; this route takes a request body"
    assert "Traceback" not in served.output()


def test_every_route_that_takes_a_body_has_it_decoded_by_the_one_strict_decoder(settings: Settings) -> None:
    with bootstrap(settings) as container:
        app = create_app(container, run_jobs=False)
        handlers = [h for route in app.routes for h in getattr(route, "route_handlers", ())]
        with_body = [h for h in handlers if "data" in h.parsed_fn_signature.parameters]
        assert {h.name for h in with_body} >= {"user_consent_change", "alerts_silence", "page_me_consent"}
        assert all(h.resolve_data_dto() is StrictBody for h in with_body)
