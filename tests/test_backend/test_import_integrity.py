"""Importing a run is all or nothing, and a folder that is not a run is refused at once."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rave_gui.backend.errors import DiskFullError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.eventproto import ScalarPoint, parse_event_scalars
from rave_gui.backend.rave.tfevents import read_scalars, write_scalar_events
from rave_gui.backend.rave.tfrecord import iter_records
from rave_gui.backend.runs.engine import import_run

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rave"
EVENTS = "events.out.tfevents.1795382534.vm.7124.0"


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    """A RAVE run folder (NAME_HASH/version_0/...) from a real capture."""
    src = FIXTURES / "run_40steps" / EVENTS
    if not src.exists():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    run = tmp_path / "runs" / "short_d744cc98b7"
    (run / "version_0" / "checkpoints").mkdir(parents=True)
    shutil.copy(src, run / "version_0" / EVENTS)
    (run / "version_0" / "checkpoints" / "best.ckpt").write_bytes(b"\x80\x02" + b"0" * 1000)
    return run


@pytest.fixture
def manager(tmp_path: Path):
    m = TrainingManager(tmp_path / "rave-gui.db")
    yield m
    m.close()


def test_root_and_other_non_run_folders_are_refused_at_once(manager, run_folder):
    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="does not look like a RAVE run folder"):
        import_run(manager, "/")
    assert time.perf_counter() - t0 < 0.5  # no walk over the whole filesystem
    with pytest.raises(ValidationError, match="Choose the NAME_HASH folder"):
        import_run(manager, run_folder.parent.parent)  # two levels above the event files
    assert manager.list_experiments() == []
    # the run folder itself, and its parent's child (events one level below) are runs
    assert manager.get_experiment(import_run(manager, run_folder)).name == "short"
    assert import_run(manager, run_folder / "version_0")


def test_cli_import_of_root_fails_cleanly(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "rave_gui", "runs", "import", "/", "--db", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("rave-gui: error: ") and "Traceback" not in out.stderr
    assert "does not look like a RAVE run folder" in out.stderr


KILLED_IMPORT = """
import os, signal, sys
from rave_gui.backend.runs.engine import import_run
from rave_gui.backend.manager import TrainingManager

manager = TrainingManager(sys.argv[1])
manager.projects.default_id()

def killed(*_args, **_kwargs):  # the experiment and its points are written by now
    os.kill(os.getpid(), signal.SIGKILL)

manager.artifacts.sync_checkpoints = killed
import_run(manager, sys.argv[2])
"""


def test_import_killed_midway_leaves_no_experiment(tmp_path, run_folder):
    db = tmp_path / "rave-gui.db"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_IMPORT), str(db), str(run_folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    manager = TrainingManager(db)
    try:
        assert manager.list_experiments() == []
        assert manager.db.execute("SELECT count(*) FROM metric_points").fetchone()[0] == 0
        exp_id = import_run(manager, run_folder)  # and the next import works
        assert len(list(manager.metrics.iter_points(exp_id))) == len(read_scalars(run_folder))
    finally:
        manager.close()


def test_import_on_a_full_database_disk_leaves_nothing(manager, tmp_path):
    run = tmp_path / "big_0123456789"
    (run / "version_0").mkdir(parents=True)
    points = [ScalarPoint("loss", i, 1.0 / (i + 1), 1e9 + i) for i in range(20_000)]
    write_scalar_events(run / "version_0" / "events.out.tfevents.1.h.1.0", points)
    manager.projects.default_id()
    conn = manager.db.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # room for the experiment row only
    with pytest.raises(DiskFullError):
        import_run(manager, run)
    assert manager.list_experiments() == []
    conn.execute("PRAGMA max_page_count = 1073741823")
    exp_id = import_run(manager, run)
    assert len(list(manager.metrics.iter_points(exp_id))) == 20_000


def test_import_of_a_damaged_event_file_reads_past_the_damage_and_says_so(manager, run_folder):
    events = run_folder / "version_0" / EVENTS
    data = events.read_bytes()
    records, _ = iter_records(data)
    start, scalar_records = 0, []
    for r in records:
        if parse_event_scalars(r):
            scalar_records.append((start, len(parse_event_scalars(r))))
        start += len(r) + 16
    cut, lost = scalar_records[len(scalar_records) // 2]  # garbage inside a scalar's header
    events.write_bytes(data[: cut + 5] + random.Random(1).randbytes(300) + data[cut + 5 :])
    exp_id = import_run(manager, run_folder)
    stored = len(list(manager.metrics.iter_points(exp_id)))
    assert stored == len(read_scalars(FIXTURES / "run_40steps" / EVENTS)) - lost
    (alert,) = manager.alerts.for_run(exp_id)
    assert alert.kind == "data_lost" and "damaged bytes" in alert.message
