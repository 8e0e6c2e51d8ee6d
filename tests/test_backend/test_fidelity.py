"""fidelity: RAVE's fidelity_* scalars read as 'N latent dimensions hold P % of the variance'."""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import pytest

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.fidelity import fidelity_dimensions, fidelity_fact
from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.backend.runs.engine import import_run

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from replay_helpers import FIXTURES  # noqa: E402


def test_dimensions_are_the_logged_index_plus_one() -> None:
    last = {"fidelity_0.8": 3.0, "fidelity_0.9": 5.0, "fidelity_0.95": 7.0, "fidelity_0.99": 12.0}
    assert fidelity_dimensions(last) == {0.8: 4, 0.9: 6, 0.95: 8, 0.99: 13}
    summary = {"metrics": {k: {"last": v} for k, v in last.items()} | {"validation": {"last": 2}}}
    assert fidelity_fact(summary) == "8 latent dimensions hold 95 % of the variance"
    assert (
        fidelity_fact(summary, preferred=0.99) == "13 latent dimensions hold 99 % of the variance"
    )


def test_missing_or_broken_values_give_no_fact() -> None:
    assert fidelity_fact({"metrics": {"validation": {"last": 1.0}}}) is None
    assert fidelity_fact({}) is None
    assert fidelity_dimensions({"fidelity_0.95": math.nan, "fidelity_x": 3.0}) == {}
    # only 0.8 logged: the nearest fraction is used
    fact = fidelity_fact({"metrics": {"fidelity_0.8": {"last": 0.0}}})
    assert fact == "1 latent dimension holds 80 % of the variance"


@pytest.mark.skipif(not (FIXTURES / "run_110steps").exists(), reason="no captured runs")
def test_fact_of_a_real_imported_run(tmp_path: Path) -> None:
    src = FIXTURES / "run_110steps"
    version = tmp_path / "long_x" / "version_0"
    version.mkdir(parents=True)
    for f in src.glob("events.out.tfevents.*"):
        shutil.copy(f, version / f.name)
    shutil.copy(src / "config.gin", tmp_path / "long_x" / "config.gin")
    tm = TrainingManager(tmp_path / "db.sqlite3")
    exp = tm.get_experiment(import_run(tm, tmp_path / "long_x"))
    tm.close()
    last = {}
    for p in read_scalars(version):  # the last value of each series, as the summary keeps it
        last[p.tag] = p.value
    n = int(last["fidelity_0.95"]) + 1
    noun = "dimension holds" if n == 1 else "dimensions hold"
    assert fidelity_fact(exp.summary) == f"{n} latent {noun} 95 % of the variance"


@pytest.mark.skipif(not (FIXTURES / "run_110steps").exists(), reason="no captured runs")
def test_runs_show_prints_the_fact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rave_gui.cli import main

    version = tmp_path / "long_x" / "version_0"
    version.mkdir(parents=True)
    for f in (FIXTURES / "run_110steps").glob("events.out.tfevents.*"):
        shutil.copy(f, version / f.name)
    tm = TrainingManager(tmp_path / "db.sqlite3")
    exp = tm.get_experiment(import_run(tm, tmp_path / "long_x"))
    tm.close()
    assert main(["runs", "show", "1", "--db", str(tmp_path / "db.sqlite3")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("fidelity:"))
    assert line.split(None, 1)[1] == fidelity_fact(exp.summary)
