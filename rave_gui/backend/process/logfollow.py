"""LogFollower: follows one detached command (started by :func:`runner.launch`) through its log
file and its supervisor's status file: new bytes parsed into events, then how it ended."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..rave.logparse import Event, LogLine, LogParser, Metrics
from ..runs.outcome import exit_line_shown
from . import runner
from .procinfo import is_same_process

READ_LIMIT = 4 << 20  # bytes of log read per poll at most (catching up stays responsive)


def status_path_of(log_path: str | os.PathLike[str]) -> Path:
    """The supervisor's status file written beside ``log_path`` (see :func:`runner.launch`)."""
    p = Path(log_path)
    return p.with_name(p.stem + "." + runner.STATUS_NAME)


# The launcher's live step line (``rave-gui: step=N``): a step for the follower, not shown.
STEP_TICK = re.compile(r"^rave-gui: step=(\d+)$")


def display_line(
    ev: Event, step: int | None = None, stopping: bool = False
) -> tuple[str, str] | None:
    """The one presentation of a parsed event in a log view, live or read back from the file:
    a (text, level) pair, or None for what a log view does not show (the launcher's step
    lines, progress-bar updates: the progress bar shows them, an outcome or failure: its line
    came as a LogLine). Metrics read as ``step N: name=value ...``, ``step`` (the last step
    known) standing in for a line that gave none. The supervisor's exit line of a stopped run
    reads "The run stopped (ended by SIGINT)." (``stopping``: the run is being stopped, so
    any signal it died of was ours)."""
    if isinstance(ev, LogLine):
        return None if STEP_TICK.match(ev.text) else exit_line_shown(ev.text, ev.level, stopping)
    if isinstance(ev, Metrics) and ev.values:  # no values: its line came as a LogLine
        text = " ".join(f"{k}={v:g}" for k, v in ev.values.items())
        at = ev.step if ev.step is not None else step
        return (f"step {at}: {text}" if at is not None else text, "info")
    return None


def present(events: list[Event], step: int | None = None) -> Iterator[tuple[int, tuple[str, str]]]:
    """(index of the event, its line) for each event a log view shows (see
    :func:`display_line`), the last step a step line or metrics line named standing in for
    metrics without one."""
    for i, ev in enumerate(events):
        if isinstance(ev, LogLine):
            tick = STEP_TICK.match(ev.text)
            if tick:
                step = int(tick.group(1))
                continue
        elif isinstance(ev, Metrics) and ev.step is not None:
            step = ev.step
        line = display_line(ev, step)
        if line is not None:
            yield i, line


def lines_of(events: list[Event], step: int | None = None) -> list[tuple[str, str]]:
    """The (text, level) lines to show for parsed events (see :func:`present`)."""
    return [line for _i, line in present(events, step)]


@dataclass
class LogPoll:
    """What one :meth:`LogFollower.poll` found.

    ``final`` is set once: the process is gone, everything it wrote was read and the parser
    was flushed (its last events are in ``events``). ``exit_code``, ``error`` and ``signals``
    come from the supervisor's status file then (``exit_code`` None when it reported none:
    the supervisor itself was killed)."""

    events: list[Event] = field(default_factory=list)
    final: bool = False
    exit_code: int | None = None
    error: str | None = None
    signals: list[str] = field(default_factory=list)


