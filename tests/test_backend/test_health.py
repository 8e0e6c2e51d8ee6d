"""The health rules: each kind raised on a synthetic series that has the problem, not raised on
a healthy one; one alert per episode; incremental feeding equals one pass; an imported run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.eventproto import ScalarPoint
from rave_gui.backend.rave.tfevents import EventDirFollower, write_scalar_events
from rave_gui.backend.runs.engine import import_run
from rave_gui.backend.runs.health import (
    ADVICE,
    HealthMonitor,
    HealthThresholds,
    evaluate_series,
    thresholds_from,
)
from rave_gui.backend.system.settings import Settings

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rave"

FB, MB, VAL = "fullband_spectral_distance", "multiband_spectral_distance", "validation"


def healthy_run(n_val: int = 20) -> dict[str, list[tuple[int, float]]]:
    """A healthy RAVE-like run: training terms every 50 steps falling (with noise), validation
    every 500 steps still falling well, KL regularization slowly growing."""
    pts: dict[str, list[tuple[int, float]]] = {FB: [], MB: [], "regularization": [], VAL: []}
    for i in range(1, 20 * n_val + 1):
        step = 50 * i
        noise = 0.15 * math.sin(i * 1.7)
        pts[FB].append((step, 2.0 + 8.0 * math.exp(-i / 150) + noise))
        pts[MB].append((step, 2.5 + 9.0 * math.exp(-i / 150) + noise))
        pts["regularization"].append((step, 0.1 + 0.002 * i))
        if i % 10 == 0:
            pts[VAL].append((step, 3.0 + 7.0 * math.exp(-i / 250) + 0.02 * math.sin(i)))
    return pts


def kinds(alerts) -> list[str]:
    return [a.kind for a in alerts]


def test_a_healthy_run_raises_nothing():
    assert HealthMonitor().feed(healthy_run()) == []


def test_nan_and_infinity_in_a_loss_term_raise_one_error_per_episode():
    pts = healthy_run(10)
    fb = pts[FB]
    fb[30] = (fb[30][0], math.nan)
    fb[31] = (fb[31][0], math.inf)  # the same episode: no second alert
    fb[60] = (fb[60][0], -math.inf)  # cleared at 32, back at 60: a new episode
    pts["epoch"] = [(100, math.nan)]  # not a loss term
    alerts = HealthMonitor().feed(pts)
    assert kinds(alerts) == ["nan", "nan"]
    assert [a.step for a in alerts] == [fb[30][0], fb[60][0]]
    assert alerts[0].severity == "error"
    assert "NaN" in alerts[0].message and FB in alerts[0].message
    assert "infinite" in alerts[1].message
    assert alerts[0].advice == ADVICE["nan"]


def test_nan_in_validation_is_raised():
    alerts = HealthMonitor().feed({VAL: [(500, 5.0), (1000, math.nan)]})
    assert kinds(alerts) == ["nan"] and alerts[0].step == 1000


def test_divergence_above_ten_times_the_early_value():
    pts = {FB: [(50 * i, 1.0 + 0.01 * i) for i in range(1, 40)]}
    pts[FB] += [(2000 + 50 * i, 12.0 + i) for i in range(5)]  # 12x the early ~1.02
    alerts = HealthMonitor().feed(pts)
    assert kinds(alerts) == ["divergence"]
    assert alerts[0].step == 2000 and "10×" in alerts[0].message
    assert alerts[0].severity == "error"


def test_divergence_on_a_sudden_jump_far_outside_the_recent_range():
    # falls from 10 to ~2 (never 10x its early value), then jumps to 6: far out of 1.9..2.1
    pts = {FB: [(50 * i, max(2.0, 10.0 - 0.1 * i) + 0.05 * math.sin(i)) for i in range(1, 200)]}
    pts[FB].append((10_000, 6.0))
    alerts = HealthMonitor().feed(pts)
    assert kinds(alerts) == ["divergence"]
    assert alerts[0].step == 10_000 and "jumped" in alerts[0].message


def test_divergence_is_not_raised_by_noise_or_a_growing_kl_term():
    pts = healthy_run()
    pts["regularization"] = [(s, 0.01 * s) for s, _v in pts["regularization"]]  # x100 growth
    assert HealthMonitor().feed(pts) == []


def test_overfitting_validation_rising_three_times_while_training_falls():
    pts = healthy_run(10)
    last, last_val = pts[VAL][-1]
    # then: training keeps falling; validation falls once more, then rises 3 times in a row
    for k in range(1, 5):
        for j in range(10):
            step = last + 500 * (k - 1) + 50 * (j + 1)
            pts[FB].append((step, 1.5 - 0.01 * (10 * k + j)))
            pts[MB].append((step, 2.0 - 0.01 * (10 * k + j)))
        pts[VAL].append((last + 500 * k, last_val - 1.0 + 0.3 * k))
    alerts = HealthMonitor().feed(pts)
    assert kinds(alerts) == ["overfitting"]
    assert alerts[0].step == last + 500 * 4  # the third rise in a row
    assert alerts[0].severity == "warning"


def test_validation_rising_with_training_rising_too_is_not_overfitting():
    pts = {
        FB: [(500 * k, 2.0 + 0.2 * k) for k in range(1, 8)],
        VAL: [(500 * k, 3.0 + 0.2 * k) for k in range(1, 8)],
    }
    assert "overfitting" not in kinds(HealthMonitor().feed(pts))


def test_plateau_after_a_good_descent_says_to_move_on_to_phase_two():
    val = [(500 * k, 10.0 * math.exp(-k / 3)) for k in range(1, 15)]  # falls to ~0.1x
    best = val[-1][1]
    val += [(500 * (15 + k), best * (1 + 0.001 * math.sin(k))) for k in range(12)]
    alerts = HealthMonitor().feed({VAL: val})
    assert kinds(alerts) == ["plateau"]
    assert alerts[0].step == 500 * (15 + 9)  # the 10th validation without improvement
    assert "phase 2" in alerts[0].advice and alerts[0].severity == "info"


def test_underfitting_when_the_plateau_is_still_high():
    val = [(500 * k, 10.0 - 0.5 * k) for k in range(1, 5)]  # 9.5 .. 8.0, then stuck at 8
    val += [(500 * (5 + k), 8.0 + 0.01 * math.sin(k)) for k in range(12)]
    alerts = HealthMonitor().feed({VAL: val})
    assert kinds(alerts) == ["underfitting"]
    assert "%" in alerts[0].message and alerts[0].severity == "warning"


def test_a_plateau_that_clears_and_comes_back_is_a_new_episode():
    val = [(1, 10.0), *[(k, 1.0) for k in range(2, 14)]]
    val += [(20, 0.5), *[(k, 0.5) for k in range(21, 33)]]  # improved (clears), stuck again
    alerts = HealthMonitor().feed({VAL: val})
    assert kinds(alerts) == ["plateau", "plateau"]


def test_stalled_only_while_the_process_lives_and_once_per_episode():
    m = HealthMonitor(HealthThresholds(stalled_minutes=10))
    t = 1000.0
    assert m.check_stalled(t, True, 100) == []
    assert m.check_stalled(t + 599, True, 100) == []
    [alert] = m.check_stalled(t + 600, True, 100)
    assert alert.kind == "stalled" and alert.step == 100 and "10 minutes" in alert.message
    assert m.check_stalled(t + 900, True, 100) == []  # the same episode
    assert m.check_stalled(t + 901, True, 101) == []  # a new step: cleared
    assert m.check_stalled(t + 2000, False, 101) == []  # the process is gone: not stalled
    assert kinds(m.check_stalled(t + 2001, True, 101)) == ["stalled"]


def test_gpu_memory_above_the_threshold():
    m = HealthMonitor()
    assert m.check_gpu_memory(None, 10) == []  # no GPU reading
    assert m.check_gpu_memory(94.0, 10) == []
    [alert] = m.check_gpu_memory(97.5, 20)
    assert alert.kind == "gpu_memory" and "98 %" in alert.message and "--batch" in alert.advice
    assert m.check_gpu_memory(99.0, 30) == []
    assert m.check_gpu_memory(50.0, 40) == []
    assert kinds(m.check_gpu_memory(96.0, 50)) == ["gpu_memory"]


def test_phase_change_once_when_the_adversarial_terms_appear():
    pts = healthy_run(5)
    pts["adversarial"] = [(5000, 2.0), (5050, 1.9)]
    pts["loss_dis"] = [(5000, 1.0)]
    alerts = HealthMonitor().feed(pts)
    assert kinds(alerts) == ["phase_change"]
    assert alerts[0].step == 5000 and alerts[0].severity == "info"
    assert HealthMonitor(state=HealthMonitor().state()).feed({"adversarial": [(1, 1.0)]})


def test_fed_in_small_batches_through_saved_state_equals_one_pass():
    """Incremental: a run fed a few points at a time, the state saved as JSON and restored
    between batches (as the followers do), raises exactly what one pass raises."""
    pts = healthy_run(12)
    pts[FB][100] = (pts[FB][100][0], math.nan)
    pts[VAL] += [(pts[VAL][-1][0] + 500 * k, 1.0) for k in range(1, 14)]
    whole, final_state = evaluate_series({n: tuple(zip(*p, strict=True)) for n, p in pts.items()})
    assert set(kinds(whole)) == {"nan", "plateau"}
    merged = sorted((s, n, v) for n, p in pts.items() for s, v in p)
    state: dict = {}
    got = []
    for i in range(0, len(merged), 7):
        m = HealthMonitor(state=json.loads(json.dumps(state)))
        batch: dict[str, list[tuple[int, float]]] = {}
        for s, n, v in merged[i : i + 7]:
            batch.setdefault(n, []).append((s, v))
        got += m.feed(batch)
        state = m.state()
        assert len(json.dumps(state, allow_nan=False)) < 4000  # small, finite
    assert got == whole
    assert state == final_state


def test_thresholds_come_from_the_settings():
    t = thresholds_from(vars(Settings(health_plateau_validations=4, health_stalled_minutes=2.5)))
    assert (t.plateau_validations, t.stalled_minutes, t.divergence_factor) == (4, 2.5, 10.0)
    with pytest.raises(Exception, match="health_plateau_validations must be a whole number"):
        Settings(health_plateau_validations=2.5).validate()  # type: ignore[arg-type]
    with pytest.raises(Exception, match="health_gpu_memory_percent must be a number above 0"):
        Settings(health_gpu_memory_percent=-1).validate()


def test_the_real_capture_is_healthy():
    """The real captured 110-step run raises nothing (no false alarm on real RAVE output)."""
    src = FIXTURES / "run_110steps"
    if not src.exists():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    pts: dict[str, list[tuple[int, float]]] = {}
    for p in EventDirFollower(src).poll():
        pts.setdefault(p.tag, []).append((p.step, p.value))
    assert {VAL, FB, MB} <= set(pts)
    assert HealthMonitor().feed(pts) == []


def test_importing_a_run_evaluates_the_rules_over_its_whole_series(tmp_path: Path):
    run = tmp_path / "runs" / "bad_d744cc98b7" / "version_0"
    run.mkdir(parents=True)
    points = [ScalarPoint(n, s, v, 1e9 + s) for n, p in healthy_run(10).items() for s, v in p]
    points.append(ScalarPoint(FB, 5000, math.nan, 1e9 + 5000))
    points.append(ScalarPoint("adversarial", 5050, 1.0, 1e9 + 5050))
    points.sort(key=lambda p: p.step)
    write_scalar_events(run / "events.out.tfevents.1.h.1.0", points)
    m = TrainingManager(tmp_path / "rave-gui.db")
    try:
        exp_id = import_run(m, run.parent)
        alerts = m.alerts.for_run(exp_id)
        assert [(a.kind, a.step) for a in alerts] == [("nan", 5000), ("phase_change", 5050)]
        assert alerts[0].advice == ADVICE["nan"] and alerts[0].severity == "error"
        # the state is kept: a follower of this run goes on from it
        assert "health" in m.get_experiment(exp_id).summary
    finally:
        m.close()


def test_importing_the_real_capture_raises_no_alert(tmp_path: Path):
    src = FIXTURES / "run_40steps"
    if not src.exists():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    run = tmp_path / "t1_d744cc98b7" / "version_0"
    run.mkdir(parents=True)
    for f in src.glob("events.out.tfevents.*"):
        shutil.copy(f, run / f.name)
    m = TrainingManager(tmp_path / "rave-gui.db")
    try:
        assert m.alerts.for_run(import_run(m, run.parent)) == []
    finally:
        m.close()
