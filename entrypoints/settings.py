"""Settings: read from the environment once, into a frozen object.

Every bad value fails at start-up with a message naming the variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import structlog

from adapters.alerting.rules_file import load_alert_file
from adapters.database_url import Database, parse_database_url
from application.alerting.rules import AlertConfig, RulesError
from application.api_access.denials import DENIAL_LIMIT
from application.throttling import RateLimit
from domain.indices import IndexInputRejected, IndexWeights
from domain.network import ProxyNetwork, parse_trusted_proxies
from entrypoints import local_secrets
from entrypoints.settings_sources import ErrorTrackingSettings, OutboxSettings, SourceParts, source_settings

__all__ = ["Settings", "SettingsError", "load_settings"]

DEFAULT_DATABASE_URL = "sqlite:///var/addvalue.db"
MIN_BURST = 2_500  # the largest batch a client may send (Segment's 2,500 messages) must fit
# One full Segment batch of broken events at once, then one a second (3,600 an hour): a bad release, not a flood.
DEFAULT_QUARANTINE_LIMIT = RateLimit(rate=1, burst=MIN_BURST)

_SOURCE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MIN_WRITE_KEY_CHARS = 16
_ROLE_CLAIM = re.compile(r"[^\s.]+(\.[^\s.]+)*")

log = structlog.get_logger(__name__)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable and the fix."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything configurable, as read from ``ADDVALUE_*`` environment variables."""

    database: Database
    master_key: bytes
    jwt_secret: str
    jwt_issuer: str = "addvalue"
    jwt_audience: str = "addvalue-analytics"
    # RS256/ES256 public keys: a JWKS file path or an https:// URL (Supabase: .../auth/v1/.well-known/jwks.json).
    jwt_jwks: str | None = None
    # The claim holding the role: a name, or a dotted path such as app_metadata.role (Supabase).
    jwt_role_claim: str = "role"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    projection_interval_seconds: float = 5.0
    rebuild_interval_hours: float = 24.0
    # Segment/RudderStack write key -> the name of the source it stands for.
    write_keys: dict[str, str] = msgspec.field(default_factory=dict)
    # Proxies whose X-Forwarded-For is believed (none: the connection's peer is the client).
    trusted_proxies: tuple[ProxyNetwork, ...] = ()
    # A MaxMind/DB-IP .mmdb file for country and region; None: no geo.
    geoip_database: str | None = None
    session_timeout_minutes: float = 30.0
    # False when `addvalue project --follow` runs the projection jobs in a process of its own.
    serve_projections: bool = True
    # Token buckets: events per second and burst, per person and per anonymized network (0: off).
    rate_limit_user: RateLimit = RateLimit(rate=100, burst=5_000)
    rate_limit_network: RateLimit = RateLimit(rate=50_000, burst=200_000)
    # Rejected events one sender may leave in quarantine: per second and burst (0: off). Beyond it: 429.
    quarantine_limit_sender: RateLimit = DEFAULT_QUARANTINE_LIMIT
    # Refused API requests (401, 403) per anonymised network and per caller: per second and burst (0: off).
    refusal_limit: RateLimit = DENIAL_LIMIT
    # Analytics API requests per user per hour (sliding window, counted in the database).
    api_requests_per_hour: int = 1000
    # The time zone whose days, weeks and months the metrics count (an IANA name); changing it needs a rebuild.
    reporting_timezone: str = "UTC"
    # Overrides of the index weights (domain.indices.IndexWeights), by name; the rest keep their defaults.
    index_weights: dict[str, float] = msgspec.field(default_factory=dict)
    # Days between an erasure request and the destruction of the person's key (0: at once).
    erasure_grace_days: float = 30.0
    # Closed sessions older than this move from the hot event store to the archive (`addvalue archive run`).
    hot_days: float = 90.0
    # Bearer tokens valid for longer than this (exp - iat) are refused; `addvalue token` mints at most this.
    max_token_lifetime_days: float = 30.0
    # Where the archive's Parquet files go; None: archive/ beside the SQLite files, or var/archive/<schema>.
    archive_dir: Path | None = None
    # Where the daily backup job writes; None: backups/ beside the SQLite files, or var/backups/<schema>.
    backup_dir: Path | None = None
    # Backups older than this many days are deleted by the backup job, once its new one is written.
    backup_retention_days: float = 90.0
    # The OpenAPI UI pages (they load scripts from a public CDN); /schema/openapi.json is served either way.
    api_docs: bool = False
    # Aggregate values over fewer people than this are withheld (application/reporting/group_size.py).
    min_group_size: int = 5
    # GET /metrics: this bearer token required when set; when unset, only loopback peers are answered.
    metrics_token: str | None = None
    # The files of prometheus_client's multiprocess mode, shared by serve's workers and `addvalue worker`;
    # None: metrics/ beside the SQLite files, or var/metrics/<schema> (docs/operations.md).
    metrics_dir: Path | None = None
    # The alert rules and receivers (ADDVALUE_ALERTS_FILE, else the default file: the seed's four alerts).
    alerts: AlertConfig = msgspec.field(default_factory=lambda: load_alert_file(None))
    # Seconds between two evaluations of the alert rules (by the process that runs the jobs).
    alert_interval_seconds: float = 30.0
    # smtp://[user:password@]host[:port] or smtps://…, for email receivers; None: emails are not sent.
    smtp_url: str | None = None
    smtp_from: str = "addvalue-alerts@localhost"
    # The service's address as operators reach it, for the links in notifications.
    external_url: str = ""
    # Browser origins (scheme://host[:port]) whose pages may call the service; none: no CORS headers at all.
    cors_origins: frozenset[str] = frozenset()
    outbox: OutboxSettings = OutboxSettings()  # ADDVALUE_OUTBOX_*: the app databases' outboxes
    error_tracking: ErrorTrackingSettings = ErrorTrackingSettings()  # ADDVALUE_SENTRY_*: where errors are reported


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    url = env.get("ADDVALUE_DATABASE_URL", DEFAULT_DATABASE_URL)
    try:
        database = parse_database_url(url, schema=env.get("ADDVALUE_DATABASE_SCHEMA", "public"))
    except ValueError as e:
        raise SettingsError(f"ADDVALUE_DATABASE_URL: {e}") from None
    alerts = _alerts(env.get("ADDVALUE_ALERTS_FILE") or None)  # before any secret file is written
    local_dir = database.sqlite_path.parent if database.sqlite_path is not None else None
    port = _port(env.get("ADDVALUE_PORT", "8000"))  # checked before any secret file is written
    host = env.get("ADDVALUE_HOST", "127.0.0.1")
    try:
        local_secrets.development_secrets_only_on_loopback(env, local_dir, host)
        master_key = local_secrets.master_key(env.get("ADDVALUE_MASTER_KEY"), local_dir)
        jwt_secret = local_secrets.jwt_secret(env.get("ADDVALUE_JWT_SECRET"), local_dir)
    except local_secrets.SecretRefused as e:
        raise SettingsError(f"{e.variable}: {e}") from None
    return Settings(
        database=database,
        master_key=master_key,
        jwt_secret=jwt_secret,
        jwt_issuer=env.get("ADDVALUE_JWT_ISSUER", "addvalue"),
        jwt_audience=env.get("ADDVALUE_JWT_AUDIENCE", "addvalue-analytics"),
        jwt_jwks=_jwks(env.get("ADDVALUE_JWT_JWKS", "").strip()),
        jwt_role_claim=_role_claim(env.get("ADDVALUE_JWT_ROLE_CLAIM", "role")),
        host=host,
        port=port,
        log_level=env.get("ADDVALUE_LOG_LEVEL", "info").lower(),
        projection_interval_seconds=_positive("ADDVALUE_PROJECTION_INTERVAL_SECONDS", env, 5.0),
        rebuild_interval_hours=_positive("ADDVALUE_REBUILD_INTERVAL_HOURS", env, 24.0),
        write_keys=_write_keys(env.get("ADDVALUE_WRITE_KEYS", "")),
        trusted_proxies=_trusted_proxies(env.get("ADDVALUE_TRUSTED_PROXIES", "")),
        geoip_database=env.get("ADDVALUE_GEOIP_DATABASE") or None,
        session_timeout_minutes=_positive("ADDVALUE_SESSION_TIMEOUT_MINUTES", env, 30.0),
        serve_projections=_flag("ADDVALUE_SERVE_PROJECTIONS", env, default=True),
        rate_limit_user=_rate_limit("ADDVALUE_RATE_LIMIT_USER", env, RateLimit(rate=100, burst=5_000)),
        rate_limit_network=_rate_limit("ADDVALUE_RATE_LIMIT_NETWORK", env, RateLimit(rate=50_000, burst=200_000)),
        quarantine_limit_sender=_rate_limit("ADDVALUE_QUARANTINE_LIMIT_SENDER", env, DEFAULT_QUARANTINE_LIMIT),
        refusal_limit=_rate_limit("ADDVALUE_REFUSAL_LIMIT", env, DENIAL_LIMIT, min_burst=1),
        api_requests_per_hour=_whole("ADDVALUE_API_REQUESTS_PER_HOUR", env, 1000),
        reporting_timezone=_timezone(env.get("ADDVALUE_REPORTING_TIMEZONE", "UTC")),
        index_weights=_index_weights(env.get("ADDVALUE_INDEX_WEIGHTS", "")),
        erasure_grace_days=_not_negative("ADDVALUE_ERASURE_GRACE_DAYS", env, 30.0),
        hot_days=_positive("ADDVALUE_HOT_DAYS", env, 90.0),
        max_token_lifetime_days=_positive("ADDVALUE_MAX_TOKEN_LIFETIME_DAYS", env, 30.0),
        archive_dir=Path(env["ADDVALUE_ARCHIVE_DIR"]) if env.get("ADDVALUE_ARCHIVE_DIR") else None,
        backup_dir=Path(env["ADDVALUE_BACKUP_DIR"]) if env.get("ADDVALUE_BACKUP_DIR") else None,
        backup_retention_days=_positive("ADDVALUE_BACKUP_RETENTION_DAYS", env, 90.0),
        api_docs=_flag("ADDVALUE_API_DOCS", env, default=False),
        min_group_size=_whole("ADDVALUE_MIN_GROUP_SIZE", env, 5),
        metrics_token=env.get("ADDVALUE_METRICS_TOKEN") or None,
        metrics_dir=Path(env["ADDVALUE_METRICS_DIR"]) if env.get("ADDVALUE_METRICS_DIR") else None,
        alerts=alerts,
        alert_interval_seconds=_positive("ADDVALUE_ALERT_INTERVAL_SECONDS", env, 30.0),
        smtp_url=_smtp_url(env.get("ADDVALUE_SMTP_URL") or None),
        smtp_from=env.get("ADDVALUE_SMTP_FROM", "addvalue-alerts@localhost"),
        external_url=env.get("ADDVALUE_EXTERNAL_URL", "").rstrip("/"),
        cors_origins=_cors_origins(env.get("ADDVALUE_CORS_ORIGINS", "")),
        **_sources(env),
    )


