"""The last lines of a run's log file, cleaned and classified for a log viewer."""

from __future__ import annotations

import os

from ..rave.logparse import LogLine, LogParser, Metrics, Progress
from ..runs.outcome import exit_line_shown

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

    Lines go through :class:`LogParser`, as a live run's output does: ANSI codes removed,
    each run of carriage-return progress updates collapsed into its last bar, metric lines
    written as ``step N: name=value``. A missing or unreadable file gives a single
    warning line saying so, never an exception. With ``end``, the file is read only up to
    that byte (a live run: what its follower has read so far; the rest arrives live).
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
    out: list[tuple[str, str]] = []
    for ev in parser.feed(data) + parser.flush():
        if isinstance(ev, LogLine):  # the supervisor's last line as the live view shows it
            out.append(exit_line_shown(ev.text, ev.level, stopping=False))
        elif isinstance(ev, Progress):
            out.append((ev.text, "info"))
        elif isinstance(ev, Metrics) and ev.values:  # no values: its line came as a LogLine
            text = " ".join(f"{k}={v:g}" for k, v in ev.values.items())
            out.append((f"step {ev.step}: {text}" if ev.step is not None else text, "info"))
        # Outcome and Failure events repeat a line already given as a LogLine.
    return out[-n:]


__all__ = ["MAX_TAIL_BYTES", "WAITING_TEXT", "tail_lines"]
