"""Start replayed `rave train` runs exactly as the Engine starts real ones, and compare stores.

The replay (``replay_run.py``) writes a real captured run with realistic timing; here it is
recorded as an experiment the way ``Engine.submit`` + ``Engine.launch`` do it, only with the
replay's argv instead of ``rave train``'s.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process import runner
from rave_gui.backend.process.procinfo import group_members, signal_group
from rave_gui.backend.rave import tfevents
from rave_gui.backend.runs.engine import new_run_folder
from rave_gui.backend.status import LIVE, QUEUED, RUNNING

REPLAY_SCRIPT = Path(__file__).resolve().with_name("replay_run.py")
FIXTURES = Path(
    os.environ.get("RAVE_GUI_FIXTURES")
    or Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rave"
)
MAX_STEPS = {"run_40steps": 40, "run_110steps": 110}
VAL_EVERY = {"run_40steps": 10, "run_110steps": 30}
FAIL_REASON = "ValueError: n_components=128 must be between 0 and min(n_samples, n_features)=64"


def fixtures_available() -> bool:
    return all((FIXTURES / f / "train.stdout").exists() for f in MAX_STEPS)


def replay_argv(
    fixture: str,
    out: str | os.PathLike[str],
    *,
    name: str,
    duration: float,
    fail: bool = False,
    workers: int = 0,
    seed: int = 0,
    tick_every: float = 0.0,
    interrupt_time: float = 0.0,
) -> list[str]:
    argv = [
        sys.executable, str(REPLAY_SCRIPT), str(FIXTURES / fixture),
        "--out", str(out), "--name", name, "--duration", str(duration), "--seed", str(seed),
    ]  # fmt: skip
    if fail:
        argv.append("--fail")
    if tick_every:
        argv += ["--tick-every", str(tick_every), "--max-steps", str(MAX_STEPS[fixture])]
    if workers:
        argv += ["--workers", str(workers)]
    if interrupt_time:
        argv += ["--interrupt-time", str(interrupt_time)]
    return argv


@dataclass
class ReplayRun:
    exp_id: int
    launched: runner.Launched
    run_dir: Path
    fixture: str
    argv: list[str] = field(default_factory=list)

    @property
    def pgid(self) -> int:
        return self.launched.pid


def start_replay_experiment(
    manager: TrainingManager,
    runs_dir: str | os.PathLike[str],
    *,
    fixture: str = "run_110steps",
    name: str = "replay",
    duration: float = 3.0,
    fail: bool = False,
    workers: int = 0,
    seed: int = 0,
    dataset_path: str = "/data/db",
    tick_every: float = 0.0,
    interrupt_time: float = 0.0,
) -> ReplayRun:
    """Record an experiment and start the replay the way the Engine starts `rave train`:
    start_training, a new run folder of its own (new_run_folder), runner.launch into it, then
    the process fields and the running status."""
    config = {
        "name": name,
        "dataset_path": dataset_path,
        "out_path": str(runs_dir),
        "configs": ["v2_small"],
        "overrides": [],
        "max_steps": MAX_STEPS[fixture],
        "val_every": VAL_EVERY[fixture],
        "save_every": None,
        "batch": 2,
        "channels": 1,
        "gpu": -1,
        "workers": workers,
        "ema": None,
        "ckpt": None,
    }
    exp_id = manager.start_training(config)
    run_dir, uid = new_run_folder(manager, exp_id, runs_dir)
    argv = replay_argv(
        fixture, run_dir, name=name, duration=duration, fail=fail, workers=workers, seed=seed,
        tick_every=tick_every, interrupt_time=interrupt_time,
    )  # fmt: skip
    launched = runner.launch(argv, run_dir, run_uid=uid)
    manager.experiments.update(
        exp_id,
        command=argv,
        run_dir=str(run_dir),
        log_path=str(launched.log_path),
        pid=launched.pid,
        process_start_time=launched.start_time,
    )
    manager.update_experiment_status(exp_id, RUNNING)
    return ReplayRun(exp_id, launched, run_dir, fixture, argv)


_RAVE_DOUBLE = """#!{python}
# `rave` for tests: `rave train FLAGS` replays a captured run instead of training
# (replay_run.py; the fixture by --max_steps). Written by replay_helpers.write_replay_rave.
import os, sys
args = sys.argv[1:]
if args[:1] != ["train"]:
    sys.exit("this test double of rave only knows `rave train`")
