"""Folders of the service's own files (SQLite databases, development secrets): for their owner only."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import structlog

__all__ = ["private_dir", "private_file"]

log = structlog.get_logger(__name__)
_warned: set[Path] = set()  # one warning per folder and process, not one per store opened in it


def private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) as 0700; warn, with the fix, if it exists open to others.

    An existing folder is not changed: its mode may be an operator's choice (a backup agent's
    group, say), so the warning says what to run rather than acting on it.
    """
    if path.is_dir():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and path not in _warned:
            _warned.add(path)
            log.warning("data_folder.open_to_others", path=str(path), mode=f"{mode:04o}", fix=f"chmod 700 {path}")
        return
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode passes through the umask: say it exactly


def private_file(path: Path) -> Path:
    """Create the (empty) file as 0600 in a private folder unless it exists, before a database opens it.

    SQLite would create it with the umask's mode (often 0644); its -wal and -shm files take the
    database file's mode, so this covers them too.
    """
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path
