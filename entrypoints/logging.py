"""structlog, wired once: JSON lines on stderr, with personal data and secrets scrubbed from every line.

``scrub_personal_data`` runs right after the exception (if any) is rendered to
data, before anything else: a value under a personal or secret key is replaced
by ``"[redacted]"``, and in every other string (the event, messages, the
exception's text, nested dicts and lists, dict keys) JWTs, bearer and basic
credentials, UUIDs (user, subject, event ids), e-mail addresses and IP
addresses are replaced by a placeholder. Tracebacks carry no local variables.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, WrappedLogger

__all__ = ["configure_logging", "report_lines_to", "scrub_personal_data"]

REDACTED: Final = "[redacted]"
_MAX_DEPTH: Final = 12

# Keys whose value is personal or secret whatever it looks like (compared in snake_case, lower case).
_PERSONAL_KEYS: Final = frozenset(
    {"user_id", "app_user_id", "userid", "anonymous_id", "subject_id", "subject", "sub", "email", "e_mail"}
    | {"ip", "client_ip", "ip_address", "remote_addr", "remote_ip", "address", "peer", "x_real_ip"}
    | {"x_forwarded_for", "forwarded", "cookie", "cookies", "set_cookie", "authorization", "proxy_authorization"}
    | {"token", "access_token", "refresh_token", "id_token", "password", "passwd", "secret", "credentials", "dsn"}
    | {"key", "master_key", "write_key", "writekey", "api_key"}
)
_SECRET_SUFFIXES: Final = ("_token", "_key", "_secret", "_password")
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_JWT: Final = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_AUTH_SCHEME: Final = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_URL_CREDENTIALS: Final = re.compile(r"(?<=://)[^/\s@:]*:[^/\s@]*@")
_SECRET_PARAM: Final = re.compile(r"(?i)\b([a-z_]*(?:token|key|secret|password|passwd))=(?!\[)[^&\s,;'\"]+")
_UUID: Final = re.compile(r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b")
_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IPV4: Final = re.compile(r"(?<!\d)(?<!\d\.)(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?!\d|\.\d)")
# Candidates only (a time such as 13:05:01 looks alike): ipaddress decides.
_IPV6: Final = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%\w+)?(?:/\d{1,3})?(?![\w:])")


def scrub_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: no personal data or secret in what reaches the renderer."""
    return {_scrub_text(key): _scrub_field(key, value, 0) for key, value in event_dict.items()}


def _is_personal(key: str) -> bool:
    name = _CAMEL.sub("_", key).lower().replace("-", "_")
    return name in _PERSONAL_KEYS or name.endswith(_SECRET_SUFFIXES)


def _scrub_field(key: object, value: Any, depth: int) -> Any:
    if isinstance(key, str) and _is_personal(key) and value is not None:
        return REDACTED
    return _scrub_value(value, depth)


def _scrub_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {_scrub_text(k) if isinstance(k, str) else k: _scrub_field(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub_value(v, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[{len(value)} bytes]"
    return _scrub_text(repr(value))  # what the JSON renderer would write (repr), scrubbed


def _scrub_text(text: str) -> str:
    text = _JWT.sub("[jwt]", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} [token]", text)
    text = _URL_CREDENTIALS.sub("[credentials]@", text)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _UUID.sub("[uuid]", text)
    text = _EMAIL.sub("[email]", text)
    text = _IPV4.sub(_ip_or_same, text)
    return _IPV6.sub(_ip_or_same, text) if ":" in text else text


def _ip_or_same(match: re.Match[str]) -> str:
    found = match.group(0)
    core = found.rstrip(".")  # the end of a sentence
    address = core.split("/")[0].split("%")[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return found  # a time of day, a version, a MAC address: not an IP address
    return "[ip]" + found[len(core) :]


# Told each line before it is rendered, exception and all (entrypoints/error_tracking.py installs one).
_reporters: list[Callable[[str, EventDict], None]] = []


def report_lines_to(reporter: Callable[[str, EventDict], None] | None) -> None:
    """Every log line is also handed to ``reporter`` (method name, event dict), or to none."""
    _reporters[:] = [reporter] if reporter is not None else []


def _report(_: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    for reporter in _reporters:
        reporter(method_name, event_dict)
    return event_dict


def configure_logging(level: str = "info") -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _report,  # before the exception becomes text: the error tracker wants the exception itself
            # The exception becomes data first (no locals: they may hold anything), so it is scrubbed too.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            scrub_personal_data,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        # stderr: stdout is for what a command prints (tokens, history lines).
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_: object) -> structlog.PrintLogger:
    # Looked up at each use, not once: sys.stderr may be replaced (tests, daemons).
    return structlog.PrintLogger(sys.stderr)
