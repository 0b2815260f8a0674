"""A private, throw-away PostgreSQL cluster that a test may crash at will.

Fault-injection runs must never touch the machine's shared cluster on port
5432: other people's tests use it. So each run makes its own cluster with
``initdb`` in a temporary folder, on a free port, listening only on
127.0.0.1, and removes it afterwards. The server is started as ``postgres``
directly (not through ``pg_ctl``) so that its postmaster, and each of its
backends, can be found and SIGKILLed by id; nothing else is ever signalled.

    with PgCluster.create() as cluster:
        url = cluster.url          # postgresql://postgres@127.0.0.1:<port>/postgres
        cluster.crash()            # SIGKILL the postmaster
        cluster.start()            # crash recovery, then accepting connections

Used by bench/fault_ingest.py and tests/integration/test_database_outage.py.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

import psycopg

__all__ = ["ClusterError", "PgCluster", "find_bin_dir", "free_port"]

# Debian's layout; ADDVALUE_PG_BINDIR overrides it.
DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
KillMode = Literal["postmaster", "all"]


class ClusterError(RuntimeError):
    """The private cluster could not be created, started or stopped; the message says why."""


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``, or None when the server is not installed."""
    candidates = [Path(p) for p in [os.environ.get("ADDVALUE_PG_BINDIR", "")] if p]
    candidates.append(DEFAULT_BIN_DIR)
    # Any other major version Debian may have installed, newest first.
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if found := shutil.which("initdb"):
        candidates.append(Path(found).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    return None


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice, so never 5432 while that is taken)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PgCluster:
    """One private PostgreSQL cluster: its folder, port and processes."""

    def __init__(self, bin_dir: Path, base: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.base = base
        self.data = base / "data"
        self.port = port
        self.log_path = base / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.starts = 0
        self.kills = 0
        self._server: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # PostgreSQL refuses to run as root; as root we run it as the `postgres` OS user.
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    # -- life cycle -------------------------------------------------------------
    @classmethod
    def create(cls, bin_dir: Path | None = None) -> PgCluster:
        """``initdb`` a new cluster in a new temporary folder; removed again if this fails."""
        found = bin_dir or find_bin_dir()
        if found is None:
            raise ClusterError("PostgreSQL server binaries not found (set ADDVALUE_PG_BINDIR)")
        base = Path(tempfile.mkdtemp(prefix="addvalue-pg-"))
        cluster = cls(found, base, free_port())
        try:
            if cluster._owner is not None:
                os.chown(base, cluster._owner.pw_uid, cluster._owner.pw_gid)
            cluster._run_as_owner(
                [
                    str(found / "initdb"),
                    "--pgdata",
                    str(cluster.data),
                    "--username=postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    # We kill processes, never the machine: the kernel keeps what initdb
                    # wrote, so syncing the fresh cluster would only cost seconds.
                    "--no-sync",
                ]
            )
        except BaseException:
            cluster.remove()
            raise
        return cluster

    def start(self, timeout: float = 60.0) -> float:
        """Start the server (after a crash this runs recovery); seconds until it accepts connections."""
        if self.running():
            raise ClusterError("the cluster is already running")
        self._reap()
        started = time.monotonic()
        self._log = self._log or self.log_path.open("ab")
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.base),
            # Reachable only from this machine, and only on our own port.
            "-c",
            "listen_addresses=127.0.0.1",
            # Durable commits as in production: an acknowledged commit has been flushed.
            "-c",
            "fsync=on",
            "-c",
            "synchronous_commit=on",
            "-c",
            "full_page_writes=on",
            "-c",
            "max_connections=100",
            "-c",
            "shared_buffers=32MB",
        ]
        # A session of its own, so a Ctrl-C meant for the bench does not stop the server mid-run.
        self._server = subprocess.Popen(
            command, stdout=self._log, stderr=self._log, start_new_session=True, cwd=self.base, **self._owner_kwargs()
        )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise ClusterError(f"postgres exited with {self._server.returncode}; see {self.log_path}")
            try:
                with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                self.starts += 1
                return time.monotonic() - started
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise ClusterError(f"postgres did not accept connections within {timeout:.0f} s; see {self.log_path}")

    def crash(self, mode: KillMode = "postmaster", *, orphan_grace: float = 3.0) -> list[int]:
        """SIGKILL the server; return the ids of the processes killed.

        ``postmaster``: only the postmaster, as the OOM killer might; its backends
        notice and exit on their own (one in the middle of a commit may still
        finish it). ``all``: the postmaster and every backend at once, so no
        in-flight transaction gets further. Either way, backends still alive
        after ``orphan_grace`` seconds are SIGKILLed too, because a new postmaster
        refuses to start while the old shared memory is still attached.
        """
        pid = self.postmaster_pid()
        if pid is None:
            raise ClusterError("the cluster is not running")
        # Backends are in sessions of their own (each calls setsid), so they are found
        # as the postmaster's children; stopped, it can fork no new one while we look.
        os.kill(pid, signal.SIGSTOP)
        children = _children(pid)
        os.kill(pid, signal.SIGKILL)
        killed = [pid]
        if mode == "all":
            killed += _kill_each(children)
        self.kills += 1
        _wait_gone(children, orphan_grace)
        killed += _kill_each(children)
        _wait_gone(children, 5.0)
        self._reap()
        return killed

    def stop(self) -> None:
        """Immediate shutdown (SIGQUIT), then SIGKILL of whatever is left; a no-op when not running."""
        pid = self.postmaster_pid()
        if pid is not None:
            processes = [*_children(pid), *_identify([pid])]
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
            _wait_gone(processes, 10.0)
            _kill_each(processes)
            _wait_gone(processes, 5.0)
        self._reap()

    def remove(self) -> None:
        """Stop the server if needed and delete the cluster's folder."""
        try:
            self.stop()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    # -- inspection -------------------------------------------------------------
    def running(self) -> bool:
        return self.postmaster_pid() is not None

    def postmaster_pid(self) -> int | None:
        """The live postmaster of *this* data folder, checked against /proc, or None."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        # A stale pid file may name a pid now used by another process (even another
        # cluster's postmaster): only ours is ever signalled.
        if str(self.data).encode() not in cmdline or stat.rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- helpers ----------------------------------------------------------------------
    def _owner_kwargs(self) -> dict[str, Any]:
        """Popen arguments that run a command as the `postgres` OS user when we are root.

        Set in the child itself rather than through ``runuser``, so the postmaster is
        our own child: its id is the one we signal, and we reap it after a crash
        (a zombie postmaster would look alive to the next one's lock-file check).
        """
        if self._owner is None:
            return {}
        return {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}

    def _run_as_owner(self, command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, check=False, cwd=self.base, **self._owner_kwargs())
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise ClusterError(f"{command[0]} failed ({done.returncode}):\n{output}")

    def _reap(self) -> None:
        """Collect the exit status of our last server process, so it leaves no zombie."""
        if self._server is not None and self._server.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._server.wait(timeout=5)


# -- processes, by id and start time (so a reused pid is never mistaken for ours) --------
_Process = tuple[int, int]


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, ...], or None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _identify(pids: Iterable[int]) -> list[_Process]:
    found = []
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            found.append((pid, int(fields[19])))  # field 22 of stat: start time in clock ticks
    return found


def _children(parent: int) -> list[_Process]:
    pids = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]
    return [p for p in _identify(pids) if (fields := _stat(p[0])) is not None and int(fields[1]) == parent]


def _alive(process: _Process) -> bool:
    fields = _stat(process[0])
    return fields is not None and int(fields[19]) == process[1] and fields[0] != "Z"


def _wait_gone(processes: list[_Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.02)


def _kill_each(processes: Iterable[_Process]) -> list[int]:
    killed = []
    for process in processes:
        if _alive(process):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process[0], signal.SIGKILL)
                killed.append(process[0])
    return killed
