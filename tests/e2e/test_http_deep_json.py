"""A body nested deeper than the JSON decoder recurses is a client's mistake: 400, not 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app

DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(container, run_jobs=False)) as test_client:
        yield test_client


@pytest.mark.parametrize("body", [b'{"batch":[' + DEEP + b"]}", b'{"batch":[{"properties":' + DEEP + b"}]}"])
def test_a_batch_nested_too_deeply_is_400(client: TestClient, container: Container, body: bytes) -> None:  # type: ignore[type-arg]
    token = container.tokens.mint("svc", "service")
    response = client.post("/v1/events", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400, response.text
