"""The session cookie's attributes, in process: behind TLS it is Secure and ``__Host-``; never readable by
scripts, never sent cross-site; a token past the session's 12 hours still gives a 12-hour session."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import msgspec
from litestar.testing import TestClient

from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.api_support import running_api


def sign_in_form(client: Any) -> dict[str, str]:
    """The sign-in form's hidden CSRF value (its cookie stays in the client, as a browser keeps it)."""
    page = client.get("/sign-in")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return {"csrf": found.group(1)}


def test_the_cookie_is_httponly_strict_and_not_secure_over_plain_http(settings: Settings) -> None:
    with running_api(settings) as api:
        link = api.container.sign_in.link_for("analyst", "ana")
        answer = api.client.get(f"/sign-in/link/{link}", follow_redirects=False)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("addvalue_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie
    assert "Max-Age=43200" in cookie  # 12 hours on the service's clock (fixed here)


def test_behind_tls_the_cookie_is_secure_with_the_host_prefix_and_ends_with_the_token(settings: Settings) -> None:
    # Real time: the token's exp is checked against the system clock by the verifier, as in production.
    with (
        bootstrap(settings) as container,
        TestClient(app=create_app(container, run_jobs=False), base_url="https://testserver.local") as tls,
    ):
        token = container.tokens.mint("ana", "analyst", valid_for=timedelta(minutes=30))
        answer = tls.post("/sign-in", data={"token": token, **sign_in_form(tls)}, follow_redirects=False)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-addvalue_session=")
    assert "Secure" in cookie
    assert "Path=/" in cookie
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 1700 <= max_age <= 1800  # the token's 30 minutes, not 12 hours


def test_a_refused_token_signs_no_one_in(settings: Settings) -> None:
    other = msgspec.structs.replace(settings, jwt_secret="another-secret-" + "y" * 40)
    with running_api(other) as elsewhere:
        foreign = elsewhere.container.tokens.mint("ana", "analyst")
    with running_api(settings) as api:
        answer = api.client.post(
            "/sign-in", data={"token": foreign, **sign_in_form(api.client)}, follow_redirects=False
        )
    assert answer.status_code == 401
    assert "addvalue_session" not in answer.headers.get("set-cookie", "")
