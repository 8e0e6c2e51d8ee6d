"""`rave-gui runs import / stop / pause / resume` and `train` errors, run as real subprocesses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rave"
pytestmark = pytest.mark.skipif(not FIXTURES.exists(), reason="shared fixtures not present")


def cli(*args: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rave_gui", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def make_run_folder(root: Path, fixture: str, folder: str) -> Path:
    """A RAVE run folder laid out like `rave train` writes it, from a real capture."""
    src = FIXTURES / fixture
    run = root / folder
    version = run / "version_0"
    (version / "checkpoints").mkdir(parents=True)
    for f in src.glob("events.out.tfevents.*"):
        shutil.copy(f, version / f.name)
    if (src / "hparams.yaml").exists():
        shutil.copy(src / "hparams.yaml", version / "hparams.yaml")
    shutil.copy(src / "config.gin", run / "config.gin")
    (version / "checkpoints" / "best.ckpt").write_bytes(b"0" * 1000)
    (version / "checkpoints" / "epoch-epoch=0006.ckpt").write_bytes(b"0" * 2000)
    return run


def test_import_adopts_config_scalars_checkpoints_and_shows_them(tmp_path: Path) -> None:
    from rave_gui.backend.rave.tfevents import read_scalars

    run = make_run_folder(tmp_path, "run_110steps", "long_d744cc98b7")
    db = tmp_path / "db.sqlite3"
    out = cli("runs", "import", str(run), db=db)
    assert out.returncode == 0, out.stderr
    assert "imported experiment 1 'long'" in out.stdout
    shown = cli("runs", "show", "1", "--json", db=db)
    data = json.loads(shown.stdout)
    expected = read_scalars(run)
    assert sum(s["points"] for s in data["series"]) == len(expected)
    series = {s["name"]: s for s in data["series"]}
    assert "validation" in series
    assert {Path(c["path"]).name for c in data["checkpoints"]} == {
        "best.ckpt",
        "epoch-epoch=0006.ckpt",
    }
    assert data["run_dir"] == str(run)
    assert data["status"] in ("completed", "stopped")


def test_import_of_a_folder_that_is_not_a_run_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = cli("runs", "import", str(tmp_path / "empty"), db=tmp_path / "db.sqlite3")
    assert out.returncode == 1
    assert "does not look like a RAVE run folder" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_importing_the_same_run_twice_gets_a_second_name(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path, "run_40steps", "t1_d744cc98b7")
    db = tmp_path / "db.sqlite3"
    assert cli("runs", "import", str(run), db=db).returncode == 0
    second = cli("runs", "import", str(run), db=db)
    assert second.returncode == 0, second.stderr
    assert "'t1-2'" in second.stdout


@pytest.mark.parametrize("action", ["stop", "pause", "resume"])
def test_control_of_an_unknown_run_fails_cleanly(tmp_path: Path, action: str) -> None:
    out = cli("runs", action, "42", db=tmp_path / "db.sqlite3")
    assert out.returncode == 1
    assert "no experiment with id 42" in out.stderr
    assert "Traceback" not in out.stderr


def test_train_with_a_missing_dataset_reports_it_and_records_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    out = subprocess.run(
        [sys.executable, "-m", "rave_gui", "train", "--dataset", str(tmp_path / "nope"),
         "--config", "v2_small", "--name", "x", "--db", str(db),
         "--rave", str(Path(sys.executable).with_name("rave"))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "does not exist" in out.stderr or "not found" in out.stderr
    listed = cli("runs", "list", "--json", db=db)
    assert json.loads(listed.stdout) == []


def test_resume_from_refuses_max_steps_not_above_the_checkpoint_and_a_foreign_file(
    tmp_path: Path,
) -> None:
    run = make_run_folder(tmp_path, "run_110steps", "long_d744cc98b7")
    db = tmp_path / "db.sqlite3"
    assert cli("runs", "import", str(run), db=db).returncode == 0
    data = json.loads(cli("runs", "show", "1", "--json", db=db).stdout)
    ckpt = next(c for c in data["checkpoints"] if not c["is_best"])
    step = ckpt["step"]
    assert step is not None and step > 0
    out = cli(
        "runs", "resume-from", "1", "--checkpoint", ckpt["path"], "--max-steps", str(step),
        "--dataset", str(tmp_path), db=db,
    )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"rave-gui: error: The checkpoint is at step {step:,}" in out.stderr
    out = cli("runs", "resume-from", "1", "--checkpoint", str(tmp_path / "x.ckpt"), db=db)
    assert out.returncode == 1
    assert "is not a checkpoint of 'long'; its checkpoints are:" in out.stderr
    assert len(json.loads(cli("runs", "list", "--json", db=db).stdout)) == 1
