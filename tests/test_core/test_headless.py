"""Runs need no window: started from the CLI, they record their own end and start the queued
runs (their supervisor's on-exit hook); CLI commands catch up before they show; several
followers of one run store each point once; `runs follow` follows like the app.

Every run is a real process: the `rave` double replays a real captured `rave train` run
(``replay_helpers.write_replay_rave``), the CLI runs as a subprocess of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from replay_helpers import (
    FIXTURES,
    MAX_STEPS,
    fixture_points,
    fixtures_available,
    follow_to_end,
    stop_all,
    stored_points,
    wait_until,
    write_replay_rave,
)

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process.procinfo import group_members, is_same_process
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.backend.status import FINAL
from rave_gui.backend.system.settings import Settings, save_settings

REPO = Path(__file__).resolve().parents[2]
RAVE = Path(sys.executable).with_name("rave")  # its Python answers the probe (acids-rave)
pytestmark = pytest.mark.skipif(
    not (RAVE.exists() and fixtures_available()), reason="needs the RAVE command line + fixtures"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)  # RAVE_GUI_DATA: the test's private settings and data folder
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["RAVE_GUI_FIXTURES"] = str(FIXTURES)
    return env


def cli(*args: str, db: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rave_gui", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=_env(),
    )


def cli_popen(*args: str, db: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rave_gui", *args, "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=_env(),
    )


@pytest.fixture
def headless(tmp_path: Path, db_path: Path, manager: TrainingManager):
    """Saved settings as a user would have them (runs folder, at most one run at a time,
    RAVE started directly), a `rave` double, a dataset; everything stopped afterwards."""
    save_settings(
        Settings(runs_dir=str(tmp_path / "runs"), max_concurrent_runs=1, use_launcher=False)
    )
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "metadata.yaml").write_text(
        "channels: 1\nlazy: false\nn_seconds: 208.0\nsr: 44100\n"
    )
    (dataset / "data.mdb").write_bytes(b"")

    def train(name: str, *extra: str, rave: Path, max_steps: int = 40) -> list[str]:
        return ["train", "--dataset", str(dataset), "--config", "v2_small", "--name", name,
                "--max-steps", str(max_steps), "--val-every", "10", "--batch", "2",
                "--workers", "0", "--rave", str(rave), *extra]  # fmt: skip

    yield train
    stop_all(manager)


def _status(manager: TrainingManager, exp_id: int) -> str:
    return manager.get_experiment(exp_id).status


def _ended(manager: TrainingManager, exp_id: int) -> bool:
    return _status(manager, exp_id) in FINAL


def test_runs_started_without_a_window_record_their_end_and_start_the_queue(
    tmp_path, db_path, manager, headless
):
    rave = write_replay_rave(tmp_path / "bin", duration=1.5)
    first = cli(*headless("first", rave=rave), db=db_path)
    assert first.returncode == 0, first.stderr
    assert "experiment 1 'first' running" in first.stdout
    second = cli(*headless("second", rave=rave), db=db_path)
    assert second.returncode == 0, second.stderr
    assert "experiment 2 'second' queued" in second.stdout

    # Nobody follows: no window, no --wait, no CLI command. The runs do it themselves.
    assert wait_until(lambda: _ended(manager, 1) and _ended(manager, 2), 60)
    expected = fixture_points("run_40steps")
    for exp_id in (1, 2):
        exp = manager.get_experiment(exp_id)
        assert exp.status == "completed", exp.error
        assert exp.exit_code == 0
        assert stored_points(manager, exp_id) == expected  # every point, each once
        assert exp.summary["step"] == MAX_STEPS["run_40steps"]
        assert {Path(c.path).name for c in manager.artifacts.checkpoints(exp_id)} == {
            "best.ckpt",
            "epoch-epoch=0001.ckpt",
        }
    one, two = manager.get_experiment(1), manager.get_experiment(2)
    assert two.started_at >= one.completed_at, "the queued run started before a slot"
    hook_log = (Path(one.run_dir) / "supervisor.err").read_text()
    assert re.search(r"experiment 1 completed; started 2$", hook_log, re.M), hook_log


def test_stop_without_waiting_is_recorded_when_the_run_has_stopped(
    tmp_path, db_path, manager, headless
):
    rave = write_replay_rave(tmp_path / "bin", duration=8.0)
    out = cli(*headless("long", rave=rave, max_steps=110), db=db_path)
    assert out.returncode == 0, out.stderr
    log = Path(manager.get_experiment(1).run_dir) / "train.log"
    assert wait_until(lambda: log.exists() and b"Epoch" in log.read_bytes(), 20)

    stop = cli("runs", "stop", "1", "--no-wait", db=db_path)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.strip() == "experiment 1 stopping"

    assert wait_until(lambda: _ended(manager, 1), 30), "nothing recorded the end of the run"
    exp = manager.get_experiment(1)
    assert exp.status == "stopped"  # not completed, although RAVE exits 0 on SIGINT
    assert exp.exit_code == 0
    assert not group_members(exp.pid)
    assert set(stored_points(manager, 1)) < set(fixture_points("run_110steps"))


def test_a_killed_train_wait_leaves_a_run_that_is_still_recorded(
    tmp_path, db_path, manager, headless
):
    rave = write_replay_rave(tmp_path / "bin", duration=4.0)
    proc = cli_popen(*headless("waited", "--wait", rave=rave, max_steps=110), db=db_path)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # until it follows: the run is started and stores points
            lines.append(line)
            if line.startswith("step "):
                break
        assert any("running" in line for line in lines), (lines, proc.stderr)
        proc.send_signal(signal.SIGKILL)  # the terminal is closed, the machine's ssh dropped
        assert proc.wait(5) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    exp = manager.get_experiment(1)
    assert exp.status == "running" and is_same_process(exp.pid, exp.process_start_time)

    assert wait_until(lambda: _ended(manager, 1), 30), "nothing recorded the end of the run"
    assert _status(manager, 1) == "completed"
    assert stored_points(manager, 1) == fixture_points("run_110steps")


def test_two_followers_at_once_read_each_point_once_and_each_reports_all(manager, replay):
    """Each poll holds the run's lock and starts where the last poll of either follower
    stopped: the run's bytes are read once (its log lines and points come from one follower
    or the other, never both), and each follower still reports every point once (the points
    the other stored are read back from the store), as the app's live plot needs."""
    run = replay(fixture="run_110steps", duration=3.0)
    results: dict[str, list] = {}
    errors: list[BaseException] = []

    def follow(name: str) -> None:
        try:
            results[name] = follow_to_end(RunFollower(manager, run.exp_id), 30, interval=0.01)
        except BaseException as err:  # reported by the test thread
            errors.append(err)

    threads = [threading.Thread(target=follow, args=(n,)) for n in ("app", "cli")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert not errors, errors

    expected = fixture_points("run_110steps")
    for updates in results.values():
        emitted = [(n, s) for u in updates for n, pts in u.points.items() for s, _v in pts]
        assert sorted(emitted) == [(t, s) for t, s, _v in expected]  # each point, once
    assert stored_points(manager, run.exp_id) == expected
    lines = {n: [t for u in updates for t, _lvl in u.lines] for n, updates in results.items()}
    assert lines["app"] and lines["cli"], "both should have read part of the run"
    together = lines["app"] + lines["cli"]
    assert together.count("`Trainer.fit` stopped: `max_steps=110` reached.") == 1
    log = run.launched.log_path.read_text(errors="replace")
    assert (
        together.count("[rave-gui] process exited with code 0")
        == 1
        == log.count("[rave-gui] process exited with code 0")
    )
    assert _status(manager, run.exp_id) == "completed"


def test_runs_list_shows_the_live_step(db_path, manager, replay):
    run = replay(fixture="run_110steps", duration=6.0, tick_every=0.25)
    seen: list[int] = []
    while True:
        listed = cli("runs", "list", "--json", db=db_path)
        assert listed.returncode == 0, listed.stderr
        (exp,) = json.loads(listed.stdout)
        if exp["status"] != "running":
            break
        if exp["metrics"].get("step") is not None:
            seen.append(exp["metrics"]["step"])
        time.sleep(0.3)
    assert seen == sorted(seen)
    assert len(set(seen)) >= 3, seen  # it moves while the run is live
    scalar_steps = {s for _t, s, _v in fixture_points("run_110steps")}
    assert set(seen) - scalar_steps, "only the (every 50 steps) scalar steps were shown"
    assert exp["status"] == "completed"  # `runs list` recorded the end it saw
    assert exp["metrics"]["step"] == 110
    table = cli("runs", "list", db=db_path).stdout
    assert re.search(r"^1\s+replay\s+.*\bcompleted\b.*\b110\b", table, re.M), table
    assert stored_points(manager, run.exp_id) == fixture_points("run_110steps")


def test_runs_follow_prints_progress_and_the_outcome(db_path, manager, replay):
    run = replay(fixture="run_110steps", duration=5.0, tick_every=0.25)
    out = cli("runs", "follow", str(run.exp_id), db=db_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    steps = [int(m.group(1)) for line in lines if (m := re.match(r"step (\d+)/110\b", line))]
    assert len(steps) >= 2 and steps == sorted(steps), lines
    assert any(re.search(r"steps/s\s+ETA \d+ (s|min|h|d)\b", line) for line in lines), lines
    assert lines[-1] == f"experiment {run.exp_id} completed"
    assert stored_points(manager, run.exp_id) == fixture_points("run_110steps")


def test_ctrl_c_in_runs_follow_leaves_the_run_going(db_path, manager, replay):
    run = replay(fixture="run_110steps", duration=6.0, tick_every=0.25)
    proc = cli_popen("runs", "follow", db=db_path)  # every live run
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"[{run.exp_id}] step "), (first, proc.stderr)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert "Stopped following; the run goes on." in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    exp = manager.get_experiment(run.exp_id)
    assert exp.status == "running"
    assert is_same_process(exp.pid, exp.process_start_time)
