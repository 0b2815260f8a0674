"""The real service as production runs it: ``addvalue serve`` in its own process, on a free port.

Tests that must see what an operator sees (uvicorn's WebSocket support, several workers, the lifespan
of the scheduler) use ``served`` (SQLite and PostgreSQL, one worker) or ``start_served`` directly. Each
service gets its own SQLite folder or PostgreSQL schema, dropped afterwards, and its own secrets, so
the test can mint tokens the service accepts.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from adapters.api_access.tokens import JwtTokens
from application.principals import Role
from tests.conftest import POSTGRES_URL

__all__ = ["Served", "free_port", "served", "start_served"]

_ROOT = Path(__file__).parents[2]
_STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class Served:
    """A running ``addvalue serve``: where it listens, how to mint its tokens, and where it writes."""

    base_url: str
    tokens: JwtTokens
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """Stop the service now (as at the block's end), leaving its database for the test to inspect."""
        if self.process is not None:
            _stopped(self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would: no graceful shutdown, nothing flushed."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")

    def output(self) -> str:
        """What ``addvalue serve`` printed so far (stdout and stderr)."""
        return (self.workdir / "serve.log").read_text()

    def token(self, subject: str, role: Role, *, valid_for: timedelta = timedelta(hours=1)) -> str:
        return self.tokens.mint(subject, role, valid_for=valid_for)

    def bearer(self, subject: str, role: Role, *, valid_for: timedelta = timedelta(hours=1)) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, role, valid_for=valid_for)}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _environment(backend: str, workdir: Path, port: int, extra: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """The service's environment (no ADDVALUE_ setting of the caller's leaks in); and the PG schema, if any."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADDVALUE_")}
    env |= {
        "PYTHONPATH": str(_ROOT),
        "ADDVALUE_PORT": str(port),
        "ADDVALUE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "ADDVALUE_JWT_SECRET": "served-secret-" + os.urandom(24).hex(),
        "ADDVALUE_LOG_LEVEL": "warning",
    }
    schema = None
    if backend == "sqlite":
        env["ADDVALUE_DATABASE_URL"] = f"sqlite:///{workdir}/var/addvalue.db"
    else:
        assert POSTGRES_URL is not None
        env["ADDVALUE_DATABASE_URL"] = POSTGRES_URL
        # A schema of the caller's (to arrange something in it before the service starts, and to read it
        # after) stays: the caller drops it. Else a fresh one, dropped when the service stops.
        if "ADDVALUE_DATABASE_SCHEMA" not in extra:
            schema = env["ADDVALUE_DATABASE_SCHEMA"] = f"s_{uuid.uuid4().hex[:12]}"
    return env | extra, schema


def _wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"addvalue serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"addvalue serve was not ready within {_STARTUP_SECONDS} s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def start_served(
    backend: str,
    workdir: Path,
    *,
    workers: int = 1,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    prepare: tuple[tuple[str, ...], ...] = (),
    port: int | None = None,
) -> Iterator[Served]:
    """Run ``addvalue serve --workers N [args]`` until the block ends (SIGTERM, then SIGKILL after 20 s).

    ``prepare``: ``addvalue`` commands run first, in the same environment (e.g. ``("demo", "--users", "5")``).
    What ``serve`` prints is in ``Served.output()``. ``port``: where to listen (default a free one), so a
    service restarted in the same folder is found by a client that kept its address."""
    port = port or free_port()
    environ, schema = _environment(backend, workdir, port, env or {})
    cli = [sys.executable, "-m", "entrypoints.cli"]
    for command_args in prepare:
        subprocess.run([*cli, *command_args], env=environ, cwd=workdir, check=True, capture_output=True)
    log = workdir / "serve.log"
    command = [*cli, "serve", "--workers", str(workers), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environ, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, base_url, log)
        tokens = JwtTokens(environ["ADDVALUE_JWT_SECRET"], issuer="addvalue", audience="addvalue-analytics")
        yield Served(base_url=base_url, tokens=tokens, workdir=workdir, env=environ, process=process)
    finally:
        _stopped(process)
        if schema is not None:
            assert POSTGRES_URL is not None
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                conn.execute(f"DROP SCHEMA IF EXISTS {schema}_keys CASCADE")


def _stopped(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # uvicorn's graceful shutdown: the lifespan ends, the scheduler stops
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture
def served(backend: str, tmp_path: Path) -> Iterator[Served]:
    """``addvalue serve`` (one worker) on SQLite and on PostgreSQL (``backend`` from tests/conftest.py)."""
    with start_served(backend, tmp_path) as service:
        yield service
