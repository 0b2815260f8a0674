"""What the configured logging writes holds no personal data and no secret (entrypoints.logging)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from entrypoints.logging import configure_logging

USER = uuid.uuid4()
SUBJECT = uuid.uuid4()
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz"
OPAQUE_TOKEN = "opaque-token-7f3a9c0b1d"  # planted
EMAIL = "jane.doe@example.org"
IPV4, IPV6 = "203.0.113.77", "2001:db8:85a3::8a2e:370:7334"
WRITE_KEY = "wk-segment-abcdef123456"
MASTER = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY="


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Log through the real configuration, then read back what reached stderr as JSON objects."""
    saved = structlog.get_config()
    configure_logging("debug")

    def read() -> list[dict[str, Any]]:
        captured = capsys.readouterr()
        assert captured.out == ""
        return [json.loads(line) for line in captured.err.splitlines()]

    yield read
    structlog.configure(**saved)


def planted() -> list[str]:
    return [str(USER), USER.hex, str(SUBJECT), JWT, OPAQUE_TOKEN, EMAIL, IPV4, IPV6, WRITE_KEY, MASTER]


def assert_clean(text: str) -> None:
    leaked = [value for value in planted() if value in text]
    assert not leaked, f"leaked {leaked} in {text}"


def test_personal_and_secret_fields_are_redacted_whatever_their_value(lines: Any) -> None:
    log = structlog.get_logger("tests")
    log.info(
        "personal",
        user_id=str(USER),
        app_user_id=USER,
        subject_id=str(SUBJECT),
        email=EMAIL,
        client_ip=IPV4,
        address=IPV6,
        token=OPAQUE_TOKEN,
        authorization=f"Bearer {OPAQUE_TOKEN}",
        password="hunter2-planted",
        master_key=MASTER,
        write_key=WRITE_KEY,
        cookie=f"session={OPAQUE_TOKEN}",
        refresh_token=OPAQUE_TOKEN,
        signing_secret=OPAQUE_TOKEN,
        userId=str(USER),
        status=200,
    )
    (line,) = lines()
    assert_clean(json.dumps(line))
    assert "hunter2-planted" not in json.dumps(line)
    assert line["user_id"] == line["write_key"] == line["authorization"] == "[redacted]"
    assert line["userId"] == "[redacted]"
    assert (line["event"], line["status"], line["level"]) == ("personal", 200, "info")
    assert "timestamp" in line


def test_identifiers_tokens_and_addresses_are_scrubbed_from_any_text(lines: Any) -> None:
    log = structlog.get_logger("tests")
    log.warning(
        f"no consent for {USER}",
        note=f"user {USER} ({EMAIL}) from {IPV4} and {IPV6}, sent Authorization: Bearer {OPAQUE_TOKEN}",
        path=f"/api/users/{USER}/history?access_token={OPAQUE_TOKEN}",
        stream=USER.hex,
        dsn_hint=f"postgresql://app:{OPAQUE_TOKEN}@db.internal/prod",
        claims=JWT,
    )
    (line,) = lines()
    assert_clean(json.dumps(line))
    assert line["event"] == "no consent for [uuid]"
    assert "[ip]" in line["note"]
    assert "[email]" in line["note"]
    assert "Bearer [token]" in line["note"]
    assert line["claims"] == "[jwt]"


def test_nested_dicts_lists_and_dict_keys_are_scrubbed_too(lines: Any) -> None:
    structlog.get_logger("tests").info(
        "nested",
        batch={
            "context": {"ip": IPV4, "traits": {"email": EMAIL}},
            "messages": [{"userId": str(USER), "comment": f"write me at {EMAIL}"}, (JWT, {"writeKey": WRITE_KEY})],
            str(USER): 3,
        },
        raw=b"secret bytes",
    )
    (line,) = lines()
    assert_clean(json.dumps(line))
    assert line["batch"]["context"]["ip"] == "[redacted]"
    assert line["batch"]["messages"][0]["comment"] == "write me at [email]"
    assert line["batch"]["[uuid]"] == 3
    assert line["raw"] == "[12 bytes]"


def test_an_exception_message_and_traceback_are_scrubbed_and_carry_no_local_variables(lines: Any) -> None:
    log = structlog.get_logger("tests")
    token = OPAQUE_TOKEN  # a local variable: tracebacks must not show it
    try:
        try:
            raise KeyError(f"no key for subject {SUBJECT}")
        except KeyError as cause:
            raise RuntimeError(f"user {USER} with token {JWT} from {IPV4}: Bearer {token}") from cause
    except RuntimeError:
        log.exception("request.failed")
    (line,) = lines()
    text = json.dumps(line)
    assert_clean(text)
    assert "locals" not in text
    (error, cause) = line["exception"]
    assert error["exc_type"] == "RuntimeError"
    assert error["exc_value"] == "user [uuid] with token [jwt] from [ip]: Bearer [token]"
    assert cause["exc_value"] == "'no key for subject [uuid]'"
    assert (
        error["frames"][0]["name"]
        == "test_an_exception_message_and_traceback_are_scrubbed_and_carry_no_local_variables"
    )


def test_exc_info_passed_explicitly_is_scrubbed_as_well(lines: Any) -> None:
    try:
        raise ValueError(f"{EMAIL} {USER}")
    except ValueError as e:
        structlog.get_logger("tests").warning("read.failed", exc_info=e)
    (line,) = lines()
    assert_clean(json.dumps(line))
    assert line["exception"][0]["exc_value"] == "[email] [uuid]"


def test_bound_and_context_variables_are_scrubbed(lines: Any) -> None:
    structlog.contextvars.bind_contextvars(request_user=str(USER), client_ip=IPV4)
    try:
        structlog.get_logger("tests").bind(access_token=OPAQUE_TOKEN).info("bound")
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = lines()
    assert_clean(json.dumps(line))
    assert line["request_user"] == "[uuid]"


def test_ordinary_values_stay_as_they_were(lines: Any) -> None:
    values = {
        "view": "daily_counts",
        "processed": 1200,
        "ratio": 0.5,
        "ok": True,
        "nothing": None,
        "at": "2026-11-24T13:05:01.123456+00:00",
        "period": "2026-W48",
        "app_version": "2.4.1",
        "route": "/api/realtime/dau",
        "hash_prefix": "9f86d081884c7d65",
        "time": "13:05:01",
    }
    structlog.get_logger("tests").info("job.ran", **values)
    (line,) = lines()
    assert {k: line[k] for k in values} == values