def _sources(env: Mapping[str, str]) -> SourceParts:
    try:
        return source_settings(env)  # entrypoints/settings_sources.py
    except ValueError as e:
        raise SettingsError(str(e)) from None


def _jwks(value: str) -> str | None:
    """An https:// URL (http:// only on this machine, for a local Supabase), or a readable JWKS file."""
    if not value:
        return None
    if "://" in value:
        if not _secure_url(value):
            raise SettingsError(f"ADDVALUE_JWT_JWKS: write an https:// URL or a file path, got {value!r}")
        return value
    try:
        keys = json.loads(Path(value).read_text()).get("keys")
    except (OSError, ValueError, AttributeError) as e:
        raise SettingsError(f"ADDVALUE_JWT_JWKS: cannot read a JWKS from the file {value!r}: {e}") from None
    if not isinstance(keys, list) or not keys:
        raise SettingsError(f'ADDVALUE_JWT_JWKS: the file {value!r} has no "keys" list; it must be a JWKS document')
    return value


def _secure_url(value: str) -> bool:
    try:
        url = urlsplit(value)
    except ValueError:
        return False
    local = url.scheme == "http" and local_secrets.is_loopback(url.hostname or "")
    return bool(url.hostname) and (url.scheme == "https" or local)


def _role_claim(value: str) -> str:
    if not _ROLE_CLAIM.fullmatch(value):
        raise SettingsError(
            f"ADDVALUE_JWT_ROLE_CLAIM: write a claim name or a dotted path like app_metadata.role, got {value!r}"
        )
    return value