opts, i = {{}}, 1
while i + 1 < len(args):
    opts.setdefault(args[i], args[i + 1])
    i += 2
steps = int(opts.get("--max_steps", "40"))
fixture = "run_110steps" if steps == 110 else "run_40steps"
argv = [{python!r}, {replay!r}, os.path.join({fixtures!r}, fixture), "--out", opts["--out_path"],
        "--name", opts["--name"], "--duration", {duration!r}, "--tick-every", {tick!r},
        "--max-steps", str(steps)]
os.execv(argv[0], argv)
"""


def write_replay_rave(folder: Path, duration: float = 1.5, tick_every: float = 0.25) -> Path:
    """A `rave` executable for the Engine (with ``use_launcher`` off) and for processes it
    starts (on-exit hooks): ``rave train`` replays run_40steps (run_110steps for
    ``--max_steps 110``) in ``duration`` seconds, with launcher-like step lines. Its ``#!``
    interpreter is this one, so probing it finds the installed acids-rave's configs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rave"
    path.write_text(
        _RAVE_DOUBLE.format(
            python=sys.executable,
            replay=str(REPLAY_SCRIPT),
            fixtures=str(FIXTURES),
            duration=str(duration),
            tick=str(tick_every),
        )
    )
    path.chmod(0o755)
    return path


def hook_processes(db_path: str | os.PathLike[str]) -> list[int]:
    """Pids of the on-exit hooks (`rave-gui runs finish`) running against a database."""
    import psutil

    db = str(Path(db_path).absolute())
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "finish" in cmd and db in cmd:
            found.append(p.info["pid"])
    return found


def stop_all(manager: TrainingManager, timeout: float = 30.0) -> None:
    """Teardown of a test whose runs start each other: cancel queued runs, kill every run's
    process group, let the on-exit hooks already running end, then kill what they started."""
    for exp in manager.list_experiments(status=QUEUED):
        manager.stop_training(exp.id)
    for exp in manager.list_experiments():
        if exp.pid:
            kill_group(exp.pid)
    wait_until(lambda: not hook_processes(manager.db.path), timeout)
    for exp in manager.list_experiments(status=list(LIVE)):
        if exp.pid:
            kill_group(exp.pid)


def kill_group(pgid: int, timeout: float = 5.0) -> None:
    """Make sure nothing of a process group is left (teardown)."""
    try:
        signal_group(pgid, signal.SIGCONT)
        signal_group(pgid, signal.SIGKILL)
    except Exception:
        pass
    runner.wait_group(pgid, timeout)
    runner.reap()


def wait_until(pred: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _key(value: float) -> object:
    return "nan" if math.isnan(value) else value


def fixture_points(fixture: str) -> list[tuple[str, int, object]]:
    """Every scalar of the fixture's event file: (tag, step, value), sorted."""
    pts = tfevents.read_scalars(FIXTURES / fixture)
    return sorted((p.tag, p.step, _key(p.value)) for p in pts)


def stored_points(manager: TrainingManager, exp_id: int) -> list[tuple[str, int, object]]:
    """Every stored point of an experiment: (name, step, value), sorted."""
    return sorted((n, s, _key(v)) for n, s, v, _w in manager.metrics.iter_points(exp_id))


def follow_to_end(follower, timeout: float, interval: float = 0.05) -> list:
    """Poll a RunFollower until it reports the end; returns every update."""
    updates = []
    deadline = time.monotonic() + timeout
    while True:
        upd = follower.poll()
        updates.append(upd)
        if upd.finished:
            return updates
        if time.monotonic() >= deadline:
            raise AssertionError(f"the run did not finish within {timeout} s")
        time.sleep(interval)


__all__ = [
    "FAIL_REASON",
    "FIXTURES",
    "ReplayRun",
    "fixture_points",
    "fixtures_available",
    "follow_to_end",
    "group_members",
    "hook_processes",
    "kill_group",
    "replay_argv",
    "start_replay_experiment",
    "stop_all",
    "stored_points",
    "wait_until",
    "write_replay_rave",
]
