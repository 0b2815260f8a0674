"""How each setting's text becomes a value: one reader per kind, each failing with the variable's name.

``load_settings`` (entrypoints/settings.py) calls these; they know nothing of the
``Settings`` object, so each can be read and tested alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.alerting.rules_file import load_alert_file
from application.alerting.rules import AlertConfig, RulesError
from application.reporting.scheduled_reports import REPORTS
from application.throttling import RateLimit
from domain.indices import IndexInputRejected, IndexWeights
from domain.network import ProxyNetwork, parse_trusted_proxies
from entrypoints import local_secrets

MIN_BURST = 2_500  # the largest batch a client may send (Segment's 2,500 messages) must fit

_SOURCE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MIN_WRITE_KEY_CHARS = 16
_ROLE_CLAIM = re.compile(r"[^\s.]+(\.[^\s.]+)*")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable and the fix."""


def jwks(value: str) -> str | None:
    """An https:// URL (http:// only on this machine, for a local Supabase), or a readable JWKS file."""
    if not value:
        return None
    if "://" in value:
        if not secure_url(value):
            raise SettingsError(f"ADDVALUE_JWT_JWKS: write an https:// URL or a file path, got {value!r}")
        return value
    try:
        keys = json.loads(Path(value).read_text()).get("keys")
    except (OSError, ValueError, AttributeError) as e:
        raise SettingsError(f"ADDVALUE_JWT_JWKS: cannot read a JWKS from the file {value!r}: {e}") from None
    if not isinstance(keys, list) or not keys:
        raise SettingsError(f'ADDVALUE_JWT_JWKS: the file {value!r} has no "keys" list; it must be a JWKS document')
    return value


def secure_url(value: str) -> bool:
    try:
        url = urlsplit(value)
    except ValueError:
        return False
    local = url.scheme == "http" and local_secrets.is_loopback(url.hostname or "")
    return bool(url.hostname) and (url.scheme == "https" or local)


def role_claim(value: str) -> str:
    if not _ROLE_CLAIM.fullmatch(value):
        raise SettingsError(
            f"ADDVALUE_JWT_ROLE_CLAIM: write a claim name or a dotted path like app_metadata.role, got {value!r}"
        )
    return value


def cors_origins(value: str) -> frozenset[str]:
    """``https://app.example.org,http://localhost:5173``: origins exactly as browsers send them, no path, no ``*``."""
    origins = set()
    for item in filter(None, (part.strip() for part in value.split(","))):
        origin = one_origin(item)
        if origin is None:
            raise SettingsError(
                "ADDVALUE_CORS_ORIGINS: expected comma-separated origins like https://app.example.org "
                f"(scheme, host, optional port; no path, no '*'), got {item!r}"
            )
        origins.add(origin)
    return frozenset(origins)


def one_origin(item: str) -> str | None:
    try:
        url = urlsplit(item)
        url.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.hostname or "@" in url.netloc:
        return None
    if url.path or url.query or url.fragment:
        return None
    return f"{url.scheme}://{url.netloc.lower()}"


def port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError(f"ADDVALUE_PORT: must be a TCP port number, got {value!r}")
    return int(value)


def write_keys(value: str) -> dict[str, str]:
    """``ios-app=KEY1,backend=KEY2``: the source name, then its key. A name may have several keys (rotation)."""
    sources: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, key = (part.strip() for part in item.partition("="))
        if not _SOURCE_NAME.fullmatch(name) or not key:
            raise SettingsError(
                "ADDVALUE_WRITE_KEYS: expected comma-separated <source>=<key> pairs, "
                "e.g. 'ios-app=<key>,backend=<key>'; source names are 1-64 letters, digits, '.', '_' or '-'"
            )
        if len(key) < _MIN_WRITE_KEY_CHARS:
            raise SettingsError(
                f"ADDVALUE_WRITE_KEYS: the key of '{name}' is shorter than {_MIN_WRITE_KEY_CHARS} characters; "
                'make one with python -c "import secrets; print(secrets.token_urlsafe(24))"'
            )
        if key in sources:
            raise SettingsError(
                f"ADDVALUE_WRITE_KEYS: '{name}' and '{sources[key]}' have the same key; give each its own"
            )
        sources[key] = name
    return sources


def number(name: str, env: Mapping[str, str], default: float) -> tuple[float, str]:
    """The variable as a number (or the default), with the text it was read from for messages."""
    raw = env.get(name)
    if raw is None:
        return default, str(default)
    try:
        return float(raw), raw
    except ValueError:
        raise SettingsError(f"{name}: must be a number, got {raw!r}") from None


