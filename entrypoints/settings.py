"""Settings: read from the environment once, into a frozen object.

Every bad value fails at start-up with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from adapters.alerting.rules_file import load_alert_file
from adapters.database_url import Database, parse_database_url
from application.alerting.rules import AlertConfig
from application.api_access.denials import DENIAL_LIMIT
from application.throttling import RateLimit
from domain.network import ProxyNetwork
from entrypoints import local_secrets
from entrypoints import setting_values as parse
from entrypoints.setting_values import MIN_BURST, SettingsError
from entrypoints.settings_sources import ErrorTrackingSettings, OutboxSettings, SourceParts, source_settings

__all__ = ["MIN_BURST", "Settings", "SettingsError", "alerts_file_setting", "load_settings"]

DEFAULT_DATABASE_URL = "sqlite:///var/addvalue.db"
# One full Segment batch of broken events at once, then one a second (3,600 an hour): a bad release, not a flood.
DEFAULT_QUARANTINE_LIMIT = RateLimit(rate=1, burst=MIN_BURST)


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
    # Per report (weekly-executive, monthly-executive): the addresses it is mailed to (docs/reports.md).
    report_recipients: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
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
    alerts = parse.alerts(alerts_file_setting(env))  # before any secret file is written
    local_dir = database.sqlite_path.parent if database.sqlite_path is not None else None
    port = parse.port(env.get("ADDVALUE_PORT", "8000"))  # checked before any secret file is written
    host = env.get("ADDVALUE_HOST", "127.0.0.1")
    archive_dir, backup_dir = (
        parse.folder("ADDVALUE_ARCHIVE_DIR", env),
        parse.folder("ADDVALUE_BACKUP_DIR", env),
    )  # likewise
    master_key, jwt_secret = _secrets(env, local_dir, host)
    return Settings(
        database=database,
        master_key=master_key,
        jwt_secret=jwt_secret,
        jwt_issuer=env.get("ADDVALUE_JWT_ISSUER", "addvalue"),
        jwt_audience=env.get("ADDVALUE_JWT_AUDIENCE", "addvalue-analytics"),
        jwt_jwks=parse.jwks(env.get("ADDVALUE_JWT_JWKS", "").strip()),
        jwt_role_claim=parse.role_claim(env.get("ADDVALUE_JWT_ROLE_CLAIM", "role")),
        host=host,
        port=port,
        log_level=env.get("ADDVALUE_LOG_LEVEL", "info").lower(),
        projection_interval_seconds=parse.positive("ADDVALUE_PROJECTION_INTERVAL_SECONDS", env, 5.0),
        rebuild_interval_hours=parse.positive("ADDVALUE_REBUILD_INTERVAL_HOURS", env, 24.0),
        write_keys=parse.write_keys(env.get("ADDVALUE_WRITE_KEYS", "")),
        trusted_proxies=parse.trusted_proxies(env.get("ADDVALUE_TRUSTED_PROXIES", "")),
        geoip_database=env.get("ADDVALUE_GEOIP_DATABASE") or None,
        session_timeout_minutes=parse.positive("ADDVALUE_SESSION_TIMEOUT_MINUTES", env, 30.0),
        serve_projections=parse.flag("ADDVALUE_SERVE_PROJECTIONS", env, default=True),
        rate_limit_user=parse.rate_limit("ADDVALUE_RATE_LIMIT_USER", env, RateLimit(rate=100, burst=5_000)),
        rate_limit_network=parse.rate_limit("ADDVALUE_RATE_LIMIT_NETWORK", env, RateLimit(rate=50_000, burst=200_000)),
        quarantine_limit_sender=parse.rate_limit("ADDVALUE_QUARANTINE_LIMIT_SENDER", env, DEFAULT_QUARANTINE_LIMIT),
        refusal_limit=parse.rate_limit("ADDVALUE_REFUSAL_LIMIT", env, DENIAL_LIMIT, min_burst=1),
        api_requests_per_hour=parse.whole("ADDVALUE_API_REQUESTS_PER_HOUR", env, 1000),
        reporting_timezone=parse.timezone(env.get("ADDVALUE_REPORTING_TIMEZONE", "UTC")),
        index_weights=parse.index_weights(env.get("ADDVALUE_INDEX_WEIGHTS", "")),
        erasure_grace_days=parse.not_negative("ADDVALUE_ERASURE_GRACE_DAYS", env, 30.0),
        hot_days=parse.positive("ADDVALUE_HOT_DAYS", env, 90.0),
        max_token_lifetime_days=parse.positive("ADDVALUE_MAX_TOKEN_LIFETIME_DAYS", env, 30.0),
        archive_dir=archive_dir,
        backup_dir=backup_dir,
        backup_retention_days=parse.positive("ADDVALUE_BACKUP_RETENTION_DAYS", env, 90.0),
        api_docs=parse.flag("ADDVALUE_API_DOCS", env, default=False),
        min_group_size=parse.whole("ADDVALUE_MIN_GROUP_SIZE", env, 5),
        metrics_token=env.get("ADDVALUE_METRICS_TOKEN") or None,
        metrics_dir=Path(env["ADDVALUE_METRICS_DIR"]) if env.get("ADDVALUE_METRICS_DIR") else None,
        alerts=alerts,
        alert_interval_seconds=parse.positive("ADDVALUE_ALERT_INTERVAL_SECONDS", env, 30.0),
        smtp_url=parse.smtp_url(env.get("ADDVALUE_SMTP_URL") or None),
        smtp_from=env.get("ADDVALUE_SMTP_FROM", "addvalue-alerts@localhost"),
        report_recipients=parse.report_recipients(env),
        external_url=env.get("ADDVALUE_EXTERNAL_URL", "").rstrip("/"),
        cors_origins=parse.cors_origins(env.get("ADDVALUE_CORS_ORIGINS", "")),
        **_sources(env),
    )


def alerts_file_setting(environ: Mapping[str, str] | None = None) -> str | None:
    """ADDVALUE_ALERTS_FILE alone (None: the seed's file), for commands that read nothing else."""
    return (os.environ if environ is None else environ).get("ADDVALUE_ALERTS_FILE") or None


def _sources(env: Mapping[str, str]) -> SourceParts:
    try:
        return source_settings(env)  # entrypoints/settings_sources.py
    except ValueError as e:
        raise SettingsError(str(e)) from None


def _secrets(env: Mapping[str, str], local_dir: Path | None, host: str) -> tuple[bytes, str]:
    """The master key and the JWT secret; development ones are written only for a service on loopback."""
    try:
        local_secrets.development_secrets_only_on_loopback(env, local_dir, host)
        return (
            local_secrets.master_key(env.get("ADDVALUE_MASTER_KEY"), local_dir),
            local_secrets.jwt_secret(env.get("ADDVALUE_JWT_SECRET"), local_dir),
        )
    except local_secrets.SecretRefused as e:
        raise SettingsError(f"{e.variable}: {e}") from None
