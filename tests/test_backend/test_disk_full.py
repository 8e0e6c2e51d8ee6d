"""A full disk under a run folder: the supervisor and its run go on, the cause is recorded, and a
checkpoint cut short is never listed.

The small disk is a real 2 MiB tmpfs (the tests run as root). Where mounting is refused, the
log is a link to /dev/full instead: every write to it fails with the real ENOSPC, though space
can then never be freed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process import runner
from rave_gui.backend.runs.checkpoints import find_checkpoints
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.backend.status import RUNNING

CHILD = """
import os, sys, time
sys.stdout.write(("x" * 99 + "\\n") * 15000)  # 1.5 MB: more than the space left
sys.stdout.flush()
while os.path.exists(sys.argv[1]):  # until the test frees space
    time.sleep(0.05)
print("after the disk was freed", flush=True)
sys.exit(3)
"""


@pytest.fixture
def small_disk(tmp_path: Path):
    """A folder on a 2 MiB filesystem of its own, or None where mounting is not allowed."""
    folder = tmp_path / "small"
    folder.mkdir()
    try:
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
            ).returncode
            == 0
        )
    except OSError:  # no mount command
        mounted = False
    if not mounted:
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _wait_status(run: runner.Launched, pred, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = runner.read_status(run.status_path)
        if st and pred(st):
            return st
        time.sleep(0.05)
    last = runner.read_status(run.status_path)
    raise AssertionError(f"no such status within {timeout} s: {last}")


def test_full_run_folder_disk_keeps_the_supervisor_and_run_alive_and_records_why(
    tmp_path, small_disk, launched
):
    if small_disk is not None:
        run_dir = small_disk / "run"
        run_dir.mkdir()
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * (3 << 19))  # 1.5 of the 2 MiB: the output fills the rest
    else:  # fault-injecting fallback: the log is /dev/full
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        (run_dir / "train.log").symlink_to("/dev/full")
        filler = tmp_path / "filler"
        filler.write_bytes(b"")
    run = launched([sys.executable, "-c", CHILD, str(filler)], run_dir)

    # the loss is in the status file while the run still goes on
    st = _wait_status(run, lambda s: s.get("output_lost"), 30)
    assert st["state"] == "running"
    assert st["error"].startswith("the run folder's disk is full: ")
    assert runner.group_alive(run.pid)

    filler.unlink()  # space freed: what comes next is written again
    st = _wait_status(run, lambda s: s.get("state") == "exited", 30)
    assert st["exit_code"] == 3  # the run's own exit code: it was not killed by a broken pipe
    lost = st["output_lost"]
    assert st["error"] == f"the run folder's disk is full: {lost} bytes of output lost"
    if small_disk is not None:
        log = run.log_path.read_text()
        assert log.endswith("after the disk was freed\n[rave-gui] process exited with code 3\n")
        notes = re.findall(r"\[rave-gui\] (\d+) bytes of output lost: [^\n]*\n", log)
        assert notes and sum(int(n) for n in notes) == lost  # each loss said once room was back
        output = re.sub(r"\[rave-gui\] [^\n]*\n", "", log)
        assert len(output) - len("after the disk was freed\n") + lost == 1_500_000  # all counted
    else:
        assert lost == 1_500_000 + len("after the disk was freed\n")

    # the follower records that cause, not "killed?"
    manager = TrainingManager(tmp_path / "rave-gui.db")
    try:
        exp_id = manager.start_training({"name": "full"})
        manager.experiments.update(
            exp_id,
            run_dir=str(run_dir),
            log_path=str(run.log_path),
            pid=run.pid,
            process_start_time=run.start_time,
        )
        manager.update_experiment_status(exp_id, RUNNING)
        assert runner.wait_group(run.pid, 10)
        follower = RunFollower(manager, exp_id)
        for _ in range(100):
            if follower.poll().finished:
                break
        exp = manager.get_experiment(exp_id)
        assert (exp.status, exp.exit_code) == ("failed", 3)
        assert exp.error == st["error"]
        (alert,) = manager.alerts.for_run(exp_id)
        assert (alert.kind, alert.severity, alert.message) == (
            "data_lost",
            "warning",
            st["error"],
        )
    finally:
        manager.close()


def _torch_like_checkpoint(path: Path, payload: bytes) -> None:
    """A zip archive laid out as torch.save writes one (members, then the central directory)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", payload)


def test_checkpoint_cut_short_by_a_full_disk_is_not_listed(tmp_path, small_disk):
    folder = small_disk if small_disk is not None else tmp_path
    ckpts = folder / "NAME_0123456789" / "version_0" / "checkpoints"
    ckpts.mkdir(parents=True)
    _torch_like_checkpoint(ckpts / "epoch-epoch=0001.ckpt", os.urandom(100_000))
    best = ckpts / "best.ckpt"
    if small_disk is not None:  # the real thing: torch.save of a model bigger than the space left
        with pytest.raises(OSError) as err:
            _torch_like_checkpoint(best, os.urandom(3 << 20))
        assert err.value.errno == 28  # ENOSPC
        assert best.stat().st_size > 100_000  # a good part of it is there
    else:  # the same file, cut as a full disk cuts it
        _torch_like_checkpoint(best, os.urandom(3 << 20))
        os.truncate(best, 1 << 20)
    found = find_checkpoints(folder)
    assert [Path(c["path"]).name for c in found] == ["epoch-epoch=0001.ckpt"]

    best.unlink()  # space freed: the next save is complete and listed, as the best
    _torch_like_checkpoint(best, os.urandom(200_000))
    found = {Path(c["path"]).name: c for c in find_checkpoints(folder)}
    assert set(found) == {"epoch-epoch=0001.ckpt", "best.ckpt"}
    assert found["best.ckpt"]["is_best"]
    # a checkpoint in torch's old pickle format cannot be checked: listed; an empty file is not
    (ckpts / "old.ckpt").write_bytes(b"\x80\x02" + os.urandom(1000))
    (ckpts / "empty.ckpt").write_bytes(b"")
    names = {Path(c["path"]).name for c in find_checkpoints(folder)}
    assert names == {"epoch-epoch=0001.ckpt", "best.ckpt", "old.ckpt"}