def positive(name: str, env: Mapping[str, str], default: float) -> float:
    value, raw = number(name, env, default)
    if value <= 0:
        raise SettingsError(f"{name}: must be greater than 0, got {raw!r}")
    return value


def index_weights(value: str) -> dict[str, float]:
    """``flourish_mood=0.4,add_value_wave=0.3``: names of IndexWeights fields and numbers ≥ 0."""
    known = IndexWeights.__struct_fields__
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, number = (part.strip() for part in item.partition("="))
        if name not in known:
            raise SettingsError(f"ADDVALUE_INDEX_WEIGHTS: unknown weight {name!r}; the weights are {', '.join(known)}")
        try:
            weights[name] = float(number)
        except ValueError:
            raise SettingsError(f"ADDVALUE_INDEX_WEIGHTS: {name} must be a number, got {number!r}") from None
    try:
        IndexWeights(**weights)
    except IndexInputRejected as e:
        raise SettingsError(f"ADDVALUE_INDEX_WEIGHTS: {e}") from None
    return weights


def timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"ADDVALUE_REPORTING_TIMEZONE: {value!r} is not an IANA time zone; write e.g. UTC or Europe/London"
        ) from None
    return value


def not_negative(name: str, env: Mapping[str, str], default: float) -> float:
    value, raw = number(name, env, default)
    if not 0 <= value <= 3650:
        raise SettingsError(f"{name}: must be between 0 and 3650 days, got {raw!r}")
    return value


def whole(name: str, env: Mapping[str, str], default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}: must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def trusted_proxies(value: str) -> tuple[ProxyNetwork, ...]:
    try:
        return parse_trusted_proxies(value)
    except ValueError as e:
        raise SettingsError(f"ADDVALUE_TRUSTED_PROXIES: {e}") from None


def rate_limit(name: str, env: Mapping[str, str], default: RateLimit, *, min_burst: float = MIN_BURST) -> RateLimit:
    """``RATE/BURST`` in events (or refusals), e.g. ``100/2000``; ``0`` turns the limit off."""
    raw = env.get(name)
    if raw is None:
        return default
    if raw.strip() == "0":
        return RateLimit(rate=0, burst=0)
    rate, _, burst = raw.partition("/")
    try:
        limit = RateLimit(rate=float(rate), burst=float(burst))
    except ValueError:
        raise SettingsError(
            f"{name}: write RATE/BURST in events, e.g. 100/5000, or 0 for no limit; got {raw!r}"
        ) from None
    if limit.rate <= 0 or limit.burst < min_burst:
        why = " (one full Segment batch)" if min_burst == MIN_BURST else ""
        raise SettingsError(f"{name}: the rate must be above 0 and the burst at least {min_burst:g}{why}; got {raw!r}")
    return limit


def folder(name: str, env: Mapping[str, str]) -> Path | None:
    """A folder the service writes into, created when missing: nothing on its path may be a file."""
    if not env.get(name):
        return None
    path = Path(env[name])
    nearest = next((p for p in (path, *path.parents) if p.exists()), None)
    if nearest is not None and not nearest.is_dir():
        raise SettingsError(f"{name}: {str(nearest)!r} is a file, not a folder; name a folder (or a new path)")
    return path


def flag(name: str, env: Mapping[str, str], *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: write true or false, got {raw!r}")


def alerts(path: str | None) -> AlertConfig:
    try:
        return load_alert_file(path)
    except RulesError as e:
        raise SettingsError(f"ADDVALUE_ALERTS_FILE: {e}") from None


def report_recipients(env: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """ADDVALUE_REPORT_RECIPIENTS for every report, ADDVALUE_REPORT_RECIPIENTS_<REPORT> instead for one."""
    found = {}
    for report in REPORTS:
        own = f"ADDVALUE_REPORT_RECIPIENTS_{report.upper().replace('-', '_')}"
        name = own if own in env else "ADDVALUE_REPORT_RECIPIENTS"
        found[report] = tuple(a.strip() for a in env.get(name, "").split(",") if a.strip())
        if any("@" not in a for a in found[report]):
            raise SettingsError(f"{name}: expected comma-separated e-mail addresses, got {env[name]!r}")
    return found


def smtp_url(url: str | None) -> str | None:
    if url is not None and not url.startswith(("smtp://", "smtps://")):
        raise SettingsError(
            f"ADDVALUE_SMTP_URL: expected smtp://[user:password@]host[:port] or smtps://..., got {url!r}"
        )
    return url
