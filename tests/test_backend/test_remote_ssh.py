"""Runs on an SSH target: a real sshd on 127.0.0.1 (this machine reached through ssh), the
replay double of `rave train` started there under the same supervisor as local runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from remote_helpers import add_target, start_remote_replay
from remote_hosts import sshd  # noqa: F401  (a fixture)
from replay_helpers import FIXTURES, fixtures_available

from rave_gui.backend.errors import NotFoundError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.tfevents import EventDirFollower
from rave_gui.backend.remote import follow as remote
from rave_gui.backend.remote.follow import RemoteRunFollower
from rave_gui.backend.remote.ssh import Connection, UnknownHostError, close_all, remote_command
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.runs.followers import follower_for
from rave_gui.backend.store.targets import Target, TargetStore
from rave_gui.backend.system.settings import Settings
from rave_gui.cli import main

NASTY = 'it\'s a "run"; rm -rf $HOME `x` & y'
NAME = "it's a run; rm -rf $HOME `x` & y"  # what an experiment name may hold of it

needs_fixtures = pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")


def _points(tm: TrainingManager, exp_id: int) -> list[tuple[str, int, float]]:
    return sorted(
        (n, s, v) for name in tm.metrics.names(exp_id)
        for n, s, v, _w in tm.metrics.iter_points(exp_id, name)
    )  # fmt: skip


def _file_points(folder: Path) -> list[tuple[str, int, float]]:
    return sorted((p.tag, p.step, p.value) for p in EventDirFollower(folder).poll())


def test_target_store_validates_and_round_trips(tm: TrainingManager) -> None:
    store = TargetStore(tm.db)
    with pytest.raises(ValidationError, match="HH:MM:SS"):
        store.add(Target("c", "slurm", "login", time_limit="ten hours"))
    with pytest.raises(ValidationError, match="host"):
        store.add(Target("c", "ssh", "-oProxyCommand=x"))
    store.add(Target("c", "slurm", "login", port=2222, partition="gpu", gres="gpu:1",
                     time_limit="1-00:00:00", extra_sbatch=["--qos=long"]))  # fmt: skip
    got = store.get("c")
    assert (got.port, got.gres, got.time_limit, got.extra_sbatch) == (
        2222, "gpu:1", "1-00:00:00", ["--qos=long"],
    )  # fmt: skip
    with pytest.raises(NotFoundError, match="targets add"):
        store.get("nope")


def test_schema_v8_adds_targets_to_an_older_database(tmp_path: Path) -> None:
    from rave_gui.backend.store import db

    conn = db.connect(tmp_path / "old.sqlite3", migrate=False)
    db.migrate_to(conn, 6)
    conn.close()
    manager = TrainingManager(tmp_path / "old.sqlite3")
    try:
        assert db.schema_version(manager.db.conn) == db.SCHEMA_VERSION >= 8
        store = TargetStore(manager.db)
        store.add(Target("lab", "ssh", "gpu.example.org", user="me"))
        assert [t.describe() for t in store.all()] == ["ssh me@gpu.example.org"]
    finally:
        manager.close()


def test_every_remote_argument_arrives_as_one(tm: TrainingManager, sshd) -> None:  # noqa: F811
    target = add_target(tm, sshd)
    conn = Connection(target)
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    res = conn.run([sys.executable, "-c", script, NASTY, "", "a b"])
    assert json.loads(res.text) == [NASTY, "", "a b"]
    assert "'" in remote_command([NASTY])  # quoted, not passed raw


def test_unknown_host_shows_its_fingerprint_until_accepted(
    tm: TrainingManager,
    sshd,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(tm.db.path)
    rc = main(["--db", db, "targets", "add", "box", "--host", "127.0.0.1", "--port",
               str(sshd.port), "--user", sshd.user, "--key", str(sshd.key),
               "--rave", str(Path(sys.executable).with_name("rave"))])  # fmt: skip
    assert rc == 0
    with pytest.raises(UnknownHostError) as info:
        Connection(TargetStore(tm.db).get("box")).run("true")
    assert info.value.fingerprints and "SHA256:" in info.value.fingerprints[0]
    capsys.readouterr()
    assert main(["--db", db, "targets", "check", "box"]) == 1
    out = capsys.readouterr().out
    assert "not a known host" in out and "SHA256:" in out and "--accept-host-key" in out
    rc = main(["--db", db, "targets", "check", "box", "--accept-host-key"])
    out = capsys.readouterr().out
    assert "accepted the host key" in out and "reachable" in out
    assert "GPUs: none found" in out
    if Path(sys.executable).with_name("rave").exists():
        assert rc == 0 and "RAVE 2." in out and "ready for training runs" in out
    # once accepted, no more questions; a wrong rave command is said exactly
    main(["--db", db, "targets", "add", "bad", "--host", "127.0.0.1", "--port", str(sshd.port),
          "--user", sshd.user, "--key", str(sshd.key), "--rave", "/no/such/rave"])  # fmt: skip
    main(["--db", db, "targets", "check", "bad", "--accept-host-key"])
    capsys.readouterr()
    assert main(["--db", db, "targets", "check", "bad"]) == 1
    assert "MISSING: RAVE was not found on bad as '/no/such/rave'" in capsys.readouterr().out
    assert main(["--db", db, "targets", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listed] == ["bad", "box"]
    assert main(["--db", db, "targets", "remove", "bad"]) == 0
    assert main(["--db", db, "targets", "remove", "bad"]) == 1
    assert "rave-gui: error: There is no target named 'bad'" in capsys.readouterr().err


@needs_fixtures
def test_remote_run_followed_through_follower_kill_and_sshd_restart(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A follower killed mid-run, the sshd restarted and every shared connection dropped:
    the next follower catches up from the stored offsets; every point of the run's event file
    is stored once, none twice."""
    target = add_target(tm, sshd)
    run = start_remote_replay(tm, target, tmp_path / "runs", name=NAME, duration=8.0)
    exp_id = run.experiment_id
    db = str(tm.db.path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rave_gui", "--db", db, "runs", "follow", str(exp_id)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not _points(tm, exp_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _points(tm, exp_id), "the first follower stored nothing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sshd.restart()
    close_all()
    follower = follower_for(tm, exp_id)
    assert isinstance(follower, RemoteRunFollower)
    deadline = time.monotonic() + 60
    while not follower.poll().finished:
        assert time.monotonic() < deadline, "the run was not followed to its end"
        time.sleep(0.2)
    follower.close()
    exp = tm.get_experiment(exp_id)
    assert exp.status == "completed", exp.error
    stored = _points(tm, exp_id)
    expected = _file_points(FIXTURES / run_fixture())
    assert stored == expected  # each point once, none lost
    local = Path(exp.run_dir or "")
    assert (local / f"{NAME}_d744cc98b7").is_dir()  # the name reached the replay as one arg
    assert tm.artifacts.checkpoints(exp_id), "the checkpoints were not copied"
    rec = TargetStore(tm.db).run(exp_id)
    assert rec is not None and rec.state == "exited" and rec.pid


def run_fixture() -> str:
    return "run_110steps"


@needs_fixtures
def test_remote_run_stopped_paused_and_resumed(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = add_target(tm, sshd)
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=60.0, interrupt_time=0.5)
    exp_id = run.experiment_id
    engine = Engine(tm, Settings())
    conn = Connection(target)
    follower = RemoteRunFollower(tm, exp_id)
    follower.poll()
    engine.pause(exp_id)
    state = conn.run(["ps", "-o", "stat=", "-p", str(run.pid)]).text.strip()
    assert state.startswith("T"), state
    assert tm.get_experiment(exp_id).status == "paused"
    engine.resume(exp_id)
    state = conn.run(["ps", "-o", "stat=", "-p", str(run.pid)]).text.strip()
    assert not state.startswith("T"), state
    assert engine.stop(exp_id, interrupt_timeout=30) == "stopped"
    follower.close()
    res = conn.run(f"kill -0 -- -{run.pid}", check=False)
    assert res.returncode != 0, "a process of the run is left on the target"
    log = Path(tm.get_experiment(exp_id).log_path or "").read_text(errors="replace")
    assert "KeyboardInterrupt" in log  # the graceful stop RAVE understands
    with pytest.raises(Exception, match="already stopped"):
        remote.request_stop(tm, exp_id)
