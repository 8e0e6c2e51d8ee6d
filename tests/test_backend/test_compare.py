"""Comparing runs: real imported RAVE runs in a real store, the config diff, the metrics, the
curves with wall times, TensorBoard's smoothing and `rave-gui runs compare`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from compare_helpers import have_captures, import_captures

from rave_gui.backend.errors import NotFoundError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.backend.runs.compare import (
    CompareError,
    common_metrics,
    compare_runs,
    config_diff,
    ema_smooth,
    load_curve,
    parse_gin,
)
from rave_gui.cli import main

captures = pytest.mark.skipif(not have_captures(), reason="captured RAVE runs not available")


@pytest.fixture
def manager(tmp_path: Path):
    m = TrainingManager(tmp_path / "db.sqlite3")
    yield m
    m.close()


# --- TensorBoard's smoothing, against values computed by hand ----------------------------------
def test_ema_matches_tensorboard_by_hand() -> None:
    # w = 0.5: last = 0.5, 1.25, (nan skipped), 2.125; debias 1 - 0.5**n = 0.5, 0.75, 0.875
    got = ema_smooth(np.array([1.0, 2.0, math.nan, 3.0]), 0.5)
    assert got[0] == pytest.approx(1.0)
    assert got[1] == pytest.approx(1.25 / 0.75)
    assert math.isnan(got[2])  # a NaN stays where it is and is not averaged in
    assert got[3] == pytest.approx(2.125 / 0.875)


def test_ema_keeps_infinities_out_of_the_average() -> None:
    got = ema_smooth(np.array([4.0, math.inf, 2.0]), 0.6)
    assert got[0] == pytest.approx(4.0)  # the first value is its own debiased average
    assert got[1] == math.inf
    # n = 2: last = 0.6 * 1.6 + 0.4 * 2 = 1.76; debias 1 - 0.36 = 0.64
    assert got[2] == pytest.approx(1.76 / 0.64)


def test_ema_leaves_constant_series_and_weight_zero_alone() -> None:
    const = np.full(5, 2.5)
    assert np.array_equal(ema_smooth(const, 0.9), const)
    x = np.array([3.0, 1.0, 2.0])
    assert np.array_equal(ema_smooth(x, 0.0), x)
    assert ema_smooth(np.empty(0), 0.9).size == 0


def test_ema_of_a_long_series_tends_to_its_mean() -> None:
    rng = np.random.default_rng(0)
    x = 5.0 + rng.normal(0, 1, 20_000)
    got = ema_smooth(x, 0.99)
    assert abs(got[-1] - 5.0) < 0.5  # smoothed
    assert np.std(got[1000:]) < 0.2 * np.std(x)


def test_ema_rejects_a_weight_outside_0_1() -> None:
    with pytest.raises(Exception, match="between 0 and 1"):
        ema_smooth(np.ones(3), 1.5)


# --- the config.gin ------------------------------------------------------------------------
def test_parse_gin_reads_macros_bindings_imports_and_values_over_lines() -> None:
    text = (
        "from __gin__ import dynamic_registration\nimport rave\n\n# Macros:\n"
        "CAPACITY = 48\nDILATIONS = [[1, 3, 9],\n    [1, 3]]\n"
        "model.RAVE.phase_1_duration = %PHASE_1_DURATION\n"
    )
    got = parse_gin(text)
    assert got["CAPACITY"] == "48"
    assert got["DILATIONS"] == "[[1, 3, 9], [1, 3]]"
    assert got["model.RAVE.phase_1_duration"] == "%PHASE_1_DURATION"
    assert got["import rave"] == "yes"
    assert "from __gin__ import dynamic_registration" in got


def test_config_diff_lists_only_differing_keys_and_missing_ones() -> None:
    diff, same = config_diff({1: {"a": "1", "b": "2"}, 2: {"a": "1", "b": "3", "c": "x"}})
    assert diff == {"b": {1: "2", 2: "3"}, "c": {1: None, 2: "x"}}
    assert same == {"a": "1"}


# --- real imported runs --------------------------------------------------------------------
@captures
def test_two_runs_with_the_same_settings_give_an_empty_diff(manager, tmp_path: Path) -> None:
    ids = import_captures(manager, tmp_path)
    c = compare_runs(manager, ids)
    assert c.config_diff == {}
    assert "config.gin:CAPACITY" in c.config_same  # the gin lines were read and compared
    assert c.config_same["config.gin:SAMPLING_RATE"] == "44100"


@captures
def test_a_changed_config_gin_line_shows_in_the_diff(manager, tmp_path: Path) -> None:
    ids = import_captures(manager, tmp_path, gin_edit={"CAPACITY": "64"})
    c = compare_runs(manager, ids)
    assert c.config_diff == {"config.gin:CAPACITY": {ids[0]: "48", ids[1]: "64"}}


@captures
def test_summaries_and_metrics_come_from_the_runs_scalars(manager, tmp_path: Path) -> None:
    ids = import_captures(manager, tmp_path)
    c = compare_runs(manager, ids)
    for run, folder in zip(c.runs, ("t1_d744cc98b7", "long_d744cc98b7"), strict=True):
        points = read_scalars(tmp_path / folder)
        val = [p for p in points if p.tag == "validation"]
        best = min(val, key=lambda p: p.value)
        assert run.best_validation == pytest.approx(best.value)
        assert run.best_validation_step == best.step
        assert run.steps == max(p.step for p in points)
        walls = [p.wall_time for p in points]
        assert run.duration_s == pytest.approx(max(walls) - min(walls))
        assert run.speed == pytest.approx(run.steps / run.duration_s)
        assert run.phase == "reconstruction" and run.phase_1_steps == 1_000_000
        m = c.metrics["validation"][run.id]
        assert m is not None
        assert m["min"] == pytest.approx(best.value) and m["best_step"] == best.step
        assert m["last"] == pytest.approx(max(val, key=lambda p: p.step).value)
    # a metric only the longer run logs: null for the other
    assert c.metrics["regularization"][ids[0]] is None
    assert c.metrics["regularization"][ids[1]] is not None


@captures
def test_settings_parameters_modifiers_and_overrides_differ(manager, tmp_path: Path) -> None:
    base = {"dataset_path": "/d", "configs": ["v2"], "batch": 8, "overrides": []}
    a = manager.start_training({**base, "name": "a"})
    b = manager.start_training(
        {**base, "name": "b", "configs": ["v2", "causal"], "batch": 16,
         "overrides": ["model.RAVE.sampling_rate = 48000"]}
    )  # fmt: skip
    c = compare_runs(manager, [a, b])
    assert c.config_diff == {
        "modifiers": {a: "none", b: "causal"},
        "override:model.RAVE.sampling_rate": {a: None, b: "48000"},
        "parameter:batch": {a: "8", b: "16"},
    }
    assert c.config_same["config"] == "v2"


def test_counts_and_unknown_ids_are_errors(manager) -> None:
    with pytest.raises(CompareError, match="2 to 10 runs"):
        compare_runs(manager, [1])
    with pytest.raises(CompareError, match="2 to 10 runs"):
        compare_runs(manager, list(range(1, 12)))
    with pytest.raises(CompareError, match="twice"):
        compare_runs(manager, [1, 1])
    with pytest.raises(NotFoundError):
        compare_runs(manager, [1, 2])


@captures
def test_curves_carry_the_wall_time_of_each_point(manager, tmp_path: Path) -> None:
    ids = import_captures(manager, tmp_path)
    assert common_metrics(manager, ids)[0] == "validation"
    curve = load_curve(manager, ids[1], "validation")
    expected = {
        p.step: (p.value, p.wall_time)
        for p in read_scalars(tmp_path / "long_d744cc98b7")
        if p.tag == "validation"
    }
    assert curve.steps.tolist() == sorted(expected)
    assert curve.values.tolist() == pytest.approx([expected[s][0] for s in curve.steps.tolist()])
    assert curve.walls.tolist() == pytest.approx([expected[s][1] for s in curve.steps.tolist()])


# --- the command line ----------------------------------------------------------------------
def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@captures
def test_cli_json_has_runs_config_diff_and_metrics(tmp_path: Path, capsys) -> None:
    db = tmp_path / "db.sqlite3"
    tm = TrainingManager(db)
    ids = import_captures(tm, tmp_path, gin_edit={"CAPACITY": "64"})
    tm.close()
    code, out, err = _run(capsys, "runs", "compare", *map(str, ids), "--json", "--db", str(db))
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"runs", "config_diff", "metrics"}
    assert [r["id"] for r in data["runs"]] == ids
    assert {"best_validation", "best_validation_step", "steps", "duration_s", "speed", "phase"} <= (
        set(data["runs"][0])
    )
    assert data["config_diff"] == {"config.gin:CAPACITY": {str(ids[0]): "48", str(ids[1]): "64"}}
    val = data["metrics"]["validation"]
    assert set(val) == {str(i) for i in ids}
    assert set(val[str(ids[0])]) == {"last", "last_step", "min", "best_step"}
    # the table: one column per run, the differing key with both values
    code, out, err = _run(capsys, "runs", "compare", *map(str, ids), "--db", str(db))
    assert code == 0, err
    assert "#1 t1" in out and "#2 long" in out
    assert any(line.split()[:3] == ["config.gin:CAPACITY", "48", "64"] for line in out.splitlines())
    assert "best validation" in out


@pytest.mark.parametrize(
    ("ids", "message"),
    [(["1"], "2 to 10 runs"), ([str(i) for i in range(1, 12)], "2 to 10 runs"),
     (["1", "2"], "no experiment with id 1")],
)  # fmt: skip
def test_cli_errors_for_bad_counts_and_unknown_ids(tmp_path: Path, capsys, ids, message) -> None:
    code, _out, err = _run(capsys, "runs", "compare", *ids, "--db", str(tmp_path / "db.sqlite3"))
    assert code == 1
    assert err.startswith("rave-gui: error: ") and message in err
    assert "Traceback" not in err
