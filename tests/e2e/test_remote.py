"""End to end on targets: a real `rave train` (v2_small, CPU) started through a real sshd on
127.0.0.1 and through a real single-node SLURM behind it, followed into the store as a local
run is. (Following through a killed follower and an sshd restart, external scancel and requeue
are proven with the replay double in tests/test_backend/test_remote_*.py, in seconds.) The SSH
run is then exported there by the real `rave export` and its model downloaded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from remote_helpers import add_target
from remote_hosts import slurm, slurm_sshd, sshd  # noqa: F401  (fixtures)

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.follow import RemoteRunFollower
from rave_gui.backend.remote.runs import submit
from rave_gui.backend.remote.ssh import Connection, close_all
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.store.targets import TargetStore
from rave_gui.backend.system.settings import Settings
from rave_gui.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]  # a busy machine trains slowly

LOSS_TERMS = ("fullband_spectral_distance", "multiband_spectral_distance", "regularization")
NAME = "it's a run; rm -rf x"  # reaches RAVE's --name as one argument


@pytest.fixture
def tm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAVE_GUI_LOG_EVERY_N_STEPS", "5")  # passed on to the remote run
    manager = TrainingManager(tmp_path / "db.sqlite3")
    yield manager
    engine = Engine(manager, Settings())
    for exp in manager.list_experiments(status=["running", "paused", "stopping"]):
        engine.stop(exp.id, interrupt_timeout=10)
    manager.close()
    close_all()


def _config(name: str, dataset: Path, max_steps: int, val_every: int) -> dict:
    return {
        "name": name, "dataset_path": str(dataset), "configs": ["v2_small"],
        "max_steps": max_steps, "val_every": val_every, "batch": 2, "workers": 0, "gpu": -1,
    }  # fmt: skip


def _check_trained(tm: TrainingManager, exp_id: int) -> None:
    exp = tm.get_experiment(exp_id)
    assert exp.status == "completed", exp.error
    names = set(tm.metrics.names(exp_id))
    assert set(LOSS_TERMS) <= names and "validation" in names and "lr_generator" in names
    lr = [v for _n, _s, v, _w in tm.metrics.iter_points(exp_id, "lr_generator")]
    assert lr and all(0.99e-4 <= v <= 1.01e-3 for v in lr)
    assert tm.artifacts.checkpoints(exp_id), "no checkpoint recorded"
    assert exp.exit_code == 0


def test_ssh_run_trained_headless_with_wait(
    tm: TrainingManager,
    sshd,  # noqa: F811
    rave_executable: str,
    rave_dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_target(tm, sshd, "box", rave=rave_executable)
    rc = main([
        "--db", str(tm.db.path), "train", "--target", "box", "--dataset", str(rave_dataset),
        "--name", NAME, "--config", "v2_small", "--max-steps", "20", "--val-every", "10",
        "--batch", "2", "--workers", "0", "--gpu", "-1", "--out", str(tmp_path / "runs"),
        "--wait",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    exp = tm.list_experiments()[0]
    assert f"experiment {exp.id} {NAME!r} running (on box: " in out
    assert f"experiment {exp.id} completed" in out
    _check_trained(tm, exp.id)
    assert (Path(exp.run_dir or "") / f"{NAME}_d744cc98b7").is_dir() or any(
        p.name.startswith(NAME) for p in Path(exp.run_dir or "").iterdir()
    )
    # exported there by the real `rave export` (the name's quote and `;` reach it whole), the
    # model downloaded into the run's folder and recorded
    rc = main(["--db", str(tm.db.path), "export", str(exp.id), "--name", "box-model"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "on box to" in out and "all good ! model exported" in out
    (model,) = tm.artifacts.exported_models(exp.id)
    assert model.path == str(Path(exp.run_dir or "") / "exports" / "box-model.ts")
    assert Path(model.path).stat().st_size == model.size > 100_000
    assert model.settings["target"] == "box"


def test_slurm_run_followed_to_completion_with_its_latency(
    tm: TrainingManager,
    slurm_sshd,  # noqa: F811
    rave_executable: str,
    rave_dataset: Path,
    tmp_path: Path,
) -> None:
    add_target(tm, slurm_sshd, "cluster", slurm=True, rave=rave_executable, time_limit="01:00:00")
    exp_id = submit(tm, _config("slurm-run", rave_dataset, 20, 10), "cluster", tmp_path / "runs")
    assert "#SBATCH --signal=B:USR2@120" in tm.get_experiment(exp_id).config["remote_script"]
    follower = RemoteRunFollower(tm, exp_id)
    latencies: list[float] = []
    seen: set[tuple[str, int]] = set()
    deadline = time.monotonic() + 1800
    started = time.monotonic()
    while not follower.poll().finished:
        now = time.time()
        for name in tm.metrics.names(exp_id):
            for n, s, _v, w in tm.metrics.iter_points(exp_id, name):
                if (n, s) not in seen:
                    seen.add((n, s))
                    if w is not None:
                        latencies.append(now - w)
        assert time.monotonic() < deadline
        time.sleep(0.25)
    follower.close()
    _check_trained(tm, exp_id)
    rec = TargetStore(tm.db).run(exp_id)
    assert rec is not None and rec.job_id
    latencies.sort()
    elapsed = time.monotonic() - started
    ckpt = sum(c.size or 0 for c in tm.artifacts.checkpoints(exp_id))
    print(  # the figures of the report (pytest -s)
        f"\nfollow latency: median {latencies[len(latencies) // 2]:.2f} s, max "
        f"{latencies[-1]:.2f} s over {len(latencies)} points; copied "
        f"{follower.bytes_copied - ckpt} bytes of logs/events + {ckpt} bytes of checkpoints "
        f"in {elapsed:.0f} s; all ssh output {follower.place.conn.bytes_in} bytes"
    )
    assert latencies[len(latencies) // 2] < 30


def test_runs_stopped_gracefully_on_ssh_and_slurm(
    tm: TrainingManager,
    sshd,  # noqa: F811
    slurm_sshd,  # noqa: F811
    rave_executable: str,
    rave_dataset: Path,
    tmp_path: Path,
) -> None:
    add_target(tm, sshd, "box", rave=rave_executable)
    add_target(tm, slurm_sshd, "cluster", slurm=True, rave=rave_executable)
    engine = Engine(tm, Settings())
    ids = [
        submit(tm, _config(f"stop-{t}", rave_dataset, 100_000, 50_000), t, tmp_path / "runs")
        for t in ("box", "cluster")
    ]
    followers = [RemoteRunFollower(tm, i) for i in ids]
    deadline = time.monotonic() + 1200
    while any(f.step is None for f in followers):  # both train (a step reached)
        for f in followers:
            f.poll()
        assert time.monotonic() < deadline
        time.sleep(0.5)
    for f in followers:
        f.close()
    for exp_id in ids:
        assert engine.stop(exp_id, interrupt_timeout=120) == "stopped"
        log = Path(tm.get_experiment(exp_id).log_path or "").read_text(errors="replace")
        assert "KeyboardInterrupt" in log, log[-2000:]
    box = TargetStore(tm.db).run(ids[0])
    assert box is not None and box.pid
    conn = Connection(TargetStore(tm.db).get("box"))
    assert conn.run(f"kill -0 -- -{box.pid}", check=False).returncode != 0
