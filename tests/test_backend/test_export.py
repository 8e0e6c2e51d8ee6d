"""Export: checkpoints of a run, the staged `rave export` of a chosen one, its failures as their
cause, the record of each model, and deleting checkpoints (a stand-in `rave` here; the real one
runs in tests/e2e/test_preprocess_export.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from rave_gui.backend.errors import InUseError, NotFoundError, PreflightError
from rave_gui.backend.jobs import export as ex
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.status import COMPLETED, RUNNING

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from fake_rave import make_run, write_fake_rave  # noqa: E402


@pytest.fixture
def tm(tmp_path: Path):
    m = TrainingManager(tmp_path / "db.sqlite3")
    yield m
    m.close()


def _experiment(tm: TrainingManager, run_dir: Path, status: str = COMPLETED) -> int:
    exp = tm.start_training({"name": "cello v1"})
    tm.experiments.update(exp, run_dir=str(run_dir))
    tm.update_experiment_status(exp, RUNNING)
    if status != RUNNING:
        tm.update_experiment_status(exp, status)
    return exp


@pytest.fixture
def run(tm: TrainingManager, tmp_path: Path) -> tuple[int, Path]:
    """An app-started run: <runs>/<id>-name/NAME_HASH/... with best.ckpt and two others."""
    run_dir = tmp_path / "runs" / "1-cello_v1"
    rave_folder = make_run(run_dir)
    exp = _experiment(tm, run_dir)
    ckpts = rave_folder / "version_0" / "checkpoints"
    # Validations at steps 10 and 20; each checkpoint written right after one.
    for name, mtime in (
        ("epoch-epoch=0000.ckpt", 1000.0),
        ("epoch-epoch=0001.ckpt", 1010.0),
        ("best.ckpt", 1011.0),
    ):
        os.utime(ckpts / name, (mtime, mtime))
    tm.metrics.add_points(exp, [("validation", 10, 0.5, 995.0), ("validation", 20, 0.4, 1005.0)])
    return exp, rave_folder


def test_command_line_and_model_file_names() -> None:
    assert ex.export_argv("/r/NAME", False, "/out", rave="/venv/rave") == [
        "/venv/rave", "export", "--run", "/r/NAME", "--output", "/out",
    ]  # fmt: skip
    argv = ex.export_argv("/r", True, "/out", name="cello", fidelity=0.99)
    assert argv[3:] == [
        "/r",
        "--streaming",
        "--output",
        "/out",
        "--name",
        "cello",
        "--fidelity",
        "0.99",
    ]
    assert ex.model_path("/out", "cello", False) == Path("/out/cello.ts")
    assert ex.model_path("/out", "cello", True) == Path("/out/cello_streaming.ts")


def test_checkpoints_are_listed_with_step_epoch_size_and_best(tm, run) -> None:
    exp, folder = run
    cks = ex.scan_checkpoints(tm, exp)
    by_name = {Path(c.path).name: c for c in cks}
    assert set(by_name) == {"best.ckpt", "epoch-epoch=0000.ckpt", "epoch-epoch=0001.ckpt"}
    assert by_name["best.ckpt"].is_best and not by_name["epoch-epoch=0001.ckpt"].is_best
    assert by_name["epoch-epoch=0001.ckpt"].epoch == 1
    assert by_name["epoch-epoch=0000.ckpt"].step == 10  # the step logged at its time
    assert by_name["best.ckpt"].size == 999
    assert ex.checkpoint_label(by_name["best.ckpt"]) == "best (step 20)"
    assert ex.checkpoint_label(by_name["epoch-epoch=0000.ckpt"]) == "step 10"
    assert len(tm.artifacts.checkpoints(exp)) == 3  # the store follows the disk
    (folder / "version_0" / "checkpoints" / "epoch-epoch=0000.ckpt").unlink()
    assert len(ex.scan_checkpoints(tm, exp)) == 2


def test_choosing_a_checkpoint(tm, run) -> None:
    exp, _ = run
    cks = ex.scan_checkpoints(tm, exp)
    assert Path(ex.choose_checkpoint(cks, "best").path).name == "best.ckpt"
    assert Path(ex.choose_checkpoint(cks, "last").path).name == "best.ckpt"
    assert Path(ex.choose_checkpoint(cks, 10).path).name == "epoch-epoch=0000.ckpt"
    assert ex.choose_checkpoint(cks, cks[0].path) is cks[0]
    with pytest.raises(ex.ExportError, match="No checkpoint at step 7"):
        ex.choose_checkpoint(cks, 7)
    with pytest.raises(ex.ExportError, match="no checkpoint to export"):
        ex.choose_checkpoint([], "best")


def test_a_chosen_checkpoint_is_exported_alone_and_recorded(tm, run, tmp_path: Path) -> None:
    exp, folder = run
    rave = write_fake_rave(tmp_path / "bin")
    out = tmp_path / "models"
    plan = ex.plan_export(tm, exp, 10, streaming=True, output_dir=out, rave_executable=str(rave))
    assert plan.name == "cello_v1-step10"
    assert plan.output_file == out / "cello_v1-step10_streaming.ts"
    staged = list(plan.staging.rglob("*.ckpt"))
    assert [p.name for p in staged] == ["epoch-epoch=0000.ckpt"]
    original = folder / "version_0" / "checkpoints" / "epoch-epoch=0000.ckpt"
    assert staged[0].stat().st_ino == original.stat().st_ino  # a hard link: no copy
    assert plan.staging.parent == folder.parent.parent  # beside the run, not inside it
    assert plan.argv[:4] == [str(rave), "export", "--run", str(plan.staging / folder.name)]
    model_id = ex.run_export(tm, plan)
    seen = (out / "seen.txt").read_text().splitlines()
    assert [Path(p).name for p in seen] == ["epoch-epoch=0000.ckpt", "config.gin"]
    assert not plan.staging.exists()
    assert original.exists()
    (model,) = tm.artifacts.exported_models(exp)
    assert model.id == model_id
    assert model.path == str(plan.output_file)
    assert model.size == plan.output_file.stat().st_size == 10_000
    assert model.streaming is True
    assert model.checkpoint == str(original)
    assert model.settings["checkpoint_step"] == 10
    assert model.settings["checkpoint_label"] == "step 10"


def test_export_failures_are_told_as_their_cause(tm, run, tmp_path: Path) -> None:
    exp, _ = run
    for behaviour, cause in (
        ("nn_tilde", "needs the nn-tilde package"),
        ("mismatch", "does not fit the run's config.gin"),
    ):
        rave = write_fake_rave(tmp_path / behaviour, behaviour)
        plan = ex.plan_export(tm, exp, "best", output_dir=tmp_path / "m", rave_executable=str(rave))
        with pytest.raises(ex.ExportError) as err:
            ex.run_export(tm, plan)
        assert cause in str(err.value)
        assert "Traceback" not in str(err.value)
        assert not plan.staging.exists()
    assert tm.artifacts.exported_models(exp) == []


def test_preflight_lists_what_to_fix(tm, run, tmp_path: Path, monkeypatch) -> None:
    exp, folder = run
    rave = write_fake_rave(tmp_path / "bin")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "cello_v1.ts").write_bytes(b"old")
    (folder / "config.gin").unlink()
    with pytest.raises(PreflightError) as err:
        ex.plan_export(tm, exp, "best", output_dir=tmp_path / "m", rave_executable=str(rave))
    text = str(err.value)
    assert "No config.gin next to best.ckpt" in text
    assert "cello_v1.ts already exists" in text
    with pytest.raises(PreflightError, match="may hold only letters"):
        ex.plan_export(tm, exp, "best", name="my model", rave_executable=str(rave))
    with pytest.raises(PreflightError, match="RAVE command line was not found"):
        ex.plan_export(tm, exp, "best", rave_executable=str(tmp_path / "no-rave"))
    (folder / "config.gin").write_text("")
    monkeypatch.setattr(ex, "module_available", lambda _py, _mod: False)
    with pytest.raises(PreflightError, match="needs the nn-tilde package"):
        ex.plan_export(tm, exp, "best", output_dir=tmp_path / "n", rave_executable=str(rave))
    assert not list((folder.parent.parent).glob(ex.STAGING_PREFIX + "*"))  # nothing staged


def test_module_check_asks_the_interpreter() -> None:
    assert ex.module_available(sys.executable, "json")
    assert not ex.module_available(sys.executable, "no_such_module_for_rave_gui")


@pytest.mark.parametrize(
    ("reason", "lines", "expected"),
    [
        ("ModuleNotFoundError: No module named 'nn_tilde'", [], "nn-tilde"),
        (
            "ModuleNotFoundError: No module named 'cached_conv'",
            [],
            "A package is missing from RAVE's Python environment (ModuleNotFoundError: No "
            "module named 'cached_conv')",
        ),
        (
            "TypeError: expected str, bytes or os.PathLike object, not NoneType",
            ["Config file not found in /x"],
            "No config.gin for the checkpoint",
        ),
        (
            "ValueError: No configurable matching 'model.NewThing'.",
            [],
            "names settings this RAVE version does not know",
        ),
        ("RuntimeError: PytorchStreamReader failed reading zip archive", [], "damaged"),
        (
            "ValueError: Encoder type X not supported for export.",
            [],
            "rave export failed: ValueError: Encoder",
        ),
        (None, [], "ended without writing a model"),
    ],
)
def test_failure_explanations(reason, lines, expected) -> None:
    assert expected in ex.explain_failure(reason, lines)
    assert "exited with code 3" in ex.explain_failure(None, [], 3)


def test_deleting_checkpoints_frees_disk_and_forgets_them(tm, run) -> None:
    exp, folder = run
    cks = ex.scan_checkpoints(tm, exp)
    old = [c.path for c in cks if not c.is_best]
    assert tm.artifacts.delete_checkpoints(exp, old) == 1000 + 1001
    assert [Path(c.path).name for c in tm.artifacts.checkpoints(exp)] == ["best.ckpt"]
    assert sorted(p.name for p in (folder / "version_0" / "checkpoints").iterdir()) == ["best.ckpt"]
    with pytest.raises(NotFoundError, match="is not a checkpoint"):
        tm.artifacts.delete_checkpoints(exp, [str(folder / "config.gin")])
    assert (folder / "config.gin").exists()


def test_checkpoints_of_a_live_run_are_never_deleted(tm, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "2-live"
    folder = make_run(run_dir)
    exp = _experiment(tm, run_dir, status=RUNNING)
    cks = ex.scan_checkpoints(tm, exp)
    with pytest.raises(InUseError, match="stop it before deleting"):
        tm.artifacts.delete_checkpoints(exp, [c.path for c in cks])
    assert len(list((folder / "version_0" / "checkpoints").iterdir())) == 3
