"""The last lines of a run's log file, cleaned and classified for a log viewer."""

from __future__ import annotations

import os

from ..errors import RaveGuiError
from ..rave.logparse import LogParser
from .logfollow import lines_of

MAX_TAIL_BYTES = 4 << 20  # read at most this much from the end of the file
_CHUNK = 64 << 10
WAITING_TEXT = "Waiting for the run's log…"


def _read_tail(
    path: str | os.PathLike[str], n: int, max_bytes: int, end: int | None = None
) -> bytes:
    """The end of a file holding at least ``n`` newline-ended lines (or the whole file, or
    ``max_bytes``), starting at a line boundary when it does not start at the file's start."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if end is not None:
            size = min(size, max(end, 0))
        pos = size
        chunks: list[bytes] = []
        newlines = 0
        while pos > 0 and newlines <= n and size - pos < max_bytes:
            step = min(_CHUNK, pos, max_bytes - (size - pos))
            pos -= step
            f.seek(pos)
            chunk = f.read(step)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    if pos > 0:  # drop the partial first line
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    return data


def tail_lines(
    path: str | os.PathLike[str],
    n: int = 5000,
    *,
    max_bytes: int = MAX_TAIL_BYTES,
    end: int | None = None,
    waiting: bool = False,
) -> list[tuple[str, str]]:
    """The last ``n`` lines of a log as (text, level) pairs, level "info"/"warning"/"error".

    Lines go through :class:`LogParser` and :func:`~.logfollow.lines_of`, as a live run's
    output does (one presentation): ANSI codes removed, progress-bar updates and the
    launcher's step lines left out, metric lines written as ``step N: name=value``. A
    missing or unreadable file gives a single warning line saying so, never an exception.
    With ``end``, the file is read only up to that byte (a live run: what its follower has
    read so far; the rest arrives live).
    With ``waiting`` (a live or queued run: its log may not be written yet), a missing file
    gives the info line :data:`WAITING_TEXT` instead of the warning.
    """
    if n <= 0:
        return []
    try:
        data = _read_tail(path, n, max_bytes, end)
    except FileNotFoundError:
        if waiting:
            return [(WAITING_TEXT, "info")]
        return [(f"The log file {path} does not exist (moved or deleted?).", "warning")]
    except OSError as err:
        return [(f"The log file {path} cannot be read: {err.strerror or err}.", "warning")]
    parser = LogParser()
    out = lines_of(parser.feed(data) + parser.flush())
    return out[-n:]


class LogSaveError(RaveGuiError):
    """A log could not be written to the file the user chose."""


def save_log(path: str | os.PathLike[str], lines: list[str]) -> int:
    """Write a log's lines to ``path`` (UTF-8, one a line) through a temporary file beside it,
    so a failed write leaves no half file. Returns the bytes written."""
    target = os.fspath(path)
    tmp = f"{target}.part"
    data = "".join(f"{line}\n" for line in lines).encode("utf-8")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise LogSaveError(
            f"The log could not be saved to {target}: {err.strerror or err}. "
            "Choose another folder, or free some disk space."
        ) from err
    return len(data)


__all__ = ["MAX_TAIL_BYTES", "WAITING_TEXT", "LogSaveError", "save_log", "tail_lines"]
