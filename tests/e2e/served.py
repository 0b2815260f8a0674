"""The real served process: ``addvalue serve`` in a subprocess on a free loopback port, and a token for it.

For what only the served process shows (uvicorn's own options: proxy headers, the ``server``
header), which an in-process test client never exercises.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from adapters.api_access.tokens import JwtTokens
from application.principals import Role

__all__ = ["Served", "served"]

_JWT_SECRET: Final = "served-test-secret-" + "x" * 40
_START_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Served:
    """A running ``addvalue serve``: its base URL, and tokens it accepts."""

    url: str

    def token(self, subject: str, role: Role) -> str:
        return JwtTokens(_JWT_SECRET, issuer="addvalue", audience="addvalue-analytics").mint(subject, role)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(folder: Path, env: Mapping[str, str] | None = None, *, args: tuple[str, ...] = ()) -> Iterator[Served]:
    """``addvalue serve`` on SQLite in ``folder``, with ``env`` added to a clean ``ADDVALUE_*`` environment."""
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ADDVALUE_")}
    environ |= {
        "ADDVALUE_DATABASE_URL": f"sqlite:///{folder}/addvalue.db",
        "ADDVALUE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "ADDVALUE_JWT_SECRET": _JWT_SECRET,
        "ADDVALUE_PORT": str(port),
        "ADDVALUE_LOG_LEVEL": "warning",
        **(env or {}),
    }
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "serve", *args], env=environ, stdout=log, stderr=log, cwd=folder
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(url, process, folder / "serve.log")
        yield Served(url=url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"addvalue serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"addvalue serve was not ready within {_START_SECONDS} s:\n{log.read_text()}")
