"""The supervisor: a detached command's log stays bounded, its outcome lands in a status file."""

from __future__ import annotations

import math
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from rave_gui.backend.process import runner
from rave_gui.backend.process.procinfo import group_members
from rave_gui.backend.process.supervisor import LogWriter

N_UPDATES = 200_000
N_WARNINGS = 25

FLOOD = f"""
import sys
w = sys.stdout.write
for i in range({N_UPDATES}):
    w("\\rEpoch 0: %3d%%| %d/{N_UPDATES} [00:01<00:00, 9999.99it/s, v_num=0]"
      % (100 * i // {N_UPDATES}, i))
    if i % {N_UPDATES // N_WARNINGS} == {N_UPDATES // N_WARNINGS} - 1:
        sys.stderr.write("UserWarning: warning number %d at update %d\\n"
                         % (i // {N_UPDATES // N_WARNINGS}, i))
"""


def _wait_exited(run: runner.Launched, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = runner.read_status(run.status_path)
        if st and st.get("state") == "exited":
            runner.wait_group(run.pid, 5)
            return st
        time.sleep(0.05)
    raise AssertionError(f"the supervisor wrote no final status within {timeout} s")


def _wait_for_text(path: Path, text: bytes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_bytes():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_progress_flood_is_throttled_and_every_line_kept(tmp_path, launched):
    run = launched([sys.executable, "-c", FLOOD], tmp_path / "run")
    st = _wait_exited(run, 60)
    assert st["exit_code"] == 0
    elapsed = st["ended_at"] - st["started_at"]

    data = run.log_path.read_bytes()
    # A warning written while a bar is on screen is glued to the bar's end (as with RAVE):
    # every newline-terminated line is kept whole, in order, then the supervisor's last line.
    lines = re.findall(rb"(UserWarning: [^\r\n]*|\[rave-gui\][^\r\n]*)\n", data)
    expected = [
        f"UserWarning: warning number {k} at update {(k + 1) * (N_UPDATES // N_WARNINGS) - 1}"
        for k in range(N_WARNINGS)
    ]
    assert [x.decode() for x in lines] == [*expected, "[rave-gui] process exited with code 0"]
    bars = re.findall(rb"Epoch 0: [^\r\n]*?\]", data)

    # at most one bar per second, plus per kept line the bar pending before it and the bar it
    # is glued to, plus the last bar
    bound = math.ceil(elapsed / 1.0) + 1 + 2 * N_WARNINGS + 1
    assert 1 <= len(bars) <= bound, (len(bars), elapsed)
    assert len(bars) < N_UPDATES / 1000
    counts = [int(re.search(rb"\| (\d+)/", b).group(1)) for b in bars]
    assert counts == sorted(counts), "progress updates kept out of order"
    assert counts[-1] == N_UPDATES - 1, "the last progress update must be kept"
    assert len(data) < 64 * 1024


def test_log_writer_keeps_one_bar_per_interval(tmp_path):
    """LogWriter alone, on a simulated clock: 10 minutes of 100 updates a second."""
    log = tmp_path / "train.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        writer = LogWriter(fd, interval=1.0)
        now = 0.0
        for i in range(60_000):
            now += 0.01
            data = f"\rstep {i}".encode()
            if i % 1000 == 999:
                data += f"\nline {i}\n".encode()
            writer.feed(data, now)
            writer.tick(now)
        writer.close()
    finally:
        os.close(fd)
    segs = [s for s in re.split(rb"\r|\n", log.read_bytes()) if s]
    kept_lines = [s for s in segs if s.startswith(b"line")]
    assert kept_lines == [f"line {i}".encode() for i in range(999, 60_000, 1000)]
    steps = [int(s.split()[1]) for s in segs if s.startswith(b"step")]
    assert steps == sorted(steps) and steps[-1] == 59_999
    assert len(steps) <= 600 + 2 * 60 + 2  # one a second, the bars around lines, the last


def test_status_file_holds_the_exit_code(tmp_path, launched):
    code = "import sys; print('hello'); sys.exit(3)"
    run = launched([sys.executable, "-c", code], tmp_path / "run")
    st = _wait_exited(run, 20)
    assert st["exit_code"] == 3
    assert st["signals"] == []
    assert st["ended_at"] >= st["started_at"]
    text = run.log_path.read_text()
    assert text.splitlines() == ["hello", "[rave-gui] process exited with code 3"]


def test_missing_command_gives_127_and_a_clear_error(tmp_path, launched):
    missing = str(tmp_path / "no-such-rave")
    run = launched([missing, "train"], tmp_path / "run")
    st = _wait_exited(run, 20)
    assert st["state"] == "exited"
    assert st["exit_code"] == 127
    assert missing in st["error"] and "No such file or directory" in st["error"]
    assert st["error"] in run.log_path.read_text()


SLEEPER = """
import signal, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize(("sig", "exit_code"), [("SIGINT", 0), ("SIGTERM", -15)])
def test_signals_to_the_group_are_recorded(tmp_path, launched, sig, exit_code):
    run = launched([sys.executable, "-c", SLEEPER], tmp_path / "run")
    _wait_for_text(run.log_path, b"ready", 10)
    assert len(group_members(run.pid)) == 2  # the supervisor and the command
    os.killpg(run.pid, getattr(signal, sig))
    st = _wait_exited(run, 10)
    assert st["signals"] == [sig]
    assert st["exit_code"] == exit_code
    assert group_members(run.pid) == []


# The on-exit command reports what it sees: the status file, its own session, its output file.
ON_EXIT = """
import json, os, sys
status = json.load(open(sys.argv[1]))
run_session = status["supervisor_pid"]  # the supervisor leads the run's session
print("on-exit saw", status["state"], status.get("exit_code"),
      "own session" if os.getsid(0) != run_session else "run's session", flush=True)
"""


@pytest.mark.parametrize("command_exists", [True, False])
def test_on_exit_runs_after_the_status_is_written_detached(tmp_path, launched, command_exists):
    folder = tmp_path / "run"
    status = folder / "train.supervisor.json"
    on_exit = [sys.executable, "-c", ON_EXIT, str(status)]
    argv = [sys.executable, "-c", "print('working')"] if command_exists else [str(tmp_path / "no")]
    run = launched(argv, folder, on_exit=on_exit)
    st = _wait_exited(run, 20)
    err = folder / "supervisor.err"
    _wait_for_text(err, b"on-exit saw", 10)
    text = err.read_text()
    code = 0 if command_exists else 127
    assert f"on-exit saw exited {code} own session" in text
    assert st["exit_code"] == code
    assert "on-exit" not in run.log_path.read_text()  # the run's log stays the run's