def _cors_origins(value: str) -> frozenset[str]:
    """``https://app.example.org,http://localhost:5173``: origins exactly as browsers send them, no path, no ``*``."""
    origins = set()
    for item in filter(None, (part.strip() for part in value.split(","))):
        origin = _origin(item)
        if origin is None:
            raise SettingsError(
                "ADDVALUE_CORS_ORIGINS: expected comma-separated origins like https://app.example.org "
                f"(scheme, host, optional port; no path, no '*'), got {item!r}"
            )
        origins.add(origin)
    return frozenset(origins)


def _origin(item: str) -> str | None:
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


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError(f"ADDVALUE_PORT: must be a TCP port number, got {value!r}")
    return int(value)


def _write_keys(value: str) -> dict[str, str]:
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


def _number(name: str, env: Mapping[str, str], default: float) -> tuple[float, str]:
    """The variable as a number (or the default), with the text it was read from for messages."""
    raw = env.get(name)
    if raw is None:
        return default, str(default)
    try:
        return float(raw), raw
    except ValueError:
        raise SettingsError(f"{name}: must be a number, got {raw!r}") from None


def _positive(name: str, env: Mapping[str, str], default: float) -> float:
    value, raw = _number(name, env, default)
    if value <= 0:
        raise SettingsError(f"{name}: must be greater than 0, got {raw!r}")
    return value


