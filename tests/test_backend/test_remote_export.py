"""Exporting a run that trained on a target: `rave export` runs there (the stand-in of
fake_rave.py, which writes the .ts and says which checkpoints it saw), its output streamed
here, the model downloaded into the run's local folder and recorded. The run itself is the
replay double started on the test sshd and followed to its end (its checkpoints copied)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from fake_rave import write_fake_rave
from remote_helpers import add_target, completed_remote_run
from remote_hosts import sshd  # noqa: F401  (a fixture)
from replay_helpers import fixtures_available

from rave_gui.backend.errors import CancelledError, PreflightError
from rave_gui.backend.jobs.export import ExportError, scan_checkpoints
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.export import plan_remote_export, run_remote_export
from rave_gui.backend.store.targets import TargetStore
from rave_gui.cli import main

pytestmark = pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")


def _trained_remote_run(tm: TrainingManager, host, tmp_path: Path, rave: Path) -> int:
    target = add_target(tm, host, rave=str(rave))
    return completed_remote_run(tm, target, tmp_path / "runs")


def test_remote_run_exported_there_and_its_model_downloaded(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exp_id = _trained_remote_run(tm, sshd, tmp_path, write_fake_rave(tmp_path / "bin"))
    exp = tm.get_experiment(exp_id)
    remote_dir = Path(TargetStore(tm.db).run(exp_id).remote_dir)  # type: ignore[union-attr]
    ckpts = scan_checkpoints(tm, exp_id)
    assert ckpts, "the follower copied no checkpoint"
    assert main(["--db", str(tm.db.path), "export", str(exp_id)]) == 0
    out = capsys.readouterr().out
    assert f"on box to {exp.run_dir}/exports/replay.ts" in out
    assert "model found" in out and "all good ! model exported" in out  # streamed from there
    models = tm.artifacts.exported_models(exp_id)
    assert len(models) == 1 and f"exported model {models[0].id}" in out
    model = Path(models[0].path)
    assert model == Path(exp.run_dir or "") / "exports" / "replay.ts"
    assert model.read_bytes() == b"PK" * 5000 and models[0].size == 10000
    settings = models[0].settings
    assert settings["target"] == "box" and settings["checkpoint_best"]
    assert settings["command"][1:3] == ["export", "--run"]
    assert models[0].checkpoint == next(c.path for c in ckpts if c.is_best)
    # the model stays there too; the staging folder is gone
    assert (remote_dir / "exports" / "replay.ts").read_bytes() == model.read_bytes()
    assert not [p for p in remote_dir.iterdir() if p.name.startswith(".rave-gui-export-")]

    # a checkpoint by its step: exported from a folder holding only it (RAVE takes the newest)
    step = next(c for c in ckpts if not c.is_best and c.step is not None)
    seen: list[tuple[str, str]] = []
    plan = plan_remote_export(tm, exp_id, step.step or 0)
    staged = Path(plan.staging)
    ckpts_there = sorted(p.name for p in staged.rglob("*.ckpt"))
    assert ckpts_there == [Path(step.path).name] and list(staged.rglob("config.gin"))
    model_id = run_remote_export(tm, plan, on_lines=seen.extend)
    assert any("model found" in t for t, _lvl in seen)
    assert Path(plan.output_file).name == f"replay-step{step.step}.ts"
    assert any(m.id == model_id for m in tm.artifacts.exported_models(exp_id))
    assert not staged.exists()
    # the same name again is refused before anything runs there
    with pytest.raises(PreflightError, match="already exists"):
        plan_remote_export(tm, exp_id, "best")


def test_a_failed_remote_export_says_why_and_records_nothing(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exp_id = _trained_remote_run(tm, sshd, tmp_path, write_fake_rave(tmp_path / "b", "mismatch"))
    plan = plan_remote_export(tm, exp_id, "best")
    with pytest.raises(ExportError, match="does not fit the run's config"):
        run_remote_export(tm, plan)
    assert tm.artifacts.exported_models(exp_id) == []
    assert not Path(plan.staging).exists() and not plan.output_file.exists()
    assert main(["--db", str(tm.db.path), "export", str(exp_id)]) == 1
    assert "rave-gui: error: The checkpoint does not fit" in capsys.readouterr().err


def test_a_remote_export_cancelled_ends_there(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    exp_id = _trained_remote_run(tm, sshd, tmp_path, write_fake_rave(tmp_path / "h", "hang"))
    plan = plan_remote_export(tm, exp_id, "best")
    seen: list[tuple[str, str]] = []
    started = time.monotonic()
    with pytest.raises(CancelledError):
        run_remote_export(tm, plan, on_lines=seen.extend, cancelled=lambda: bool(seen))
    assert time.monotonic() - started < 30
    assert any("model found" in t for t, _lvl in seen)  # it ran there until cancelled
    assert not Path(plan.staging).exists() and tm.artifacts.exported_models(exp_id) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert plan.staging not in ps  # the remote `rave export` is gone
