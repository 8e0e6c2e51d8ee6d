"""Following a run loses nothing silently: a full database disk, damaged or truncated event
files, a deleted run folder, a killed supervisor. Real processes, real files, real SQLite (its
own "database or disk is full" error, raised by PRAGMA max_page_count)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
from replay_helpers import follow_to_end, kill_group, wait_until

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process import runner
from rave_gui.backend.process.procinfo import group_members
from rave_gui.backend.rave.eventproto import ScalarPoint, encode_scalar_event
from rave_gui.backend.rave.tfevents import write_scalar_events
from rave_gui.backend.rave.tfrecord import frame_record
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.backend.status import RUNNING
from rave_gui.backend.store import db as db_module
from rave_gui.core import process as process_module
from rave_gui.core.process import TrainingProcess

NO_LIMIT = 1073741823
N_POINTS = 20_000

WRITE_EVENTS = f"""
import sys
from pathlib import Path
from rave_gui.backend.rave.eventproto import ScalarPoint
from rave_gui.backend.rave.tfevents import write_scalar_events
folder = Path(sys.argv[1]) / "run_0123456789" / "version_0"
folder.mkdir(parents=True)
points = [ScalarPoint("loss", i, 1.0 / (i + 1), 1e9 + i) for i in range({N_POINTS})]
write_scalar_events(folder / "events.out.tfevents.1.h.1.0", points)
print("Trainer.fit stopped: max_steps={N_POINTS}` reached.", flush=True)
"""


@pytest.fixture
def started(manager: TrainingManager, runs_dir: Path):
    """Start scripts under the supervisor, recorded as running experiments the Engine's way;
    nothing of their groups is left afterwards."""
    groups: list[int] = []

    def start(script: str, *args: str, name: str = "run") -> tuple[int, runner.Launched]:
        exp_id = manager.start_training({"name": name})
        run_dir = runs_dir / f"{exp_id}-{name}"
        argv = [sys.executable, "-c", textwrap.dedent(script), str(run_dir), *args]
        launched = runner.launch(argv, run_dir)
        groups.append(launched.pid)
        manager.experiments.update(
            exp_id,
            command=argv,
            run_dir=str(run_dir),
            log_path=str(launched.log_path),
            pid=launched.pid,
            process_start_time=launched.start_time,
        )
        manager.update_experiment_status(exp_id, RUNNING)
        return exp_id, launched

    yield start
    for pgid in groups:
        kill_group(pgid)


def _ended(launched: runner.Launched) -> None:
    assert wait_until(lambda: not group_members(launched.pid), 30)
    runner.reap()


def _stored(manager: TrainingManager, exp_id: int) -> list[tuple[str, int]]:
    return sorted((n, s) for n, s, _v, _w in manager.metrics.iter_points(exp_id))


# --- a full database disk ----------------------------------------------------------------------


def test_full_database_keeps_every_point_waiting_and_writes_them_once_freed(manager, started):
    exp_id, launched = started(WRITE_EVENTS)
    _ended(launched)
    conn = manager.db.conn
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    follower = RunFollower(manager, exp_id)

    first = follower.poll()  # no exception: the state is in the update
    assert first.store_error.startswith(f"Disk full: {N_POINTS} points waiting; free space")
    assert first.points_waiting == N_POINTS and first.points == {}
    assert [t for t, level in first.lines if level == "error"] == [first.store_error]
    assert not first.finished and manager.get_experiment(exp_id).status == "running"
    assert _stored(manager, exp_id) == [] and manager.follow_state.offsets(exp_id) == {}
    again = follower.poll()  # still full: the same points wait, said once
    assert again.points_waiting == N_POINTS and not again.finished
    assert [t for t, level in again.lines if level == "error"] == []

    conn.execute(f"PRAGMA max_page_count = {NO_LIMIT}")  # space freed
    updates = follow_to_end(follower, 10)
    assert any("written again" in t for u in updates for t, _ in u.lines)
    assert sum(len(p) for u in updates for p in u.points.values()) == N_POINTS
    assert _stored(manager, exp_id) == [("loss", i) for i in range(N_POINTS)]
    exp = manager.get_experiment(exp_id)
    assert exp.status == "completed"  # the end marker read while the disk was full is kept
    assert RunFollower(manager, exp_id).poll().points == {}  # offsets stored: nothing twice


@pytest.fixture
def page_limit(monkeypatch):
    """Every new connection (each thread has its own) starts with max_page_count = value."""
    limit: dict[str, int | None] = {"pages": None}
    real_connect = db_module.connect

    def connect(path, **kwargs):
        conn = real_connect(path, **kwargs)
        if limit["pages"] is not None:
            conn.execute(f"PRAGMA max_page_count = {limit['pages']}")
        return conn

    monkeypatch.setattr(db_module, "connect", connect)
    return limit


def test_training_thread_stays_up_on_a_full_database(qtbot, manager, started, page_limit):
    exp_id, launched = started(WRITE_EVENTS)
    _ended(launched)
    page_limit["pages"] = manager.db.conn.execute("PRAGMA page_count").fetchone()[0]
    lines: list[tuple[str, str]] = []
    thread = TrainingProcess(manager, exp_id)
    thread.lines_received.connect(lines.extend)
    done: list[tuple[str, str]] = []
    thread.run_ended.connect(lambda status, msg: done.append((status, msg)))
    thread.start()
    try:
        qtbot.waitUntil(lambda: any(t.startswith("Disk full") for t, _ in lines), timeout=10_000)
        time.sleep(1.0)  # several polls on the full disk
        assert thread.isRunning() and done == []
        assert sum(t.startswith("Disk full") for t, _ in lines) == 1
        assert manager.get_experiment(exp_id).status == "running"
        for conn in list(manager.db._all):  # free space (the thread's connection too)
            conn.execute(f"PRAGMA max_page_count = {NO_LIMIT}")
        qtbot.waitUntil(lambda: bool(done), timeout=15_000)
    finally:
        thread.stop_following()
        thread.wait(10_000)
    assert done == [("completed", "completed")]
    assert len(_stored(manager, exp_id)) == N_POINTS


def test_training_thread_reports_an_unexpected_error_and_goes_on(
    qtbot, manager, started, monkeypatch
):
    exp_id, launched = started(WRITE_EVENTS)
    _ended(launched)
    real_poll = RunFollower.poll
    failures = [OSError(5, "Input/output error"), OSError(5, "Input/output error")]

    def flaky_poll(self):
        if failures:
            raise failures.pop()
        return real_poll(self)

    monkeypatch.setattr(RunFollower, "poll", flaky_poll)
    monkeypatch.setattr(process_module, "RETRY_INTERVAL_S", 0.05)
    lines: list[tuple[str, str]] = []
    thread = TrainingProcess(manager, exp_id)
    thread.lines_received.connect(lines.extend)
    with qtbot.waitSignal(thread.run_ended, timeout=20_000) as blocker:
        thread.start()
    thread.wait(5000)
    assert blocker.args == ["completed", "completed"]
    problem = "Following the run failed: OSError: [Errno 5] Input/output error (retrying)"
    assert [t for t, level in lines if level == "error"] == [problem]  # said once
    assert len(_stored(manager, exp_id)) == N_POINTS


# --- damaged and truncated event files ---------------------------------------------------------

WAIT_FOR_FILE = """
import os, sys, time
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
"""


def _record(step: int) -> bytes:
    return frame_record(encode_scalar_event(ScalarPoint("loss", step, float(step), 1e9 + step)))


def test_damaged_and_truncated_event_file_while_followed(manager, started, tmp_path):
    done = tmp_path / "done"
    exp_id, _launched = started(WAIT_FOR_FILE, str(done))
    exp = manager.get_experiment(exp_id)
    version = Path(exp.run_dir) / "run_0123456789" / "version_0"
    version.mkdir(parents=True)
    events = version / "events.out.tfevents.1.h.1.0"
    write_scalar_events(events, [ScalarPoint("loss", i, float(i), 1e9 + i) for i in range(1, 18)])
    follower = RunFollower(manager, exp_id)
    follower.poll()
    assert len(_stored(manager, exp_id)) == 17

    # garbage appended, then the run writes on: every later point is read, the loss is said
    with open(events, "ab") as f:
        f.write(random.Random(0).randbytes(1000))
        f.write(b"".join(_record(i) for i in range(18, 47)))
    upd = follower.poll()
    assert upd.points["loss"] == [(i, float(i)) for i in range(18, 47)]
    assert _stored(manager, exp_id) == [("loss", i) for i in range(1, 47)]
    (alert,) = manager.alerts.for_run(exp_id)
    assert (alert.kind, alert.severity, alert.step) == ("data_lost", "warning", 17)
    assert "1000 damaged bytes" in alert.message and "after step 17" in alert.message
    assert any(t.startswith("Data lost: ") and level == "warning" for t, level in upd.lines)

    # the file truncated while followed, then written on
    size = events.stat().st_size
    os.truncate(events, size - 10 * len(_record(40)))
    follower.poll()
    with open(events, "ab") as f:
        f.write(b"".join(_record(i) for i in range(47, 52)))
    follower.poll()
    assert _stored(manager, exp_id)[-5:] == [("loss", i) for i in range(47, 52)]
    alerts = manager.alerts.for_run(exp_id)
    assert len(alerts) == 2 and "became" in alerts[1].message and alerts[1].step == 46

    # a record cut off when the run ends: lost, and said so
    with open(events, "ab") as f:
        f.write(_record(52)[:-7])
    done.touch()
    follow_to_end(follower, 10)
    exp = manager.get_experiment(exp_id)
    assert exp.status == "completed"
    alerts = manager.alerts.for_run(exp_id)
    assert len(alerts) == 3 and "incomplete record" in alerts[2].message
    assert alerts[2].step == 51


# --- why a run ended: the log says more than "killed?" -----------------------------------------

ERROR_THEN_SLEEP = """
import time
print("RuntimeError: CUDA error: an illegal memory access was encountered", flush=True)
time.sleep(60)
"""


def test_killed_supervisor_reason_is_the_logs_last_error_even_after_a_restart(manager, started):
    exp_id, launched = started(ERROR_THEN_SLEEP)
    follower = RunFollower(manager, exp_id)
    error = "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert wait_until(lambda: (error, "error") in follower.poll().lines, 10)
    follower.close()
    os.kill(launched.pid, signal.SIGKILL)  # the supervisor dies; the app closes
    assert wait_until(lambda: (runner.reap(), not os.path.exists(f"/proc/{launched.pid}"))[1], 5)

    follow_to_end(RunFollower(manager, exp_id), 10)  # the app, restarted
    exp = manager.get_experiment(exp_id)
    assert exp.status == "failed"
    assert exp.error == error
    assert wait_until(lambda: not group_members(launched.pid), 5)  # nothing of the run left


FAIL_WHEN_DELETED = """
import os, sys, time
run = sys.argv[1]
print("Epoch 0: training", flush=True)
while os.path.exists(run):
    time.sleep(0.05)
time.sleep(0.2)
open(os.path.join(run, "checkpoints", "last.ckpt"), "wb")  # the folder is gone: raises
"""


@pytest.mark.parametrize("followed", [True, False])
def test_deleted_run_folder_gives_the_real_reason(manager, started, followed):
    exp_id, launched = started(FAIL_WHEN_DELETED)
    run_dir = Path(manager.get_experiment(exp_id).run_dir)
    assert wait_until(lambda: (run_dir / "train.log").exists(), 10)
    follower = RunFollower(manager, exp_id)
    if followed:  # followed while it goes: the log is read to its end
        first_line = ("Epoch 0: training", "info")
        assert wait_until(lambda: first_line in follower.poll().lines, 10)
    shutil.rmtree(run_dir)
    _ended(launched)
    follow_to_end(follower, 10)
    exp = manager.get_experiment(exp_id)
    assert exp.status == "failed"
    if followed:  # the traceback and the supervisor's exit line, from the deleted log
        assert exp.error.startswith("FileNotFoundError: [Errno 2] No such file or directory")
        assert exp.exit_code == 1
    else:  # nothing was read: at least the cause is known
        assert exp.error == f"the run folder {run_dir} was deleted while the run went on"
