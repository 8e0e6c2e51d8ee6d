"""`rave-gui datasets list/add/create` and `rave-gui export`, through rave_gui.cli.main: the
same backend path as the app's jobs, with the stand-in `rave` of tests/helpers/fake_rave.py
(real processes that print what RAVE prints and write what it writes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from rave_gui.backend.errors import ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.command import TrainSettings
from rave_gui.backend.status import COMPLETED, RUNNING
from rave_gui.cli import main

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from fake_rave import make_run, write_fake_rave  # noqa: E402

HAVE_FFMPEG = bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))
RAVE = Path(sys.executable).with_name("rave")


def _wav(path: Path, seconds: float, sr: int = 44100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(b"\0\0" * round(seconds * sr))
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


@pytest.fixture
def rave(tmp_path: Path) -> Path:
    return write_fake_rave(tmp_path / "bin")


@pytest.fixture
def preprocessed(tmp_path: Path, rave: Path) -> Path:
    """A dataset folder written by (the stand-in) `rave preprocess`: LMDB data.mdb with 5
    records and metadata.yaml."""
    _wav(tmp_path / "src" / "a.wav", 14.0)  # 2 chunks of 5.94 s
    _wav(tmp_path / "src" / "b.wav", 20.0)  # 3 chunks
    out = tmp_path / "strings"
    subprocess.run(
        [
            str(rave),
            "preprocess",
            "--input_path",
            str(tmp_path / "src"),
            "--output_path",
            str(out),
            "--channels",
            "1",
            "--sampling_rate",
            "44100",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


# --- datasets list / add ---------------------------------------------------------------------


def test_datasets_add_registers_a_folder_and_list_shows_it(capsys, db, preprocessed) -> None:
    code, out, _ = cli(capsys, "datasets", "add", str(preprocessed), "--db", str(db))
    assert code == 0
    assert out.startswith("registered dataset 1 'strings': 5 examples, 23 s")
    code, out, _ = cli(capsys, "datasets", "list", "--db", str(db))
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["ID", "NAME", "PROJECT", "RATE", "CH", "LENGTH", "EXAMPLES", "PATH"]
    tm = TrainingManager(db)
    default = tm.projects.get(tm.projects.default_id()).name
    tm.close()
    assert row.split()[:6] == ["1", "strings", default, "44100", "1", "23"]
    assert row.split()[-2:] == ["5", str(preprocessed)]
    code, out, _ = cli(capsys, "datasets", "list", "--json", "--db", str(db))
    (ds,) = json.loads(out)
    assert ds["path"] == str(preprocessed) and ds["n_examples"] == 5
    assert ds["sample_rate"] == 44100 and ds["channels"] == 1
    assert ds["duration_s"] == pytest.approx(4 * 2 * 131072 / 44100)
    tm = TrainingManager(db)
    assert [d.name for d in tm.datasets.all()] == ["strings"]
    tm.close()


def test_datasets_add_under_another_name_and_project(capsys, db, preprocessed) -> None:
    tm = TrainingManager(db)
    default = tm.projects.get(tm.projects.default_id()).name
    tm.projects.create("cello")
    tm.close()
    code, out, _ = cli(
        capsys, "datasets", "add", str(preprocessed), "--project", "cello", "--name", "bows",
        "--db", str(db),
    )  # fmt: skip
    assert code == 0 and "'bows'" in out
    code, out, _ = cli(capsys, "datasets", "list", "--project", "cello", "--json", "--db", str(db))
    assert [d["name"] for d in json.loads(out)] == ["bows"]
    code, out, _ = cli(capsys, "datasets", "list", "--project", default, "--db", str(db))
    assert code == 0 and out == "No datasets.\n"


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda d: d.mkdir(), "no metadata.yaml"),
        (lambda d: None, "does not exist"),
    ],
)
def test_datasets_add_of_a_folder_that_is_no_dataset_is_an_error(
    capsys, db, tmp_path, prepare, message
) -> None:
    folder = tmp_path / "audio"
    prepare(folder)
    code, out, err = cli(capsys, "datasets", "add", str(folder), "--db", str(db))
    assert code == 1 and out == ""
    assert err.startswith("rave-gui: error: ") and message in err


def test_the_same_folder_twice_is_an_error(capsys, db, preprocessed) -> None:
    assert cli(capsys, "datasets", "add", str(preprocessed), "--db", str(db))[0] == 0
    code, _, err = cli(capsys, "datasets", "add", str(preprocessed), "--db", str(db))
    assert code == 1 and "already" in err


# --- datasets create -------------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_FFMPEG, reason="the pre-flight needs ffmpeg and ffprobe")
def test_datasets_create_preprocesses_with_progress_and_registers(
    capsys, db, rave, tmp_path
) -> None:
    for i, seconds in enumerate((12.0, 18.0, 24.0)):  # 2 + 3 + 4 chunks
        _wav(tmp_path / "audio" / f"take{i}.wav", seconds)
    out_dir = tmp_path / "datasets" / "takes"
    code, out, err = cli(
        capsys, "datasets", "create", str(tmp_path / "audio"), "--output", str(out_dir),
        "--rave", str(rave), "--progress-every", "0", "--db", str(db),
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("3 audio files · 54 s in all: 9 chunks expected")
    progress = [ln for ln in lines if "chunks of 9" in ln or "chunk of 9" in ln]
    assert progress[-1].startswith("9 chunks of 9 · dataset length") and "(100%)" in progress[-1]
    assert lines[-1] == f"registered dataset 1 'takes': 9 examples, 47 s ({out_dir})"
    tm = TrainingManager(db)
    (ds,) = tm.datasets.all()
    tm.close()
    assert ds.name == "takes" and ds.path == str(out_dir) and ds.n_examples == 9
    assert (out_dir / "metadata.yaml").is_file() and (out_dir / "data.mdb").is_file()


@pytest.mark.skipif(not HAVE_FFMPEG, reason="the pre-flight needs ffmpeg and ffprobe")
def test_datasets_create_refused_by_the_preflight_starts_nothing(
    capsys, db, rave, tmp_path
) -> None:
    _wav(tmp_path / "audio" / "short.wav", 2.0)
    out_dir = tmp_path / "datasets" / "short"
    code, out, err = cli(
        capsys, "datasets", "create", str(tmp_path / "audio"), "-o", str(out_dir),
        "--rave", str(rave), "--db", str(db),
    )  # fmt: skip
    assert code == 1 and out == ""
    assert err.startswith("rave-gui: error: Every file is shorter than")
    assert not out_dir.exists()
    tm = TrainingManager(db)
    assert tm.datasets.all() == []
    tm.close()


def test_datasets_create_under_a_taken_name_is_refused_first(
    capsys, db, rave, preprocessed, tmp_path
) -> None:
    assert cli(capsys, "datasets", "add", str(preprocessed), "--db", str(db))[0] == 0
    _wav(tmp_path / "audio" / "a.wav", 30.0)
    code, _, err = cli(
        capsys, "datasets", "create", str(tmp_path / "audio"), "-o", str(tmp_path / "new"),
        "--name", "strings", "--rave", str(rave), "--db", str(db),
    )  # fmt: skip
    assert code == 1 and "already has a dataset named 'strings'" in err
    assert not (tmp_path / "new").exists()


# --- export ----------------------------------------------------------------------------------


@pytest.fixture
def run(db: Path, tmp_path: Path) -> tuple[int, Path]:
    """A completed run with best.ckpt and checkpoints of steps 10 and 20."""
    tm = TrainingManager(db)
    run_dir = tmp_path / "runs" / "1-cello_v1"
    folder = make_run(run_dir)
    exp = tm.start_training({"name": "cello v1"})
    tm.experiments.update(exp, run_dir=str(run_dir))
    tm.update_experiment_status(exp, RUNNING)
    tm.update_experiment_status(exp, COMPLETED)
    ckpts = folder / "version_0" / "checkpoints"
    for name, mtime in (
        ("epoch-epoch=0000.ckpt", 1000.0),
        ("epoch-epoch=0001.ckpt", 1010.0),
        ("best.ckpt", 1011.0),
    ):
        os.utime(ckpts / name, (mtime, mtime))
    tm.metrics.add_points(exp, [("validation", 10, 0.5, 995.0), ("validation", 20, 0.4, 1005.0)])
    tm.close()
    return exp, folder


def test_export_of_a_step_records_the_model(capsys, db, rave, run, tmp_path) -> None:
    exp, folder = run
    models = tmp_path / "models"
    code, out, err = cli(
        capsys, "export", str(exp), "--step", "10", "--streaming", "-o", str(models),
        "--rave", str(rave), "--db", str(db),
    )  # fmt: skip
    assert code == 0, err
    target = models / "cello_v1-step10_streaming.ts"
    assert out.splitlines() == [
        f"exporting {folder / 'version_0' / 'checkpoints' / 'epoch-epoch=0000.ckpt'} to {target}",
        f"exported model 1: {target} (10.0 kB)",
    ]
    tm = TrainingManager(db)
    (model,) = tm.artifacts.exported_models(exp)
    tm.close()
    assert model.path == str(target) and target.stat().st_size == 10_000
    assert model.streaming is True and model.settings["checkpoint_step"] == 10
    assert not list((tmp_path / "runs").glob(".rave-gui-export-*"))  # staging removed


def test_export_of_the_best_checkpoint_to_a_relative_folder(
    capsys, db, rave, run, tmp_path, monkeypatch
) -> None:
    exp, _folder = run
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(
        capsys, "export", str(exp), "-o", "out", "--name", "cello", "--rave", str(rave),
        "--db", str(db),
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[-1] == f"exported model 1: {tmp_path / 'out' / 'cello.ts'} (10.0 kB)"
    assert (tmp_path / "out" / "seen.txt").read_text().splitlines()[0].endswith("best.ckpt")


def test_a_failed_export_is_an_error_with_its_cause(capsys, db, run, tmp_path) -> None:
    exp, _ = run
    rave = write_fake_rave(tmp_path / "broken", "mismatch")
    code, _, err = cli(
        capsys, "export", str(exp), "-o", str(tmp_path / "m"), "--rave", str(rave), "--db", str(db)
    )
    assert code == 1
    assert err.startswith("rave-gui: error: The checkpoint does not fit the run's config.gin")
    tm = TrainingManager(db)
    assert tm.artifacts.exported_models(exp) == []
    tm.close()


def test_export_errors_say_what_to_fix(capsys, db, rave, run, tmp_path) -> None:
    exp, _ = run
    code, _, err = cli(capsys, "export", "42", "--rave", str(rave), "--db", str(db))
    assert code == 1 and "no experiment with id 42" in err
    code, _, err = cli(
        capsys, "export", str(exp), "--step", "7", "--rave", str(rave), "--db", str(db)
    )
    assert code == 1 and "No checkpoint at step 7 (steps: 10, 20" in err
    code, _, err = cli(
        capsys, "export", str(exp), "--name", "bad name!", "--rave", str(rave), "--db", str(db)
    )
    assert code == 1 and "may hold only letters" in err


# --- train: validation that never happens ----------------------------------------------------


def test_validation_less_often_than_the_run_is_long_is_refused() -> None:
    with pytest.raises(ValidationError, match="never happens in a 40-step run"):
        TrainSettings("x", "/data", max_steps=40, val_every=10_000).validate()
    TrainSettings("x", "/data", max_steps=40, val_every=40).validate()


@pytest.mark.skipif(not RAVE.exists(), reason="acids-rave is not installed here")
def test_train_refuses_validation_that_never_happens(capsys, db, preprocessed) -> None:
    code, out, err = cli(
        capsys, "train", "--dataset", str(preprocessed), "--config", "v2_small", "--name", "x",
        "--max-steps", "40", "--rave", str(RAVE), "--db", str(db),
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "Validation every 10,000 steps never happens in a 40-step run" in err
    tm = TrainingManager(db)
    assert tm.list_experiments() == []
    tm.close()


@pytest.mark.skipif(not RAVE.exists(), reason="acids-rave is not installed here")
def test_train_refuses_a_logging_interval_below_one(capsys, db, preprocessed) -> None:
    code, out, err = cli(
        capsys, "train", "--dataset", str(preprocessed), "--config", "v2_small", "--name", "x",
        "--max-steps", "40", "--val-every", "10", "--log-every", "0", "--rave", str(RAVE),
        "--db", str(db),
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "rave-gui: error: log_every must be a whole number from 1" in err


@pytest.mark.skipif(not RAVE.exists(), reason="acids-rave is not installed here")
def test_train_dry_run_prints_the_command_and_estimates_and_records_nothing(
    capsys, db, preprocessed
) -> None:
    code, out, err = cli(
        capsys, "train", "--dataset", str(preprocessed), "--config", "v2_small", "--name", "x",
        "--max-steps", "40", "--val-every", "10", "--batch", "2", "--rave", str(RAVE),
        "--db", str(db), "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "dry run: nothing recorded or started"
    # 5 examples, 4 for training: 2 batches an epoch, so the losses every 2 steps (not 50)
    assert lines[1].startswith("RAVE_GUI_LOG_EVERY_N_STEPS=2 ")
    assert "--max_steps 40" in lines[1] and "<id>-x-<random>" in lines[1]
    assert lines[2].startswith("logging: Training losses are logged every 2 steps")
    assert lines[3].startswith("duration: unknown: no finished run of v2_small on the CPU")
    assert lines[4].startswith("disk: about 240.0 MB: 2 checkpoint(s) kept (best, the latest)")
    tm = TrainingManager(db)
    assert tm.list_experiments() == []
    assert tm.datasets.all(tm.projects.default_id()) == []
    tm.close()
