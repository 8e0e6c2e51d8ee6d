"""The health rules on the series the launcher logs: ``vanishing_gradients`` (a gradient norm
below 1e-7) and ``dead_units`` (a layer more than half exact zeros), each raised on a synthetic
series that has the problem, once per episode, and not raised on a healthy series."""

from __future__ import annotations

import json
import math

from rave_gui.backend.runs.health import (
    ADVICE,
    HealthMonitor,
    HealthThresholds,
    evaluate_series,
    thresholds_from,
)
from rave_gui.backend.system.settings import Settings


def kinds(alerts) -> list[str]:
    return [a.kind for a in alerts]


GEN, DIS, DEAD = "grad_norm_generator", "grad_norm_discriminator", "dead_units_max_fraction"


def launcher_series(n: int = 200) -> dict[str, list[tuple[int, float]]]:
    """Healthy launcher series every 50 steps: gradient norms around 0.1 to 10 (the
    discriminator's from step 5000 on, as in phase 2), dead fractions near 0."""
    pts: dict[str, list[tuple[int, float]]] = {GEN: [], DIS: [], DEAD: []}
    for i in range(n):
        step = 49 + 50 * i
        pts[GEN].append((step, 5.0 * math.exp(-i / 80) + 0.1 + 0.05 * math.sin(i)))
        if step >= 5000:
            pts[DIS].append((step, 2.0 + math.sin(i / 3)))
        pts[DEAD].append((step, 0.02 * abs(math.sin(i / 7))))
    return pts


def test_healthy_launcher_series_raise_nothing():
    assert HealthMonitor().feed(launcher_series()) == []


def test_vanishing_gradients_raised_once_per_episode_per_optimizer():
    pts = launcher_series()
    gen = pts[GEN]
    for i in range(50, 60):  # one episode: ten points in a row
        gen[i] = (gen[i][0], 3e-8)
    gen[120] = (gen[120][0], 0.0)  # cleared at 60, back at 120: a new episode
    gen[121] = (gen[121][0], math.nan)  # not a norm below the threshold (a NaN: no episode)
    dis = pts[DIS]
    dis[10] = (dis[10][0], 1e-9)
    alerts = HealthMonitor().feed(pts)
    assert kinds(alerts) == ["vanishing_gradients"] * 3
    assert [a.step for a in alerts] == sorted([gen[50][0], gen[120][0], dis[10][0]])
    first = next(a for a in alerts if a.step == gen[50][0])
    assert first.severity == "warning"
    assert GEN in first.message and "3e-08" in first.message and "1e-07" in first.message
    assert first.advice == ADVICE["vanishing_gradients"]
    assert any(DIS in a.message for a in alerts)


def test_small_but_healthy_gradients_are_not_vanishing():
    pts = {GEN: [(49 + 50 * i, 2e-7 + 1e-8 * i) for i in range(100)]}
    assert HealthMonitor().feed(pts) == []


def test_dead_units_raised_above_half_and_once_per_episode():
    pts = launcher_series()
    dead = pts[DEAD]
    dead[30] = (dead[30][0], 0.5)  # exactly half: not more than half
    for i in range(40, 45):
        dead[i] = (dead[i][0], 0.75)
    dead[90] = (dead[90][0], 1.0)
    alerts = HealthMonitor().feed(pts)
    assert kinds(alerts) == ["dead_units", "dead_units"]
    assert [a.step for a in alerts] == [dead[40][0], dead[90][0]]
    assert "75 %" in alerts[0].message and alerts[0].severity == "warning"
    assert alerts[0].advice == ADVICE["dead_units"]


def test_episodes_carry_over_incremental_feeding_through_saved_state():
    pts = launcher_series(60)
    for i in range(20, 40):
        pts[GEN][i] = (pts[GEN][i][0], 1e-9)
        pts[DEAD][i] = (pts[DEAD][i][0], 0.9)
    del pts[DIS]  # phase 1
    whole, final_state = evaluate_series({n: tuple(zip(*p, strict=True)) for n, p in pts.items()})
    assert sorted(kinds(whole)) == ["dead_units", "vanishing_gradients"]
    merged = sorted((s, n, v) for n, p in pts.items() for s, v in p)
    state: dict = {}
    got = []
    for i in range(0, len(merged), 5):
        m = HealthMonitor(state=json.loads(json.dumps(state)))
        batch: dict[str, list[tuple[int, float]]] = {}
        for s, n, v in merged[i : i + 5]:
            batch.setdefault(n, []).append((s, v))
        got += m.feed(batch)
        state = m.state()
    assert got == whole
    assert state == final_state


def test_the_thresholds_are_settings():
    t = thresholds_from(
        vars(Settings(health_vanishing_gradient_norm=1e-3, health_dead_units_fraction=0.9))
    )
    assert (t.vanishing_gradient_norm, t.dead_units_fraction) == (1e-3, 0.9)
    assert HealthThresholds().vanishing_gradient_norm == 1e-7
    pts = {GEN: [(49, 5e-4)], DEAD: [(49, 0.75)]}
    assert kinds(HealthMonitor(t).feed(pts)) == ["vanishing_gradients"]


def test_importing_a_run_with_vanishing_gradients_stores_the_alert(tmp_path) -> None:
    from rave_gui.backend.manager import TrainingManager
    from rave_gui.backend.rave.eventproto import ScalarPoint
    from rave_gui.backend.rave.tfevents import write_scalar_events
    from rave_gui.backend.runs.engine import import_run

    run = tmp_path / "flat_d744cc98b7" / "version_0"
    run.mkdir(parents=True)
    pts = [ScalarPoint(GEN, s, 1.0 if s < 500 else 1e-9, 1e9 + s) for s in range(49, 1000, 50)]
    pts += [ScalarPoint(DEAD, s, 0.01, 1e9 + s) for s in range(49, 1000, 50)]
    write_scalar_events(run / "events.out.tfevents.1.h.1.0", pts)
    tm = TrainingManager(tmp_path / "store.sqlite3")
    try:
        exp = import_run(tm, run.parent)
        alerts = tm.alerts.for_run(exp)
        assert [(a.kind, a.step, a.severity) for a in alerts] == [
            ("vanishing_gradients", 549, "warning")
        ]
    finally:
        tm.close()