def _index_weights(value: str) -> dict[str, float]:
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


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"ADDVALUE_REPORTING_TIMEZONE: {value!r} is not an IANA time zone; write e.g. UTC or Europe/London"
        ) from None
    return value


def _not_negative(name: str, env: Mapping[str, str], default: float) -> float:
    value, raw = _number(name, env, default)
    if not 0 <= value <= 3650:
        raise SettingsError(f"{name}: must be between 0 and 3650 days, got {raw!r}")
    return value


def _whole(name: str, env: Mapping[str, str], default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}: must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def _trusted_proxies(value: str) -> tuple[ProxyNetwork, ...]:
    try:
        return parse_trusted_proxies(value)
    except ValueError as e:
        raise SettingsError(f"ADDVALUE_TRUSTED_PROXIES: {e}") from None


def _rate_limit(name: str, env: Mapping[str, str], default: RateLimit, *, min_burst: float = MIN_BURST) -> RateLimit:
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


def _flag(name: str, env: Mapping[str, str], *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: write true or false, got {raw!r}")


def _alerts(path: str | None) -> AlertConfig:
    try:
        return load_alert_file(path)
    except RulesError as e:
        raise SettingsError(f"ADDVALUE_ALERTS_FILE: {e}") from None


def _smtp_url(url: str | None) -> str | None:
    if url is not None and not url.startswith(("smtp://", "smtps://")):
        raise SettingsError(
            f"ADDVALUE_SMTP_URL: expected smtp://[user:password@]host[:port] or smtps://..., got {url!r}"
        )
    return url
