"""The app served by uvicorn on a free port, in a thread of the test process: a real HTTP server for
what needs the container at hand (tests/e2e/served.py starts the real `addvalue serve` instead)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app

__all__ = ["served"]


@contextmanager
def served(container: Container) -> Iterator[str]:
    """The base URL of the running app; stopped (group commit drained) on leaving."""
    config = uvicorn.Config(create_app(container, run_jobs=False), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
