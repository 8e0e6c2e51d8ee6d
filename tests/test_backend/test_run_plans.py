"""Issue 15: what a run will cost before it starts (duration from this machine's measured speed,
disk from the checkpoints RAVE keeps), the logging interval rule, the choices remembered for the
next run, and the rules of a resume from a chosen checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_rave import make_run

from rave_gui.backend.errors import NotFoundError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.command import TrainSettings
from rave_gui.backend.rave.estimate import checkpoints_kept, estimate_run
from rave_gui.backend.rave.log_interval import (
    LOG_EVERY_ENV,
    default_log_every,
    first_log_step,
    first_points_note,
    log_every_env,
    log_every_note,
)
from rave_gui.backend.runs.resume import (
    check_resume_max_steps,
    resume_checkpoints,
    resume_cli,
    resume_max_steps_problem,
    resume_point,
    suggest_max_steps,
)
from rave_gui.backend.status import COMPLETED, FAILED, RUNNING, STOPPED
from rave_gui.backend.system.choices import remembered_choices, save_choices
from rave_gui.backend.system.settings import Settings, load_settings, save_settings


@pytest.fixture
def tm(tmp_path: Path):
    m = TrainingManager(tmp_path / "db.sqlite3")
    yield m
    m.close()


def _ended_run(
    tm: TrainingManager,
    name: str,
    *,
    steps: int,
    seconds: float,
    status: str = COMPLETED,
    configs: tuple[str, ...] = ("v2_small",),
    gpu: int = -1,
    batch: int = 8,
) -> int:
    """An ended run whose timeline went from step 0 to ``steps`` in ``seconds``."""
    cfg = {"name": name, "configs": list(configs), "gpu": gpu, "batch": batch}
    exp = tm.start_training(cfg)
    tm.update_experiment_status(exp, RUNNING)
    tm.update_experiment_status(exp, status)
    t0 = 1_000_000.0
    tm.metrics.add_points(
        exp,
        [
            ("loss", 0, 1.0, t0),
            ("loss", steps // 2, 0.8, t0 + seconds / 2),
            ("loss", steps, 0.5, t0 + seconds),
        ],
    )
    return exp


def _settings(**kw) -> TrainSettings:
    base = {"name": "x", "dataset_path": "/d", "configs": ["v2_small"], "max_steps": 3000}
    base["val_every"] = 100
    return TrainSettings(**{**base, **kw})


# --- duration --------------------------------------------------------------------------------
def test_duration_is_unknown_without_a_measured_run_of_the_config(tm):
    _ended_run(tm, "other-config", steps=100, seconds=100, configs=("v2",))
    _ended_run(tm, "on-a-gpu", steps=100, seconds=100, gpu=0)
    _ended_run(tm, "failed", steps=100, seconds=100, status=FAILED)
    est = estimate_run(tm, _settings(), n_examples=100)
    assert est.duration_s is None and est.rate is None
    assert est.duration_text.startswith("unknown: no finished run of v2_small on the CPU")


def test_duration_is_the_mean_speed_of_past_runs_of_the_same_config_and_device(tm):
    _ended_run(tm, "a", steps=100, seconds=100)  # 1 step/s
    _ended_run(tm, "b", steps=300, seconds=100, status=STOPPED)  # 3 steps/s
    _ended_run(tm, "other-batch", steps=1000, seconds=100, batch=2)  # left out: same batch wins
    est = estimate_run(tm, _settings(max_steps=6000), n_examples=100)
    assert est.rate == pytest.approx(2.0)
    assert est.n_runs == 2
    assert est.duration_s == pytest.approx(3000.0)
    assert est.duration_text.startswith("about 50 min 00 s for 6,000 steps at 2 steps/s")
    assert "2 past run(s) of v2_small on the CPU at batch 8" in est.duration_text
    # no run at this batch: runs at other batch sizes, and said so
    est = estimate_run(tm, _settings(max_steps=1000, batch=16), n_examples=100)
    assert est.rate == pytest.approx((1 + 3 + 10) / 3)
    assert "at other batch sizes" in est.duration_text


# --- disk --------------------------------------------------------------------------------------
def test_checkpoints_kept_are_best_latest_and_one_per_save_interval():
    assert checkpoints_kept(3000, None, 5) == 2  # best + latest (save_every 500,000)
    assert checkpoints_kept(3000, None, 0) == 1  # never validated: no best
    assert checkpoints_kept(3000, 1000, 5) == 5  # + epoch_1000, epoch_2000, epoch_3000
    assert checkpoints_kept(1_000_000, None, None) == 4


def test_disk_from_the_measured_size_of_the_config_or_of_past_checkpoints(tm, tmp_path):
    est = estimate_run(tm, _settings(save_every=1000), n_examples=100)
    assert est.checkpoints == 5 and est.checkpoint_bytes == 120_000_000
    assert est.disk_bytes == 600_000_000
    assert est.disk_text.startswith(
        "about 600.0 MB: 5 checkpoint(s) kept (best, the latest, 3 saved every 1,000 steps) of "
        "about 120.0 MB each"
    )
    assert "as measured for v2_small" in est.disk_text
    # past checkpoints of the same configs in the store win over the table
    exp = _ended_run(tm, "a", steps=100, seconds=100)
    tm.artifacts.sync_checkpoints(
        exp,
        [
            {"path": "/r/a.ckpt", "size": 1000, "step": 10},
            {"path": "/r/b.ckpt", "size": 3000, "step": 20},
        ],
    )
    est = estimate_run(tm, _settings(), n_examples=100)
    assert est.checkpoint_bytes == 2000 and est.disk_bytes == 4000
    assert "measured on 2 checkpoint(s) of past runs" in est.disk_text
    unknown = estimate_run(tm, _settings(configs=["discrete"]), n_examples=None)
    assert unknown.disk_bytes is None
    assert unknown.disk_text.startswith("unknown: 2 checkpoint(s) kept")


# --- logging interval ------------------------------------------------------------------------
def test_log_interval_default_is_raves_50_for_long_runs_and_scaled_to_short_ones():
    assert default_log_every(500_000, 5000) == 50
    assert default_log_every(500_000, None) == 50
    assert default_log_every(300, 17) == 15  # a twentieth of the run
    assert default_log_every(10_000, 7) == 7  # no more than the batches in an epoch
    assert default_log_every(10, 17) == 1
    assert first_log_step(50) == 49 and first_log_step(7) == 6
    assert first_log_step(50, start_step=100) == 149  # a resumed run's next logged step
    assert first_log_step(50, start_step=149) == 149
    assert log_every_env(25) == {LOG_EVERY_ENV: "25"} and log_every_env(None) == {}
    assert log_every_note(50, 300).startswith("Training losses are logged every 50 steps: the")
    assert "first at step 49, 6 points in all" in log_every_note(50, 300)
    assert log_every_note(50, 40).startswith("No training loss is logged in this 40-step run")


def test_log_interval_is_a_checked_setting_of_the_run():
    with pytest.raises(ValidationError, match="log_every must be a whole number from 1"):
        _settings(log_every=0).validate()
    _settings(log_every=5).validate()
    assert _settings(log_every=5).to_config()["log_every"] == 5


def test_first_points_note_says_what_comes_and_when():
    cfg = {"log_every": 10, "max_steps": 300, "val_every": 20, "batch": 2}
    # 36 examples: 35 for training, 17 batches per epoch: validation after epoch 1 (step 16)
    assert first_points_note(cfg, 36) == (
        "First training losses at step 9 (logged every 10 steps); first validation at step 16."
    )
    expected = "First training losses at step 49 (logged every 50 steps)."
    assert first_points_note({}, None) == expected
    resumed = {"log_every": 50, "start_step": 120, "max_steps": 1000}
    assert first_points_note(resumed, 36).startswith("First training losses at step 149")


# --- remembered choices ------------------------------------------------------------------------
def test_choices_are_remembered_in_the_settings_file_and_checked_when_read(tmp_path):
    path = str(tmp_path / "settings.json")
    save_settings(Settings(max_concurrent_runs=3), path)
    s = _settings(configs=["v2_small", "causal"], max_steps=300, val_every=20, log_every=7, batch=4)
    save_choices(s, path)
    saved = load_settings(path)
    assert saved.max_concurrent_runs == 3  # the rest of the file unchanged
    got = remembered_choices(saved)
    assert got["configs"] == ["v2_small", "causal"]
    assert (got["max_steps"], got["val_every"], got["log_every"], got["batch"]) == (300, 20, 7, 4)
    saved.last_training.update(batch=0, configs="v2", max_steps="many", unknown=1)
    got = remembered_choices(saved)
    assert "batch" not in got and "configs" not in got and "max_steps" not in got
    assert "unknown" not in got and got["val_every"] == 20


def test_a_settings_file_with_a_bad_last_training_falls_back(tmp_path):
    p = tmp_path / "settings.json"
    p.write_text('{"last_training": [1, 2]}')
    from rave_gui.backend.system.settings import read_settings

    settings, warnings = read_settings(p)
    assert settings.last_training == {}
    assert "last_training must be a mapping" in warnings[0]


# --- resume ------------------------------------------------------------------------------------
def test_resume_max_steps_must_be_above_the_checkpoints_step():
    assert resume_max_steps_problem(500, 400) is None
    problem = resume_max_steps_problem(400, 400)
    assert problem is not None and "more than 400 max steps (e.g. 1,400)" in problem
    with pytest.raises(ValidationError, match="checkpoint is at step 1,000"):
        check_resume_max_steps(900, 1000)
    with pytest.raises(ValidationError, match="at least 1"):
        check_resume_max_steps(0, None)
    assert suggest_max_steps(300, 100) == 300  # the original run had more to go
    assert suggest_max_steps(300, 300) == 1300
    assert suggest_max_steps(10_000, 20_000) == 40_000
    assert resume_cli(3, "/r/x.ckpt", 600, "a b") == (
        "rave-gui runs resume-from 3 --checkpoint /r/x.ckpt --max-steps 600 --name 'a b'"
    )


def test_resume_checkpoints_carry_their_step_and_validation_loss(tm, tmp_path):
    run_dir = tmp_path / "runs" / "1-a"
    folder = make_run(run_dir)
    exp = _ended_run(tm, "a", steps=30, seconds=30)
    tm.experiments.update(exp, run_dir=str(run_dir))
    ckpts = folder / "version_0" / "checkpoints"
    for name, mtime in (("epoch-epoch=0000.ckpt", 1000.0), ("epoch-epoch=0001.ckpt", 1010.0)):
        os.utime(ckpts / name, (mtime, mtime))
    os.utime(ckpts / "best.ckpt", (1011.0, 1011.0))
    tm.metrics.add_points(exp, [("validation", 10, 0.5, 995.0), ("validation", 20, 0.4, 1005.0)])
    found = {Path(c.path).name: c for c in resume_checkpoints(tm, exp)}
    assert (found["epoch-epoch=0000.ckpt"].step, found["epoch-epoch=0000.ckpt"].validation) == (
        10,
        0.5,
    )
    assert found["epoch-epoch=0001.ckpt"].validation == 0.4
    e = tm.get_experiment(exp)
    assert Path(resume_point(tm, e).path).name == "epoch-epoch=0001.ckpt"  # latest, not best
    assert resume_point(tm, e, str(ckpts / "best.ckpt")).is_best
    with pytest.raises(NotFoundError, match="is not a checkpoint of 'a'"):
        resume_point(tm, e, str(tmp_path / "elsewhere.ckpt"))
