"""The last lines of a run's log file, cleaned and classified for a log viewer, with the times
they were written when the supervisor recorded them (``LOG.times``)."""

from __future__ import annotations

import bisect
import os

from ..errors import RaveGuiError
from ..rave.logparse import Event, LogParser
from .logfollow import present
from .supervisor import TIME_RECORD, TIMES_SUFFIX

MAX_TAIL_BYTES = 4 << 20  # read at most this much from the end of the file
_CHUNK = 64 << 10
WAITING_TEXT = "Waiting for the run's log…"


def _read_tail(
    path: str | os.PathLike[str], n: int, max_bytes: int, end: int | None = None
) -> tuple[bytes, int]:
    """The end of a file holding at least ``n`` newline-ended lines (or the whole file, or
    ``max_bytes``), starting at a line boundary when it does not start at the file's start;
    and the offset in the file where it starts."""
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
        pos += cut + 1 if cut >= 0 else len(data)
        data = data[cut + 1 :] if cut >= 0 else b""
    return data, pos


def read_times(log_path: str | os.PathLike[str], start: int, end: int) -> list[tuple[int, float]]:
    """The supervisor's time records (log size after a write, its wall time) that cover the
    log's bytes ``start`` to ``end``: from the first record past ``start`` to the first at or
    past ``end``, found by bisection (a long run's records are not all read). None there, or
    unreadable: an empty list."""
    rec = TIME_RECORD.size
    try:
        with open(os.fspath(log_path) + TIMES_SUFFIX, "rb") as f:
            count = f.seek(0, os.SEEK_END) // rec

            def offset_at(i: int) -> int:
                f.seek(i * rec)
                return int(TIME_RECORD.unpack(f.read(rec))[0])

            first = bisect.bisect_right(range(count), start, key=offset_at)
            f.seek(first * rec)
            out: list[tuple[int, float]] = []
            while len(out) < count - first:
                chunk = f.read(min(count - first - len(out), 4096) * rec)
                if len(chunk) < rec:
                    break
                for off, when in TIME_RECORD.iter_unpack(chunk[: len(chunk) // rec * rec]):
                    out.append((int(off), float(when)))
                    if off >= end:
                        return out
            return out
    except (OSError, ValueError):
        return []


def _stamped_events(
    data: bytes, start: int, times: list[tuple[int, float]]
) -> tuple[list[Event], list[float | None]]:
    """Parse ``data`` (the log from byte ``start``) in the slices the time records mark,
    each event with the time of the record its slice ends at (None past the last one)."""
    parser = LogParser()
    events: list[Event] = []
    stamps: list[float | None] = []
    pos = 0
    for off, when in times:
        cut = min(max(off - start, pos), len(data))
        # a slice with no line end completes no line shown (bar updates end in \r): it is
        # parsed with the next one, and far fewer feeds are made
        if cut > pos and data.find(b"\n", pos, cut) >= 0:
            new = parser.feed(data[pos:cut])
            events += new
            stamps += [when] * len(new)
            pos = cut
    new = parser.feed(data[pos:]) + parser.flush()
    events += new
    stamps += [None] * len(new)
    return events, stamps


def tail_lines(
    path: str | os.PathLike[str],
    n: int = 5000,
    *,
    max_bytes: int = MAX_TAIL_BYTES,
    end: int | None = None,
    waiting: bool = False,
) -> list[tuple[str, str]]:
    """:func:`timed_tail_lines` without the times."""
    return [
        (text, level)
        for text, level, _ in timed_tail_lines(
            path, n, max_bytes=max_bytes, end=end, waiting=waiting, times=False
        )
    ]


def timed_tail_lines(
    path: str | os.PathLike[str],
    n: int = 5000,
    *,
    max_bytes: int = MAX_TAIL_BYTES,
    end: int | None = None,
    waiting: bool = False,
    times: bool = True,
) -> list[tuple[str, str, float | None]]:
    """The last ``n`` lines of a log as (text, level) pairs, level "info"/"warning"/"error".

    Each line comes as (text, level, time): the time it was written, from the supervisor's
    records beside the log (None where there are none, or with ``times`` False).
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
        data, start = _read_tail(path, n, max_bytes, end)
    except FileNotFoundError:
        if waiting:
            return [(WAITING_TEXT, "info", None)]
        return [(f"The log file {path} does not exist (moved or deleted?).", "warning", None)]
    except OSError as err:
        text = f"The log file {path} cannot be read: {err.strerror or err}."
        return [(text, "warning", None)]
    marks = read_times(path, start, start + len(data)) if times else []
    events, stamps = _stamped_events(data, start, marks)
    out = [(text, level, stamps[i]) for i, (text, level) in present(events)]
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


__all__ = [
    "MAX_TAIL_BYTES",
    "WAITING_TEXT",
    "LogSaveError",
    "read_times",
    "save_log",
    "tail_lines",
    "timed_tail_lines",
]
