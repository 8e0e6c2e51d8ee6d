"""Which checkpoints of a run on a target are copied back (each is ~120 MB for a real model):
the newest and the best by default, all or none as the target says; the others stay on the
target, listed. Over the real sshd on 127.0.0.1 with the replay double."""

from __future__ import annotations

import json
import posixpath
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from remote_helpers import add_target, start_remote_replay
from remote_hosts import sshd  # noqa: F401  (a fixture)
from replay_helpers import fixtures_available

from rave_gui.backend.errors import ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.follow import RemoteRunFollower
from rave_gui.backend.remote.mirror import chosen_checkpoints, remote_only_checkpoints, sync
from rave_gui.backend.remote.resume import RESUME_KEY, resume_config
from rave_gui.backend.remote.scripts import HELPER
from rave_gui.backend.remote.ssh import Connection
from rave_gui.backend.runs.resume import resume_checkpoints, resume_point
from rave_gui.backend.store import db
from rave_gui.backend.store.targets import Target, TargetStore
from rave_gui.cli import main

CKPTS = "replay_d744cc98b7/version_0/checkpoints"


def test_last_keeps_the_newest_and_the_best() -> None:
    found = {
        f"{CKPTS}/epoch-epoch=0001.ckpt": [120, 100.0],
        f"{CKPTS}/epoch-epoch=0002.ckpt": [120, 200.0],
        f"{CKPTS}/best.ckpt": [120, 150.0],
        f"{CKPTS}/epoch-epoch=0003.ckpt": [120, 300.0],
    }
    assert chosen_checkpoints(found, "last") == {
        f"{CKPTS}/epoch-epoch=0003.ckpt",
        f"{CKPTS}/best.ckpt",
    }
    assert chosen_checkpoints(found, "all") == set(found)
    assert chosen_checkpoints(found, "none") == set()
    assert chosen_checkpoints({}, "last") == set()


def test_the_setting_is_stored_checked_and_migrated(tm: TrainingManager, tmp_path: Path) -> None:
    store = TargetStore(tm.db)
    store.add(Target(name="box", kind="ssh", host="127.0.0.1"))
    assert store.get("box").copy_checkpoints == "last"  # the default
    store.set_copy_checkpoints("box", "none")
    assert store.get("box").copy_checkpoints == "none"
    with pytest.raises(ValidationError, match="all, last, none"):
        store.set_copy_checkpoints("box", "some")
    # a database from before the setting: its targets get the default, the migration is safe
    # to run again (it does not depend on the migration numbered before it)
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for migrate in db.MIGRATIONS[:8]:
        migrate(conn)
    conn.execute("PRAGMA user_version = 8")
    conn.execute("INSERT INTO targets (name, kind, host, created_at) VALUES ('old', 'ssh', 'h', 0)")
    conn.close()
    old = TrainingManager(path)
    try:
        assert TargetStore(old.db).get("old").copy_checkpoints == "last"
        db.MIGRATIONS[-1](old.db.conn)  # again: nothing happens
    finally:
        old.close()


def test_cli_sets_it(tm: TrainingManager, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--db", str(tm.db.path), "targets"]
    assert main([*base, "add", "box", "--host", "127.0.0.1", "--copy-checkpoints", "none"]) == 0
    assert TargetStore(tm.db).get("box").copy_checkpoints == "none"
    assert main([*base, "set", "box", "--copy-checkpoints", "all"]) == 0
    assert "copy checkpoints all" in capsys.readouterr().out
    assert TargetStore(tm.db).get("box").copy_checkpoints == "all"
    assert main([*base, "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["copy_checkpoints"] == "all"


@pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")
def test_none_copies_no_checkpoint_and_lists_them(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = add_target(tm, sshd, "box")
    TargetStore(tm.db).set_copy_checkpoints("box", "none")
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=2.0)
    follower = RemoteRunFollower(tm, run.experiment_id)
    deadline = time.monotonic() + 60
    while not follower.poll().finished:
        assert time.monotonic() < deadline
        time.sleep(0.25)
    follower.close()
    exp = tm.get_experiment(run.experiment_id)
    assert exp.status == "completed", exp.error
    local = Path(exp.run_dir or "")
    assert not list(local.rglob("*.ckpt"))  # nothing copied
    left = remote_only_checkpoints(local)
    assert sorted(Path(r).name for r, _n in left) == ["best.ckpt", "epoch-epoch=0001.ckpt"]
    assert all(n > 2048 for _r, n in left)
    assert main(["--db", str(tm.db.path), "runs", "show", str(exp.id)]) == 0
    shown = capsys.readouterr().out
    assert "on target:   2 checkpoint(s) not copied" in shown, shown
    # they can be resumed from: listed (on the target), the resume copies one there
    ckpts = resume_checkpoints(tm, exp.id)
    assert sorted(Path(c.path).name for c in ckpts) == ["best.ckpt", "epoch-epoch=0001.ckpt"]
    assert all(c.on_target and c.size and c.size > 2048 for c in ckpts)
    point = resume_point(tm, exp)  # the newest that is not the best: the run's last state
    assert Path(point.path).name == "epoch-epoch=0001.ckpt" and point.on_target
    assert resume_point(tm, exp, point.path) == point  # chosen by its path too
    spec = resume_config(tm, exp, Path(point.path), Path(point.path).parents[2])[RESUME_KEY]
    assert spec["checkpoint"] == posixpath.join(run.remote_dir, CKPTS, "epoch-epoch=0001.ckpt")
    assert Path(spec["checkpoint"]).is_file()  # there (the target is this machine)


@pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")
def test_last_leaves_older_checkpoints_on_the_target(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = add_target(tm, sshd, "box")
    TargetStore(tm.db).set_copy_checkpoints("box", "none")  # the end copies nothing yet
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=2.0)
    follower = RemoteRunFollower(tm, run.experiment_id)
    while not follower.poll().finished:
        time.sleep(0.25)
    follower.close()
    exp = tm.get_experiment(run.experiment_id)
    local = Path(exp.run_dir or "")
    conn = Connection(target)
    folder = posixpath.join(run.remote_dir, CKPTS)
    older = posixpath.join(folder, "epoch-epoch=0000.ckpt")  # an earlier epoch's, as RAVE's
    conn.run(["sh", "-c", 'head -c 4096 /dev/urandom > "$1" && touch -d "1 hour ago" "$1"',
              "sh", older])  # fmt: skip
    helper = posixpath.join(str(exp.config["remote_tools"]), HELPER)
    args = (conn, sys.executable, helper, run.remote_dir, local)
    res = sync(*args, ckpt=True, copy="last")
    assert len(res.checkpoints) == 3
    copied = sorted(p.name for p in local.rglob("*.ckpt"))
    assert copied == ["best.ckpt", "epoch-epoch=0001.ckpt"]  # the newest and the best
    assert [Path(r).name for r, _n in remote_only_checkpoints(local)] == ["epoch-epoch=0000.ckpt"]
    sync(*args, ckpt=True, copy="all")
    assert (local / CKPTS / "epoch-epoch=0000.ckpt").stat().st_size == 4096
    assert remote_only_checkpoints(local) == []
