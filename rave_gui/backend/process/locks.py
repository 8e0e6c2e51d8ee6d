"""Advisory locks between the processes sharing one database (the app, CLI commands, the
on-exit hooks of runs): ``flock`` on small files in ``<database>.locks/``.

A lock is held through one open file description, so two threads of one process exclude each
other as two processes do, and a killed holder releases its locks at once (the kernel closes
its files). Linux/Unix only; this is the one place that knows it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RETRY_S = 0.02


def lock_path(db_path: str | os.PathLike[str], name: str) -> Path:
    """The lock file called ``name`` of the database at ``db_path``."""
    db = Path(db_path).expanduser().absolute()
    return db.with_name(db.name + ".locks") / f"{name}.lock"


@contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` for the ``with`` block, waiting at most ``timeout``
    seconds for it; yields False (and holds nothing) when another holder kept it that long."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    held = False
                    break
                time.sleep(RETRY_S)
        yield held
    finally:
        os.close(fd)  # releases the lock


__all__ = ["exclusive", "lock_path"]
