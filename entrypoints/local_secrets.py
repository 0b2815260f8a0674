"""The master key and the JWT secret: from the environment, or, for development, from files in ``var/``.

The same rules hold wherever a secret comes from: a master key is base64 of 32
bytes, a JWT secret at least 32 characters. The files are a convenience for
trying the service on one machine with SQLite, so they are generated (and used)
only while the service listens on a loopback address; anywhere else the
variables must be set. A secret file anyone but its owner may read or write is
refused, and the folder that holds the files and the SQLite databases is
created for its owner only (0700).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

import structlog

from adapters.local_files import private_dir

__all__ = [
    "MIN_JWT_SECRET_CHARS",
    "SecretRefused",
    "development_secrets_only_on_loopback",
    "is_loopback",
    "jwt_secret",
    "master_key",
]

MIN_JWT_SECRET_CHARS = 32
_NEW_MASTER_KEY = 'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'

log = structlog.get_logger(__name__)


class SecretRefused(Exception):
    """A secret is missing, malformed or unsafe to use; ``variable`` is the setting to fix, the message how."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(message)
        self.variable = variable


class _Secret(NamedTuple):
    variable: str
    file_name: str
    required: str  # what to set it to, for the message when there is no file to fall back on
    generate: Callable[[], str]


_MASTER_KEY = _Secret(
    "ADDVALUE_MASTER_KEY",
    "master.key",
    f"base64 of 32 random bytes, e.g. {_NEW_MASTER_KEY}",
    lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
)
_JWT_SECRET = _Secret(
    "ADDVALUE_JWT_SECRET",
    "jwt.secret",
    f"at least {MIN_JWT_SECRET_CHARS} random characters",
    lambda: secrets.token_urlsafe(48),
)


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another name, or a wildcard such as 0.0.0.0: reachable from elsewhere


def development_secrets_only_on_loopback(env: Mapping[str, str], local_dir: Path | None, host: str) -> None:
    """Refuse the generated secrets of ``local_dir`` when ``host`` is reachable from other machines.

    A key generated beside the database is fine on a laptop; a service others can reach must be
    given its secrets by whoever runs it (kept apart from the data, and surviving the loss of its disk).
    """
    missing = [s.variable for s in (_MASTER_KEY, _JWT_SECRET) if env.get(s.variable) is None]
    if local_dir is None or not missing or is_loopback(host):
        return
    kept = [
        f"{s.variable}=$(cat {local_dir / s.file_name})"
        for s in (_MASTER_KEY, _JWT_SECRET)
        if s.variable in missing and (local_dir / s.file_name).exists()
    ]
    keep = f" (to keep the present ones: {' '.join(kept)})" if kept else ""
    raise SecretRefused(
        missing[0],
        f"ADDVALUE_HOST={host} is reachable from other machines, and secrets generated in {local_dir} are for "
        f"development on 127.0.0.1 only: set {' and '.join(missing)}{keep}",
    )


def master_key(value: str | None, local_dir: Path | None) -> bytes:
    """``ADDVALUE_MASTER_KEY``, or ``var/master.key`` (generated on first use) for SQLite."""
    text, where = _secret(_MASTER_KEY, value, local_dir)
    return _decoded_master_key(text, "" if where == "the variable" else f"{where}: ")


def jwt_secret(value: str | None, local_dir: Path | None) -> str:
    """``ADDVALUE_JWT_SECRET``, or ``var/jwt.secret`` (generated on first use) for SQLite."""
    text, where = _secret(_JWT_SECRET, value, local_dir)
    return _long_enough(text, where)


def _secret(secret: _Secret, value: str | None, local_dir: Path | None) -> tuple[str, str]:
    """The secret's text and where it came from ("the variable" or "the file ..."), for messages."""
    if value is not None:
        return value, "the variable"
    if local_dir is None:
        raise SecretRefused(secret.variable, f"required with PostgreSQL ({secret.required})")
    path = local_dir / secret.file_name
    if not path.exists():
        log.warning("secret.generated", path=str(path), hint=f"set {secret.variable} in production")
        _write_secret(path, secret.generate())
    return _read_private(path, secret.variable), f"the file {path}"


def _decoded_master_key(value: str, where: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise SecretRefused("ADDVALUE_MASTER_KEY", f"{where}not valid base64") from None
    if len(key) != 32:
        raise SecretRefused("ADDVALUE_MASTER_KEY", f"{where}must be base64 of 32 bytes, got {len(key)} bytes")
    return key


def _long_enough(secret: str, where: str) -> str:
    if len(secret) < MIN_JWT_SECRET_CHARS:
        raise SecretRefused(
            "ADDVALUE_JWT_SECRET",
            f"must be at least {MIN_JWT_SECRET_CHARS} characters for HS256; {where} has {len(secret)}",
        )
    return secret


def _read_private(path: Path, variable: str) -> str:
    """The file's text, if only its owner may read or write it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretRefused(
            variable,
            f"{path} may be read or written by others (mode {mode:04o}); run: chmod 600 {path}",
        )
    return path.read_text().strip()


def _write_secret(path: Path, value: str) -> None:
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
