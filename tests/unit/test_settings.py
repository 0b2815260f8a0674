"""Settings are read once from the environment; bad values name the variable."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from adapters.retention.backup import default_backup_dir
from entrypoints.settings import SettingsError, load_settings

KEY = base64.b64encode(os.urandom(32)).decode()
SECRET = "s" * 40


def test_with_no_configuration_everything_lives_in_a_local_sqlite_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.database.kind == "sqlite"
    assert settings.database.sqlite_path == Path("var/addvalue.db")
    key_file = tmp_path / "var" / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(settings.master_key) == 32
    assert load_settings({}).master_key == settings.master_key  # generated once, then reused


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"ADDVALUE_DATABASE_URL": "mysql://x/y"}, "ADDVALUE_DATABASE_URL"),
        ({"ADDVALUE_DATABASE_URL": "sqlite://"}, "ADDVALUE_DATABASE_URL"),
        ({"ADDVALUE_DATABASE_URL": "postgresql://host-only"}, "ADDVALUE_DATABASE_URL"),
        ({"ADDVALUE_MASTER_KEY": "not base64!"}, "ADDVALUE_MASTER_KEY"),
        ({"ADDVALUE_MASTER_KEY": base64.b64encode(b"short").decode()}, "ADDVALUE_MASTER_KEY"),
        ({"ADDVALUE_MASTER_KEY": KEY, "ADDVALUE_JWT_SECRET": "too-short"}, "ADDVALUE_JWT_SECRET"),
        ({"ADDVALUE_MASTER_KEY": KEY, "ADDVALUE_JWT_SECRET": SECRET, "ADDVALUE_PORT": "80000"}, "ADDVALUE_PORT"),
        (
            {"ADDVALUE_MASTER_KEY": KEY, "ADDVALUE_JWT_SECRET": SECRET, "ADDVALUE_PROJECTION_INTERVAL_SECONDS": "0"},
            "ADDVALUE_PROJECTION_INTERVAL_SECONDS",
        ),
    ],
)
def test_a_bad_setting_fails_at_start_naming_the_variable(
    environ: dict[str, str], variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=f"^{variable}: "):
        load_settings(environ)


def test_postgresql_refuses_to_start_without_a_master_key() -> None:
    with pytest.raises(SettingsError, match="ADDVALUE_MASTER_KEY: required with PostgreSQL"):
        load_settings(
            {"ADDVALUE_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test", "ADDVALUE_JWT_SECRET": SECRET}
        )


def test_postgresql_settings_are_taken_as_given() -> None:
    settings = load_settings(
        {
            "ADDVALUE_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
            "ADDVALUE_DATABASE_SCHEMA": "analytics",
            "ADDVALUE_MASTER_KEY": KEY,
            "ADDVALUE_JWT_SECRET": SECRET,
            "ADDVALUE_PORT": "9000",
        }
    )
    assert (settings.database.kind, settings.database.schema, settings.port) == ("postgresql", "analytics", 9000)
    assert settings.master_key == base64.b64decode(KEY)


def test_ingestion_settings_are_read_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        {
            "ADDVALUE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
            "ADDVALUE_GEOIP_DATABASE": "/srv/geo/city.mmdb",
            "ADDVALUE_SESSION_TIMEOUT_MINUTES": "45",
            "ADDVALUE_RATE_LIMIT_USER": "50/5000",
            "ADDVALUE_RATE_LIMIT_NETWORK": "0",
            "ADDVALUE_QUARANTINE_LIMIT_SENDER": "0.5/3000",
            "ADDVALUE_SERVE_PROJECTIONS": "false",
        }
    )
    assert settings.serve_projections is False
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert settings.geoip_database == "/srv/geo/city.mmdb"
    assert settings.session_timeout_minutes == 45
    assert (settings.rate_limit_user.rate, settings.rate_limit_user.burst) == (50, 5000)
    assert not settings.rate_limit_network.enabled
    assert (settings.quarantine_limit_sender.rate, settings.quarantine_limit_sender.burst) == (0.5, 3000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADDVALUE_TRUSTED_PROXIES", "10.0.0.1/8"),
        ("ADDVALUE_RATE_LIMIT_USER", "fast"),
        ("ADDVALUE_RATE_LIMIT_USER", "100/10"),
        ("ADDVALUE_QUARANTINE_LIMIT_SENDER", "1/10"),
        ("ADDVALUE_SESSION_TIMEOUT_MINUTES", "-1"),
        ("ADDVALUE_SERVE_PROJECTIONS", "maybe"),
    ],
)
def test_bad_ingestion_settings_name_their_variable(
    name: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=f"^{name}: "):
        load_settings({name: value})


def test_token_settings_take_a_jwks_url_or_file_and_a_role_claim_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (load_settings({}).jwt_jwks, load_settings({}).jwt_role_claim) == (None, "role")
    url = "https://project.supabase.co/auth/v1/.well-known/jwks.json"
    settings = load_settings({"ADDVALUE_JWT_JWKS": url, "ADDVALUE_JWT_ROLE_CLAIM": "app_metadata.role"})
    assert (settings.jwt_jwks, settings.jwt_role_claim) == (url, "app_metadata.role")
    local = "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json"  # a local Supabase (supabase start)
    assert load_settings({"ADDVALUE_JWT_JWKS": local}).jwt_jwks == local
    Path("jwks.json").write_text('{"keys": [{"kty": "EC", "kid": "k"}]}')
    assert load_settings({"ADDVALUE_JWT_JWKS": "jwks.json"}).jwt_jwks == "jwks.json"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADDVALUE_JWT_JWKS", "http://project.supabase.co/auth/v1/.well-known/jwks.json"),
        ("ADDVALUE_JWT_JWKS", "file:///etc/jwks.json"),
        ("ADDVALUE_JWT_JWKS", "https://"),
        ("ADDVALUE_JWT_JWKS", "missing.json"),
        ("ADDVALUE_JWT_JWKS", "empty.json"),
        ("ADDVALUE_JWT_ROLE_CLAIM", "app_metadata..role"),
        ("ADDVALUE_JWT_ROLE_CLAIM", ""),
    ],
)
def test_bad_token_settings_name_their_variable(
    name: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("empty.json").write_text('{"keys": []}')
    with pytest.raises(SettingsError, match=f"^{name}: "):
        load_settings({name: value})


def test_index_weights_are_configurable_and_checked(tmp_path: Path) -> None:
    env = {"ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}
    chosen = load_settings({**env, "ADDVALUE_INDEX_WEIGHTS": "flourish_mood=0.5, add_value_wave=0"})
    assert chosen.index_weights == {"flourish_mood": 0.5, "add_value_wave": 0.0}
    for bad, message in (
        ("flourish_happiness=1", "unknown weight"),
        ("flourish_mood=lots", "must be a number"),
        ("flourish_mood=-1", "≥ 0"),
        ("flourish_mood=0,flourish_microact=0,flourish_community=0,flourish_consistency=0", "all 0"),
    ):
        with pytest.raises(SettingsError, match=message):
            load_settings({**env, "ADDVALUE_INDEX_WEIGHTS": bad})


def test_a_jwt_secret_file_shorter_than_32_characters_is_refused_like_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir(mode=0o700)
    secret_file = tmp_path / "var" / "jwt.secret"
    secret_file.write_text("abc\n")
    secret_file.chmod(0o600)
    with pytest.raises(SettingsError, match=r"^ADDVALUE_JWT_SECRET: must be at least 32 .* var/jwt.secret has 3"):
        load_settings({"ADDVALUE_MASTER_KEY": KEY})


@pytest.mark.parametrize(("name", "variable"), [("master.key", "ADDVALUE_JWT_SECRET"), ("jwt.secret", "")])
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620], ids=oct)
def test_a_secret_file_others_may_read_or_write_is_refused_with_the_chmod_that_fixes_it(
    name: str, variable: str, mode: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    load_settings({})  # generates both files, owner-only
    (tmp_path / "var" / name).chmod(mode)
    environ = {variable: SECRET} if variable else {"ADDVALUE_MASTER_KEY": KEY}  # only the file under test is read
    with pytest.raises(SettingsError, match=f"var/{name} may be read or written by others .*run: chmod 600 var/{name}"):
        load_settings(environ)


def test_the_data_folder_is_created_for_its_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    load_settings({})
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "jwt.secret").stat().st_mode) == 0o600


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "analytics.example.org"])
def test_generated_secrets_are_refused_on_a_host_other_machines_can_reach(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        SettingsError,
        match=rf"^ADDVALUE_MASTER_KEY: ADDVALUE_HOST={host} is reachable .* set ADDVALUE_MASTER_KEY and "
        "ADDVALUE_JWT_SECRET$",
    ):
        load_settings({"ADDVALUE_HOST": host})
    assert not (tmp_path / "var" / "master.key").exists()  # nothing generated
    with pytest.raises(SettingsError, match=r"^ADDVALUE_JWT_SECRET: .* set ADDVALUE_JWT_SECRET$"):
        load_settings({"ADDVALUE_HOST": host, "ADDVALUE_MASTER_KEY": KEY})
    given = load_settings({"ADDVALUE_HOST": host, "ADDVALUE_MASTER_KEY": KEY, "ADDVALUE_JWT_SECRET": SECRET})
    assert given.host == host


def test_generated_secrets_on_another_host_are_refused_with_the_command_that_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    load_settings({})  # generated while on 127.0.0.1
    with pytest.raises(SettingsError, match=r"keep the present ones: ADDVALUE_MASTER_KEY=\$\(cat var/master.key\)"):
        load_settings({"ADDVALUE_HOST": "0.0.0.0"})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_generated_secrets_are_used_on_a_loopback_host(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert len(load_settings({"ADDVALUE_HOST": host}).master_key) == 32


def test_the_maximum_token_lifetime_is_30_days_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).max_token_lifetime_days == 30
    assert load_settings({"ADDVALUE_MAX_TOKEN_LIFETIME_DAYS": "1"}).max_token_lifetime_days == 1
    with pytest.raises(SettingsError, match=r"^ADDVALUE_MAX_TOKEN_LIFETIME_DAYS: must be greater than 0"):
        load_settings({"ADDVALUE_MAX_TOKEN_LIFETIME_DAYS": "0"})


def test_backups_default_to_a_folder_beside_the_data_kept_90_days_and_both_are_configurable(tmp_path: Path) -> None:
    base = {"ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/addvalue.db"}
    settings = load_settings(base)
    assert (settings.backup_dir, settings.backup_retention_days) == (None, 90.0)
    assert default_backup_dir(settings.database) == tmp_path / "backups"
    chosen = load_settings(
        {**base, "ADDVALUE_BACKUP_DIR": str(tmp_path / "elsewhere"), "ADDVALUE_BACKUP_RETENTION_DAYS": "14"}
    )
    assert (chosen.backup_dir, chosen.backup_retention_days) == (tmp_path / "elsewhere", 14.0)
    with pytest.raises(SettingsError, match=r"^ADDVALUE_BACKUP_RETENTION_DAYS: must be greater than 0"):
        load_settings({**base, "ADDVALUE_BACKUP_RETENTION_DAYS": "0"})


def test_the_refusal_limit_is_one_a_second_with_60_at_once_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    limit = load_settings({}).refusal_limit  # docs/security.md: "60 at once, then one a second"
    assert (limit.rate, limit.burst) == (1.0, 60.0)
    assert not load_settings({"ADDVALUE_REFUSAL_LIMIT": "0"}).refusal_limit.enabled
    set_limit = load_settings({"ADDVALUE_REFUSAL_LIMIT": "2/10"}).refusal_limit
    assert (set_limit.rate, set_limit.burst) == (2.0, 10.0)
    with pytest.raises(SettingsError, match="ADDVALUE_REFUSAL_LIMIT"):
        load_settings({"ADDVALUE_REFUSAL_LIMIT": "1/0"})


@pytest.mark.parametrize("variable", ["ADDVALUE_ARCHIVE_DIR", "ADDVALUE_BACKUP_DIR"])
def test_a_folder_setting_naming_a_file_is_refused_before_any_secret_is_written(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    for where in ("a-file", "a-file/below"):
        with pytest.raises(SettingsError, match=rf"^{variable}: '.*a-file' is a file, not a folder; name a folder"):
            load_settings({variable: str(tmp_path / where)})
    assert not (tmp_path / "var" / "master.key").exists()
    assert load_settings({variable: str(tmp_path / "new" / "folder")}) is not None  # created when missing


def test_report_recipients_are_none_unless_set_and_one_report_may_have_its_own(tmp_path: Path) -> None:
    base = {"ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/addvalue.db"}
    assert load_settings(base).report_recipients == {"weekly-executive": (), "monthly-executive": ()}
    chosen = load_settings(
        base
        | {"ADDVALUE_REPORT_RECIPIENTS": "a@example.org, b@example.org"}
        | {"ADDVALUE_REPORT_RECIPIENTS_MONTHLY_EXECUTIVE": "cfo@example.org"}
    )
    assert chosen.report_recipients == {
        "weekly-executive": ("a@example.org", "b@example.org"),
        "monthly-executive": ("cfo@example.org",),
    }
    with pytest.raises(SettingsError, match=r"^ADDVALUE_REPORT_RECIPIENTS_WEEKLY_EXECUTIVE: expected comma-sep"):
        load_settings(base | {"ADDVALUE_REPORT_RECIPIENTS_WEEKLY_EXECUTIVE": "boss"})


def test_outboxes_are_none_and_delivered_rows_kept_24_hours_unless_configured(tmp_path: Path) -> None:
    base = {
        "ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db",
        "ADDVALUE_MASTER_KEY": KEY,
        "ADDVALUE_JWT_SECRET": SECRET,
    }
    default = load_settings(base).outbox
    assert (default.urls, default.retention_hours) == ((), 24.0)
    multi_host = "postgresql://analytics:pw@db-1:5432,db-2:5432/app?target_session_attrs=read-write"
    configured = load_settings(
        base
        | {
            "ADDVALUE_OUTBOX_URLS": f"postgresql://postgres@127.0.0.1:5432/app , {multi_host},",
            "ADDVALUE_OUTBOX_RETENTION_HOURS": "2.5",
        }
    ).outbox
    assert configured.urls == ("postgresql://postgres@127.0.0.1:5432/app", multi_host)
    assert configured.retention_hours == 2.5


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"ADDVALUE_OUTBOX_URLS": "mysql://app:secret@db/app"}, "ADDVALUE_OUTBOX_URLS"),
        ({"ADDVALUE_OUTBOX_URLS": "host=db dbname=app"}, "ADDVALUE_OUTBOX_URLS"),
        ({"ADDVALUE_OUTBOX_RETENTION_HOURS": "0"}, "ADDVALUE_OUTBOX_RETENTION_HOURS"),
        ({"ADDVALUE_OUTBOX_RETENTION_HOURS": "a day"}, "ADDVALUE_OUTBOX_RETENTION_HOURS"),
    ],
)
def test_bad_outbox_settings_name_their_variable_and_never_show_a_password(
    environ: dict[str, str], variable: str, tmp_path: Path
) -> None:
    base = {
        "ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db",
        "ADDVALUE_MASTER_KEY": KEY,
        "ADDVALUE_JWT_SECRET": SECRET,
    }
    with pytest.raises(SettingsError, match=variable) as refused:
        load_settings(base | environ)
    assert "secret" not in str(refused.value)


def _local(tmp_path: Path) -> dict[str, str]:
    return {
        "ADDVALUE_DATABASE_URL": f"sqlite:///{tmp_path}/a.db",
        "ADDVALUE_MASTER_KEY": KEY,
        "ADDVALUE_JWT_SECRET": SECRET,
    }


def test_error_tracking_is_off_and_untraced_unless_configured() -> None:
    env = {"ADDVALUE_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/x", "ADDVALUE_JWT_SECRET": "s" * 40}
    env["ADDVALUE_MASTER_KEY"] = "A" * 43 + "="
    default = load_settings(env).error_tracking
    assert (default.dsn, default.traces_rate, default.environment) == (None, None, "production")
    dsn = "https://0123abcd@glitchtip.example.org/3"
    chosen = load_settings(
        env
        | {"ADDVALUE_SENTRY_DSN": dsn, "ADDVALUE_SENTRY_TRACES_RATE": "0.05", "ADDVALUE_SENTRY_ENVIRONMENT": "staging"}
    ).error_tracking
    assert (chosen.dsn, chosen.traces_rate, chosen.environment) == (dsn, 0.05, "staging")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ADDVALUE_SENTRY_DSN", "sentry.example.org"),
        ("ADDVALUE_SENTRY_DSN", "https://sentry.example.org/3"),
        ("ADDVALUE_SENTRY_TRACES_RATE", "5%"),
        ("ADDVALUE_SENTRY_TRACES_RATE", "1.5"),
    ],
)
def test_bad_error_tracking_settings_name_their_variable(variable: str, value: str) -> None:
    env = {"ADDVALUE_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/x", "ADDVALUE_JWT_SECRET": "s" * 40}
    env |= {"ADDVALUE_MASTER_KEY": "A" * 43 + "=", variable: value}
    with pytest.raises(SettingsError, match=variable):
        load_settings(env)
