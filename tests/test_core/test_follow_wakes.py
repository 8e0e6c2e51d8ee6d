"""A follower thread sleeps on its files (inotify) between polls: a line written after a quiet
while is read at once, not at the end of a backed-off poll interval, and a quiet process
costs a poll every IDLE_POLL_S, not more."""

from __future__ import annotations

import sys
import time

import pytest

from rave_gui.backend.system.filewatch import FileWatch
from rave_gui.core.process import IDLE_POLL_S, ProcessThread

pytestmark = pytest.mark.skipif(not FileWatch().native, reason="no inotify here")

# quiet for 4 s (the backed-off poll would then come 2 s apart), then a line with its time
SCRIPT = (
    "import sys, time\n"
    "print('start', flush=True)\n"
    "time.sleep(4.0)\n"
    "print(f'late {time.time():.3f}', flush=True)\n"
    "time.sleep(0.5)\n"
)


def test_a_line_after_a_quiet_while_is_read_at_once(qtbot, tmp_path):
    thread = ProcessThread([sys.executable, "-c", SCRIPT], tmp_path / "job")
    seen: list[tuple[float, str]] = []
    thread.lines_received.connect(lambda lines: seen.extend((time.time(), t) for t, _ in lines))
    try:
        with qtbot.waitSignal(thread.ended, timeout=30_000) as blocker:
            thread.start()
    finally:
        thread.stop_following()
        assert thread.wait(10_000)
    assert blocker.args[0] is True, blocker.args
    late = [(at, text) for at, text in seen if text.startswith("late ")]
    assert len(late) == 1, seen
    at, text = late[0]
    delay = at - float(text.split()[1])
    # the watch wakes the thread at the write (it then waits out the shortest interval);
    # a backed-off poll would have come up to IDLE_POLL_S later
    # (measured: 2 ms; a backed-off poll comes 0-2 s after, 1 s on average)
    assert delay < 0.25 * IDLE_POLL_S, f"read {delay:.2f} s after it was written"
    # quiet 4 s: a poll per IDLE_POLL_S (the start, 2 quiet ones, the late line, the end)
    assert thread.polls <= 2 + int(4.5 / IDLE_POLL_S) + 3, thread.polls
