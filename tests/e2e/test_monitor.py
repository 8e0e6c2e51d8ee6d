"""End to end, one short real `rave train` on the CPU through the Engine: the launcher's
gradient norms and dead units reach the event file and the store, "save a checkpoint now"
(SIGUSR1) writes a checkpoint that the checkpoint list shows, and `rave-gui reconstruct` runs a
WAV file through that real checkpoint."""

from __future__ import annotations

import math
import re
import time
import wave
from pathlib import Path

import pytest

from rave_gui.backend.jobs.demo import synthesize_audio
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.runs.checkpoints import find_checkpoints
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.system.settings import Settings
from rave_gui.cli import main as cli_main

# a few minutes on 2 free cores; much longer on a machine busy with other training
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

MAX_STEPS = 30
LOG_EVERY = 10
SAVE_AFTER_STEP = 8  # ask for the checkpoint once the run is past this step
PHASE_1 = 15  # the adversarial phase from step 15 on (the discriminator learns)
SAVED = re.compile(r"rave-gui: checkpoint saved (\S+) step=(\d+)")
TICK = re.compile(r"rave-gui: step=(\d+)")


def _wait_for(log: Path, pattern: re.Pattern[str], accept, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        for m in pattern.finditer(text):
            if accept(m):
                return m
        time.sleep(0.5)
    pytest.fail(f"{pattern.pattern!r} not in {log} within {timeout:.0f} s:\n{text[-3000:]}")


@pytest.fixture(scope="module")
def run(rave_executable: str, rave_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("monitor")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAVE_GUI_LOG_EVERY_N_STEPS", str(LOG_EVERY))
        tm = TrainingManager(root / "runs.sqlite3")
        engine = Engine(tm, Settings(rave_executable=rave_executable))
        try:
            exp_id = engine.submit(
                {
                    "name": "monitor",
                    "dataset_path": str(rave_dataset),
                    "configs": ["v2_small"],
                    "max_steps": MAX_STEPS,
                    "val_every": 30,
                    "batch": 2,
                    "workers": 0,
                    "gpu": -1,
                    "out_path": str(root / "runs"),
                    "overrides": [f"PHASE_1_DURATION={PHASE_1}"],
                }
            )
            exp = tm.get_experiment(exp_id)
            log = Path(exp.log_path)
            _wait_for(log, TICK, lambda m: int(m.group(1)) >= SAVE_AFTER_STEP, 1200)
            before = {c["path"] for c in find_checkpoints(Path(exp.run_dir))}
            signalled = engine.save_checkpoint_now(exp_id)
            saved = _wait_for(log, SAVED, lambda m: True, 300)
            status = engine.finish(exp_id, timeout=1500)
            yield {
                "tm": tm,
                "id": exp_id,
                "status": status,
                "supervisor": exp.pid,
                "signalled": signalled,
                "saved": Path(saved.group(1)),
                "saved_step": int(saved.group(2)),
                "before": before,
                "run_dir": Path(exp.run_dir),
                "rave": rave_executable,
                "root": root,
            }
        finally:
            for live in tm.list_experiments(status=["running", "paused", "stopping"]):
                engine.stop(live.id, interrupt_timeout=10, term_timeout=5)
            tm.close()


def test_the_run_completes_with_the_monitor(run: dict) -> None:
    exp = run["tm"].get_experiment(run["id"])
    assert run["status"] == "completed", exp.error
    log = Path(exp.log_path).read_text(errors="replace")
    assert "training monitor failed" not in log
    assert "learning-rate logging failed" not in log


def test_gradient_norms_and_dead_units_are_logged_at_the_logging_steps(run: dict) -> None:
    tm, exp_id = run["tm"], run["id"]
    names = set(tm.metrics.names(exp_id))
    tags = {"grad_norm_generator", "grad_norm_discriminator", "dead_units_max_fraction"}
    assert tags | {"dead_units_layers", "loss_dis"} <= names
    expected = [0, *range(LOG_EVERY - 1, MAX_STEPS, LOG_EVERY)]
    gen = [(s, v) for _n, s, v, _w in tm.metrics.iter_points(exp_id, "grad_norm_generator")]
    dis = [(s, v) for _n, s, v, _w in tm.metrics.iter_points(exp_id, "grad_norm_discriminator")]
    assert all(math.isfinite(v) and v > 1e-7 for _s, v in gen + dis), (gen, dis)
    # phase 1: only the generator steps, its norm at each logging step
    assert [s for s, _v in gen if s < PHASE_1] == [s for s in expected if s < PHASE_1]
    # phase 2: the two optimizers alternate; each norm at the logging step or the next one
    # (at the last step only the one that stepped then)
    for due in (s for s in expected if s >= PHASE_1):
        near = [[s for s, _v in series if due <= s <= due + 1] for series in (gen, dis)]
        assert all(near) if due + 1 < MAX_STEPS else any(near), (due, gen, dis)
    # the discriminator's first norm: its first step, once phase 2 started
    assert dis and all(s >= PHASE_1 for s, _v in dis)
    dead = [v for _n, _s, v, _w in tm.metrics.iter_points(exp_id, "dead_units_max_fraction")]
    assert len(dead) == len(expected)
    assert all(0.0 <= v <= 1.0 for v in dead)
    # RAVE's LeakyReLU layers are never exactly zero on real audio: no dead layer
    layers = [v for _n, _s, v, _w in tm.metrics.iter_points(exp_id, "dead_units_layers")]
    assert layers == [0.0] * len(expected)


def test_save_checkpoint_now_writes_a_listed_checkpoint(run: dict) -> None:
    assert run["signalled"] != run["supervisor"]  # the launcher, not its supervisor
    saved: Path = run["saved"]
    assert saved.is_file() and saved.name.startswith("manual-epoch=")
    assert saved.parent.name == "checkpoints" and saved.parent.parent.name.startswith("version_")
    assert run["saved_step"] >= SAVE_AFTER_STEP
    assert str(saved) not in run["before"]
    found = {c["path"] for c in find_checkpoints(run["run_dir"])}
    assert str(saved) in found
    listed = {c.path for c in run["tm"].artifacts.checkpoints(run["id"])}
    assert str(saved) in listed
    assert not list(saved.parent.glob("*.part"))


def test_reconstruct_through_the_real_checkpoint(run: dict, capsys) -> None:
    (wav,) = synthesize_audio(run["root"] / "in", n_files=1, seconds=3.0, channels=1)
    out = run["root"] / "out.wav"
    argv = ["reconstruct", "--rave", run["rave"], "--model", str(run["saved"])]
    rc = cli_main([*argv, "--input", str(wav), "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    with wave.open(str(wav)) as a, wave.open(str(out)) as b:
        assert (b.getframerate(), b.getnchannels()) == (a.getframerate(), a.getnchannels())
        assert b.getnframes() == a.getnframes()
        frames = b.readframes(b.getnframes())
    assert any(frames), "the reconstruction is silent"
