"""A small process that runs one command detached from the app and keeps its log bounded.

Started by ``runner.launch`` in a new session (its own process group) as::

    python -m rave_gui.backend.process.supervisor --log LOG --status STATUS \
        [--on-exit JSON] -- ARGV...

It runs ARGV in the same process group with stdout and stderr merged into a pipe, and appends
what arrives to LOG. Progress-bar updates (segments ended by a bare carriage return) are
throttled to one every ``--progress-interval`` seconds: a RAVE run rewrites its bar twice a step,
millions of times, while lines ended by a newline (warnings, errors, metrics) are all kept, and
the last bar before each line is kept too. When ARGV exits it writes STATUS (JSON: exit code,
end time, signals received) atomically, so the app learns the real outcome even when it was
closed or crashed meanwhile. SIGINT and SIGTERM sent to the group reach ARGV; the supervisor
only records them and keeps draining the output until ARGV is gone.

``--forward-signal NAME``: that signal, sent to the supervisor alone (SLURM's
``--signal=B:NAME@T`` before a time limit), sends SIGINT to ARGV: the graceful stop.

SIGUSR1 sent to the supervisor alone is passed on to ARGV's process only (not its group): the
launcher saves a checkpoint at the next batch ("save checkpoint now", remote/control.py). It is
no stop, and RAVE's data-loader workers, which SIGUSR1 would kill, never get it.

``--on-exit`` (a JSON list: an argv) is started once STATUS says the command exited, in a
session of its own (never signalled with the run's group) with the supervisor's stderr as its
output; the supervisor does not wait for it. The app uses it to record the run's end and start
queued runs when no window follows the run.

Beside LOG, ``LOG.times`` records when its lines were written: fixed 16-byte records
(``<qd``: the log's size after a write, the wall time of that write), at most one every
``MARK_INTERVAL_S`` seconds (a line gets the time of the last write its record covers: at most
that much late), so a log read back later shows the times a live one did.

A log that cannot be written (the run folder's disk full) never stops the supervisor nor ARGV:
output that cannot be written is counted and dropped, later writes try again (the log then
says how much was lost), and STATUS carries the cause ("error", "output_lost").

Standard library only: it must start fast and outlive the app.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time

_SEP = re.compile(rb"\r\n|\r(?!$)|\n")
TIMES_SUFFIX = ".times"
TIME_RECORD = struct.Struct("<qd")  # the log's size after a write, the write's wall time
MARK_INTERVAL_S = 2.0


def write_status(path: str, data: dict) -> bool:
    """Write STATUS atomically; on a full disk (no room for a new file) overwrite the old file in
    place, in the block it already has. False if it could not be written at all."""
    text = json.dumps(data).encode()
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(text)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        os.write(fd, text)
        os.ftruncate(fd, len(text))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class LogWriter:
    """Appends output to the log, keeping at most one progress update per interval."""

    def __init__(self, fd: int, interval: float, times_fd: int | None = None) -> None:
        self.fd = fd
        self.interval = interval
        self.times_fd = times_fd  # LOG.times, or None
        self.last_mark = float("-inf")  # when the last time record was written
        self.unmarked: float | None = None  # wall time of the last write not yet recorded
        self.buf = b""
        self.pending: bytes | None = None  # latest progress segment not yet written
        self.last_progress = 0.0
        self.lost = 0  # bytes of output that could not be written (dropped)
        self.unreported = 0  # of those, not yet noted in the log
        self.error: str | None = None  # why, for the status file

    def _put(self, data: bytes, *, count: bool = True) -> bool:
        while data:
            try:
                n = os.write(self.fd, data)
            except InterruptedError:
                continue
            except OSError as err:
                if count:
                    self.lost += len(data)
                    self.unreported += len(data)
                    why = (
                        "the run folder's disk is full"
                        if err.errno in _FULL
                        else f"the log cannot be written ({err.strerror})"
                    )
                    self.error = f"{why}: {self.lost} bytes of output lost"
                return False
            data = data[n:]
        if self.times_fd is not None:
            self.unmarked = time.time()
            self.mark()
        return True

    def mark(self, force: bool = False) -> None:
        """Record the log's size and the time of its last write (at most one record every
        MARK_INTERVAL_S unless ``force``); a record that cannot be written is skipped."""
        if self.times_fd is None or self.unmarked is None:
            return
        if not force and time.time() - self.last_mark < MARK_INTERVAL_S:
            return
        try:
            size = os.lseek(self.fd, 0, os.SEEK_CUR)
            os.write(self.times_fd, TIME_RECORD.pack(size, self.unmarked))
        except OSError:
            return
        self.last_mark = time.time()
        self.unmarked = None

    def _write(self, data: bytes, *, count: bool = True) -> None:
        """Append data; what cannot be written is counted as lost output (count) and dropped."""
        if self.unreported:  # there is room again? say first what was lost meanwhile
            note = f"[rave-gui] {self.unreported} bytes of output lost: {self.error}\n"
            if not self._put(note.encode(), count=False):
                self._put(data, count=count)  # fails again most likely: counted
                return
            self.unreported = 0
        self._put(data, count=count)

    def feed(self, data: bytes, now: float) -> None:
        self.buf += data
        out: list[bytes] = []
        start = 0
        for m in _SEP.finditer(self.buf):
            seg = self.buf[start : m.end()]
            start = m.end()
            if m.group() == b"\r":
                if now - self.last_progress >= self.interval:
                    out.append(seg)
                    self.pending = None
                    self.last_progress = now
                else:
                    self.pending = seg
            else:
                if self.pending is not None:
                    out.append(self.pending)
                    self.pending = None
                out.append(seg)
        self.buf = self.buf[start:]
        if out:
            self._write(b"".join(out))

    def tick(self, now: float) -> None:
        self.mark()
        if self.pending is not None and now - self.last_progress >= self.interval:
            self._write(self.pending)
            self.pending = None
            self.last_progress = now

    def close(self, last_line: bytes = b"") -> None:
        """Write what is left, then last_line (the supervisor's own: not counted as output)."""
        tail = (self.pending or b"") + self.buf
        self.pending, self.buf = None, b""
        if tail:
            self._write(tail if tail.endswith((b"\n", b"\r")) else tail + b"\n")
        if last_line:
            self._write(last_line, count=False)
        self.mark(force=True)


def run_on_exit(argv: list[str] | None) -> None:
    """Start the on-exit command detached; a failure to start it is noted on stderr."""
    if not argv:
        return
    try:
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno(),
            stderr=sys.stderr.fileno(),
            start_new_session=True,
            close_fds=True,
        )
    except OSError as err:
        sys.stderr.write(f"[rave-gui] cannot start the on-exit command {argv[0]}: {err}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rave_gui.backend.process.supervisor")
    parser.add_argument("--log", required=True)
    parser.add_argument("--status", required=True)
    parser.add_argument("--progress-interval", type=float, default=1.0)
    parser.add_argument("--on-exit", type=json.loads, help="argv (JSON list) to start at the end")
    parser.add_argument(
        "--forward-signal",
        help="a signal (e.g. USR1) that, sent to the supervisor alone, sends SIGINT to ARGV",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    if args.on_exit is not None and not (
        isinstance(args.on_exit, list) and all(isinstance(a, str) for a in args.on_exit)
    ):
        parser.error("--on-exit must be a JSON list of strings")

    received: list[str] = []

    def note(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, note)
    signal.signal(signal.SIGTERM, note)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    child: subprocess.Popen[bytes] | None = None
    sigusr1 = getattr(signal, "SIGUSR1", None)
    if sigusr1 is not None:  # save a checkpoint now: to the launcher (ARGV) alone

        def pass_on(signum: int, _frame: object) -> None:
            if child is not None and child.poll() is None:
                child.send_signal(signum)

        signal.signal(sigusr1, pass_on)
    if args.forward_signal:  # SLURM's --signal=B:...: only the batch shell (we) gets it

        def forward(_signum: int, _frame: object) -> None:
            received.append("SIGINT")
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGINT)

        signal.signal(getattr(signal, "SIG" + args.forward_signal.upper().removeprefix("SIG")),
                      forward)  # fmt: skip

    log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        times_fd: int | None = os.open(
            args.log + TIMES_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
    except OSError:  # the times are a convenience: the run goes on without them
        times_fd = None
    writer = LogWriter(log_fd, args.progress_interval, times_fd)
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    started = time.time()
    try:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            # exec resets the noted SIGINT/SIGTERM to their defaults in the child; SIGHUP
            # stays ignored, so closing a terminal does not end a multi-day run.
        )
    except OSError as err:
        writer.close(f"[rave-gui] cannot start {command[0]}: {err.strerror}\n".encode())
        write_status(
            args.status,
            {
                "state": "exited",
                "exit_code": 127,
                "error": f"cannot start {command[0]}: {err.strerror}",
                "started_at": started,
                "ended_at": time.time(),
                "signals": received,
                "supervisor_pid": os.getpid(),
            },
        )
        run_on_exit(args.on_exit)
        return 127
    running = {
        "state": "running",
        "passes": ["SIGUSR1"] if sigusr1 is not None else [],  # passed on to ARGV alone
        "child_pid": child.pid,
        "supervisor_pid": os.getpid(),
        "started_at": started,
        "signals": received,
    }
    write_status(args.status, running)
    noted_loss = False
    assert child.stdout is not None
    fd = child.stdout.fileno()
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 0.5)
        except InterruptedError:
            continue
        now = time.monotonic()
        if ready:
            try:
                data = os.read(fd, 65536)
            except InterruptedError:
                continue
            if not data:
                break
            writer.feed(data, now)
        writer.tick(now)
        if writer.lost and not noted_loss:  # said at once: the run may never end normally
            noted_loss = write_status(
                args.status, {**running, "error": writer.error, "output_lost": writer.lost}
            )
    code = child.wait()
    writer.close(f"[rave-gui] process exited with code {code}\n".encode())
    os.close(log_fd)
    if times_fd is not None:
        os.close(times_fd)
    final = {
        "state": "exited",
        "exit_code": code,
        "child_pid": child.pid,
        "supervisor_pid": os.getpid(),
        "started_at": started,
        "ended_at": time.time(),
        "signals": received,
    }
    if writer.lost:
        final.update(error=writer.error, output_lost=writer.lost)
    write_status(args.status, final)
    run_on_exit(args.on_exit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
