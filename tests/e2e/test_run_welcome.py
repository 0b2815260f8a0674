"""`make run` (a demo, then `addvalue serve --print-token`): what it prints works against the served process."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.served import start_served


def test_serve_print_token_gives_an_analyst_token_and_a_curl_of_a_demo_days_platform_summary_that_answers_200(
    backend: str, tmp_path: Path
) -> None:
    demo = ("demo", "--users", "8", "--days", "3", "--if-empty")
    with start_served(backend, tmp_path, args=("--print-token",), prepare=(demo,)) as service:
        printed = service.output()
        token = re.search(r"export ANALYST_TOKEN=(\S+)", printed)
        curl = re.search(r'curl -H "Authorization: Bearer \$ANALYST_TOKEN" "(\S+)"', printed)
        assert token is not None, printed
        assert curl is not None, printed
        assert curl.group(1).startswith(service.base_url + "/api/metrics/platform-summary?date=")
        # The printed command, with the printed token, against the running service.
        answer = httpx.get(curl.group(1), headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    summary = answer.json()["data"]
    assert summary["metric"] == "platform_summary"
    assert summary["value"] > 0  # people were active on that demo day


def test_serve_print_token_prints_an_analyst_sign_in_link_to_the_populated_dashboards(
    backend: str, tmp_path: Path
) -> None:
    demo = ("demo", "--users", "8", "--days", "3", "--if-empty")
    with start_served(backend, tmp_path, args=("--print-token",), prepare=(demo,)) as service:
        printed = service.output()
        link = re.search(r"(http://\S+/sign-in/link/\S+)", printed)
        assert link is not None, printed
        with httpx.Client(base_url=service.base_url, timeout=10) as browser:
            signed_in = browser.get(link.group(1).replace("http://127.0.0.1:8000", service.base_url))
            assert signed_in.status_code == 303
            assert signed_in.headers["location"] == "/"
            overview = browser.get("/")
    assert overview.status_code == 200
    assert 'data-tile="dau"' in overview.text