class LogFollower:
    """Reads what a detached command wrote since the last poll, in whole segments (lines and
    ``\\r``-ended bar updates), at most ``read_limit`` bytes a poll, and parses them.

    The process is identified by pid and start time (a reused pid is not it). When it is gone
    (or ``poll(alive=False)`` says so), the rest of the log is read, the unterminated tail
    included, then the parser is flushed and the end reported. ``offset`` may be set (stored
    offsets of an earlier follower; :meth:`reset` when another follower read on); the parser's
    events are handed back as they are.

    With ``keep_open`` the log, once opened, stays open between polls until :meth:`close`: a
    log deleted meanwhile (its folder removed while the command goes on) is still read to its
    end. A log that became shorter than what was read (truncated, rewritten) is read on from
    its new end; :meth:`take_truncation` says by how many bytes."""

    def __init__(
        self,
        log_path: str | os.PathLike[str],
        *,
        pid: int | None = None,
        start_time: float | None = None,
        status_path: str | os.PathLike[str] | None = None,
        offset: int = 0,
        read_limit: int = READ_LIMIT,
        keep_open: bool = False,
    ) -> None:
        self.log_path = Path(log_path)
        self.status_path = Path(status_path) if status_path else status_path_of(log_path)
        self.pid = pid
        self.start_time = start_time
        self.offset = offset
        self.read_limit = read_limit
        self.keep_open = keep_open
        self.parser = LogParser()
        self.ended: LogPoll | None = None  # the final poll, once the end was seen
        self._file: BinaryIO | None = None  # the open log, with keep_open
        self._truncated = 0  # bytes the log lost under what was read, not taken yet

    @classmethod
    def of(cls, launched: runner.Launched, **kwargs) -> LogFollower:
        """A follower of a command just started by :func:`runner.launch`."""
        return cls(
            launched.log_path,
            pid=launched.pid,
            start_time=launched.start_time,
            status_path=launched.status_path,
            **kwargs,
        )

    @property
    def finished(self) -> bool:
        return self.ended is not None

    def alive(self) -> bool:
        """Whether the followed process still runs (the same process: pid and start time)."""
        return is_same_process(self.pid, self.start_time)

    def reset(self, offset: int) -> None:
        """Go on from ``offset`` with a new parser (another follower read up to there)."""
        self.offset = offset
        self.parser = LogParser()

    def close(self) -> None:
        """Release the log kept open (a later read opens it again)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:  # a follower dropped while following leaks no file
        if getattr(self, "_file", None) is not None:
            self.close()

    def _open(self) -> BinaryIO | None:
        if self._file is not None:
            return self._file
        try:
            f = open(self.log_path, "rb")  # noqa: SIM115 - closed by the caller or close()
        except FileNotFoundError:  # the supervisor has not created it yet
            return None
        except OSError:
            if not self.keep_open:
                raise
            return None  # unreadable: a followed run is read as far as it can be
        if self.keep_open:
            self._file = f
        return f

    def size(self) -> int | None:
        """The log's size now (None when it cannot be read)."""
        if not self.keep_open:
            try:
                return os.path.getsize(self.log_path)
            except OSError:
                return None
        f = self._open()
        if f is None:
            return None
        try:
            return os.fstat(f.fileno()).st_size
        except OSError:
            return None

    def drained(self) -> bool:
        """Everything written to the log so far has been read."""
        size = self.size()
        return size is None or self.offset >= size

    def take_truncation(self) -> int:
        """By how many bytes the log became shorter than what was read (what it said there is
        lost), since the last call; 0 when it did not."""
        lost, self._truncated = self._truncated, 0
        return lost

    def read(self, *, final: bool = False) -> list[Event]:
        """Parse the next whole segments of the log (with ``final``, a read that reaches the
        end of the file takes the unterminated tail too: nothing more will come)."""
        f = self._open()
        if f is None:
            return []
        try:
            size = os.fstat(f.fileno()).st_size
            if size < self.offset:  # truncated or rewritten while followed
                self._truncated += self.offset - size
                self.offset = size
            f.seek(self.offset)
            data = f.read(self.read_limit)
        except OSError:
            if not self.keep_open:
                raise
            return []
        finally:
            if not self.keep_open:
                f.close()
        if not data:
            return []
        full = len(data) >= self.read_limit
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1  # feed whole segments only
        if (final and not full) or (cut == 0 and full):
            cut = len(data)  # the end of the log, or one segment longer than a read
        elif cut == 0:
            return []
        self.offset += cut
        return self.parser.feed(data[:cut])

    def flush(self) -> list[Event]:
        """The parser's last events (an unfinished bar...): the log is read to its end."""
        return self.parser.flush()

    def poll(self, alive: bool | None = None) -> LogPoll:
        """Read and parse what is new; when the process is gone and the log drained, flush the
        parser and report the end. ``alive`` overrides the process check (a caller that knows
        better, e.g. a run recorded as ended elsewhere)."""
        if self.ended is not None:
            return LogPoll(
                final=True,
                exit_code=self.ended.exit_code,
                error=self.ended.error,
                signals=list(self.ended.signals),
            )
        if alive is None:
            alive = self.alive()  # checked before reading: what it wrote before dying is read
        upd = LogPoll(events=self.read(final=not alive))
        if not alive and self.drained():
            upd.events += self.flush()
            runner.reap()
            st = runner.read_status(self.status_path) or {}
            upd.final = True
            upd.exit_code = st.get("exit_code") if st.get("state") == "exited" else None
            upd.error = st.get("error")
            upd.signals = list(st.get("signals") or [])
            self.ended = upd
        return upd


__all__ = [
    "READ_LIMIT",
    "STEP_TICK",
    "LogFollower",
    "LogPoll",
    "display_line",
    "lines_of",
    "present",
    "status_path_of",
]
