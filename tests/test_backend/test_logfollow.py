"""LogFollower: a detached command followed through its log and status files (real processes
started by runner.launch, real log files)."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

from rave_gui.backend.process import runner
from rave_gui.backend.process.logfollow import LogFollower, status_path_of
from rave_gui.backend.rave.logparse import Failure, LogLine, Progress


def _follow(follower: LogFollower, timeout: float = 30.0) -> list:
    """Every poll's result until the final one."""
    polls = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        polls.append(follower.poll())
        if polls[-1].final:
            return polls
        time.sleep(0.05)
    raise AssertionError("the command did not end in time")


def _texts(events: list) -> list[str]:
    return [e.text for e in events if isinstance(e, LogLine)]


def test_a_launched_command_is_followed_to_its_exit_code(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        print("first line", flush=True)
        for n in (1, 2, 3):
            sys.stderr.write(f"\\rEpoch 0:  {n}/3 [00:0{n}<00:00,  1.00it/s]")
            sys.stderr.flush()
            time.sleep(0.1)
        print("\\nlast line", flush=True)
        sys.stdout.write("no newline at the end")
        sys.exit(3)
        """
    )
    launched = runner.launch([sys.executable, "-c", script], tmp_path, log_name="job.log")
    follower = LogFollower.of(launched)
    assert follower.status_path == launched.status_path == status_path_of(launched.log_path)
    polls = _follow(follower)
    events = [e for p in polls for e in p.events]
    assert _texts(events) == [
        "first line",
        "last line",
        "no newline at the end",
        "[rave-gui] process exited with code 3",  # the supervisor's own last line
    ]
    bars = [e for e in events if isinstance(e, Progress)]
    assert bars and bars[-1].batch == 3 and bars[-1].total == 3
    end = polls[-1]
    assert [p.final for p in polls].count(True) == 1
    assert end.exit_code == 3 and end.signals == []
    assert follower.finished and follower.drained()
    again = follower.poll()  # after the end: the same outcome, no event twice
    assert again.final and again.exit_code == 3 and again.events == []


def test_a_command_that_cannot_start_reports_the_supervisor_error(tmp_path: Path) -> None:
    launched = runner.launch([str(tmp_path / "no-such-program")], tmp_path)
    end = _follow(LogFollower.of(launched))[-1]
    assert end.exit_code == 127
    assert "cannot start" in (end.error or "")


def test_reads_are_bounded_and_end_on_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    lines = [f"line {i:03d}" for i in range(200)]  # 8 bytes + newline each
    log.write_bytes(("\n".join(lines) + "\n").encode())
    follower = LogFollower(log, read_limit=64)  # no process: it has ended
    offsets, polls = [], []
    while not (polls and polls[-1].final):
        polls.append(follower.poll())
        offsets.append(follower.offset)
    steps = [b - a for a, b in zip([0, *offsets], offsets, strict=False)]
    assert max(steps) <= 64 and all(s % 9 == 0 for s in steps)  # whole lines only
    assert len(polls) > 200 * 9 // 64
    assert _texts([e for p in polls for e in p.events]) == lines
    assert polls[-1].exit_code is None  # no status file: no exit code reported


def test_a_live_process_unfinished_line_waits_for_its_end(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"whole line\nhalf a ")
    follower = LogFollower(log)
    first = follower.poll(alive=True)
    assert _texts(first.events) == ["whole line"] and not first.final
    assert follower.offset == len(b"whole line\n")
    with open(log, "ab") as f:
        f.write(b"line\r")
    second = follower.poll(alive=True)
    assert _texts(second.events) == ["half a line"]
    assert follower.poll(alive=False).final


def test_a_line_longer_than_a_read_is_fed_whole(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"x" * 100 + b"\nend\n")
    follower = LogFollower(log, read_limit=40)
    events = []
    while not follower.finished:
        events += follower.poll(alive=True if follower.offset < 100 else None).events
    assert "".join(_texts(events)[:-1]) == "x" * 100 and _texts(events)[-1] == "end"


def test_following_resumes_from_a_stored_offset_and_flushes_a_traceback(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    head = b"already read\n"
    log.write_bytes(
        head + b'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad value\n'
    )
    follower = LogFollower(log, offset=len(head))
    polls = _follow(follower)
    events = [e for p in polls for e in p.events]
    assert "already read" not in _texts(events)
    assert [e.reason for e in events if isinstance(e, Failure)] == ["ValueError: bad value"]
    assert isinstance(polls[-1].events[-1], Failure)  # given by the flush, with the end


def test_a_log_kept_open_is_read_to_its_end_after_it_was_deleted(tmp_path: Path) -> None:
    log = tmp_path / "run" / "train.log"
    log.parent.mkdir()
    with open(log, "ab") as writer:  # the supervisor's file, kept open while it writes
        writer.write(b"before\n")
        writer.flush()
        kept, reopened = LogFollower(log, keep_open=True), LogFollower(log)
        assert _texts(kept.read()) == _texts(reopened.read()) == ["before"]
        log.unlink()  # the run folder deleted while the run goes on
        writer.write(b"after\nlast words")
        writer.flush()
        assert _texts(kept.read()) == ["after"]
        assert not kept.drained()
        assert _texts(kept.read(final=True) + kept.flush()) == ["last words"]
        assert kept.drained()
        assert reopened.read() == [] and reopened.drained()  # reopening finds nothing
    kept.close()
    assert kept.read() == []  # closed: the path is opened again, and it is gone


def test_a_truncated_log_is_read_on_from_its_new_end(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    for keep_open in (False, True):
        log.write_bytes(b"one\ntwo\nthree\n")
        follower = LogFollower(log, keep_open=keep_open)
        assert _texts(follower.read()) == ["one", "two", "three"]
        assert follower.take_truncation() == 0
        with open(log, "r+b") as f:  # rewritten shorter while followed
            f.truncate(4)
        assert follower.read() == []
        assert follower.take_truncation() == 14 - 4
        assert follower.take_truncation() == 0  # said once
        with open(log, "ab") as f:
            f.write(b"four\n")
        assert _texts(follower.read()) == ["four"]
        follower.close()


def test_reset_goes_on_from_another_followers_offset_with_a_new_parser(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b'Traceback (most recent call last):\n  File "x.py", line 1\n')
    follower = LogFollower(log)
    follower.read()  # a traceback begun: the parser holds it
    with open(log, "ab") as f:
        f.write(b"ValueError: read by another follower\nnext line\n")
    follower.reset(log.stat().st_size - len(b"next line\n"))
    events = follower.read() + follower.flush()
    assert _texts(events) == ["next line"]
    assert not [e for e in events if isinstance(e, Failure)]  # the old traceback is dropped
