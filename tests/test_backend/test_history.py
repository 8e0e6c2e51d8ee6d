"""The run history on a real SQLite store of many runs: filters, sort, paging, tags, notes,
archive, delete with files, the run detail and schema v7's migration of older databases."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from history_helpers import CONFIGS, T0, fill_runs

from rave_gui.backend.errors import InUseError, NotFoundError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.runs.cleanup import delete_run, plan_delete
from rave_gui.backend.runs.detail import run_detail
from rave_gui.backend.runs.metrics_export import export_metrics
from rave_gui.backend.store import db
from rave_gui.backend.store.history import SORT_KEYS, HistoryFilter

N = 300


@pytest.fixture
def tm(tmp_path: Path) -> Iterator[TrainingManager]:
    manager = TrainingManager(tmp_path / "runs.sqlite3")
    fill_runs(manager, N, tmp_path / "data")
    yield manager
    manager.close()


def _names(rows) -> list[str]:
    return [r.name for r in rows]


def test_default_lists_every_run_newest_first_with_its_summary(tm: TrainingManager) -> None:
    rows = tm.history.query()
    assert len(rows) == N == tm.history.count()
    assert _names(rows)[:3] == ["run-00299", "run-00298", "run-00297"]
    r = rows[-1]  # run-00000
    assert (r.steps, r.best_validation, r.best_validation_step) == (1000, 1.0, 500)
    assert r.final_validation == 2.0 and r.config_name == "v2" and r.dataset_name == "ds0"
    assert r.duration() == 600.0 and r.tags == ("good", "long") and r.notes == "try more noise"


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (HistoryFilter(statuses=("failed",)), [i for i in range(N) if i % 3 == 2]),
        (HistoryFilter(dataset="ds1"), [i for i in range(N) if i % 3 == 1]),
        (HistoryFilter(config="causal"), [i for i in range(N) if i % 4 == 2]),
        (HistoryFilter(config="v2"), [i for i in range(N) if i % 4 in (0, 2)]),
        (HistoryFilter(tag="long"), [i for i in range(N) if i % 15 == 0]),
        (HistoryFilter(since=T0 + 10 * 1200, until=T0 + 20 * 1200), list(range(10, 20))),
        (HistoryFilter(text="noise"), [i for i in range(N) if i % 7 == 0 or i % 4 == 3]),
        (HistoryFilter(text="MORE noise"), [i for i in range(N) if i % 7 == 0]),
        (HistoryFilter(text="run-0012"), list(range(120, 130))),
        (HistoryFilter(text="100%"), []),  # LIKE's wildcards are text
        (HistoryFilter(text="seed"), list(range(N))),  # the gin overrides
        (
            HistoryFilter(tag="good", statuses=("completed", "stopped"), dataset="ds0"),
            [i for i in range(N) if i % 10 == 0 and i % 3 == 0],
        ),
    ],
)
def test_filters(tm: TrainingManager, f: HistoryFilter, expected: list[int]) -> None:
    rows = tm.history.query(f, sort="id", descending=False)
    assert _names(rows) == [f"run-{i:05d}" for i in expected]
    assert tm.history.count(f) == len(expected)


@pytest.mark.parametrize("key", SORT_KEYS)
def test_every_column_sorts_both_ways_with_missing_values_last(
    tm: TrainingManager, key: str
) -> None:
    queued = tm.experiments.create({"name": "waiting"})  # no start, steps, config or dataset
    for descending in (False, True):
        rows = tm.history.query(sort=key, descending=descending)
        assert len(rows) == N + 1
        if key in ("duration", "steps", "best_validation", "final_validation", "config",
                   "dataset", "ended"):  # fmt: skip
            assert rows[-1].id == queued  # no value: last, whichever the direction
        if key == "tags":
            assert rows[0].tags and rows[-1].tags == ()
        if key == "started":  # not started yet: when it was created (now: the newest)
            assert rows[0 if descending else -1].id == queued
    asc = tm.history.query(sort="best_validation", descending=False, limit=3)
    assert [r.best_validation for r in asc] == [1 / 300, 1 / 299, 1 / 298]
    by_steps = tm.history.query(sort="steps", limit=2)
    assert [r.steps for r in by_steps] == [300_000, 299_000]


def test_pages_cover_the_sorted_list_exactly_once(tm: TrainingManager) -> None:
    whole = [r.id for r in tm.history.query(sort="dataset")]
    paged = []
    for offset in range(0, N, 64):
        paged += [r.id for r in tm.history.query(sort="dataset", limit=64, offset=offset)]
    assert paged == whole
    with pytest.raises(ValidationError):
        tm.history.query(limit=-1)
    with pytest.raises(ValidationError, match="Cannot sort by"):
        tm.history.query(sort="e.id; DROP TABLE experiments")


def test_tags_notes_and_archive_are_stored_and_searchable(tm: TrainingManager) -> None:
    exp = tm.history.query(HistoryFilter(text="run-00001"))[0].id
    assert tm.history.add_tags(exp, ["keeper", " bright ", "keeper"]) == ["bright", "keeper"]
    assert tm.history.remove_tags(exp, ["bright", "absent"]) == ["keeper"]
    assert tm.history.set_tags(exp, ["a", "b"]) == ["a", "b"]
    for bad in ("", "  ", "a,b", "x" * 65):
        with pytest.raises(ValidationError):
            tm.history.add_tags(exp, [bad])
    tm.history.set_notes(exp, "the crisp one\nkeep it")
    tm.experiments.update(exp, error="CUDA out of memory")
    assert _names(tm.history.query(HistoryFilter(text="cuda"))) == ["run-00001"]
    assert _names(tm.history.query(HistoryFilter(text="crisp"))) == ["run-00001"]
    assert _names(tm.history.query(HistoryFilter(tag="b"))) == ["run-00001"]
    assert "a" in tm.history.choices()["tags"]
    assert tm.history.choices()["configs"] == sorted({c for cfg in CONFIGS for c in cfg})
    tm.history.set_archived(exp)
    assert exp not in [r.id for r in tm.history.query()]  # hidden by default
    assert [r.id for r in tm.history.query(HistoryFilter(archived=True))] == [exp]
    assert tm.history.count(HistoryFilter(archived=None)) == N
    tm.history.set_archived(exp, False)
    assert tm.history.count() == N
    with pytest.raises(NotFoundError):
        tm.history.add_tags(10**9, ["x"])
    tm.experiments.delete(exp)
    assert (
        tm.db.execute("SELECT count(*) FROM run_tags WHERE experiment_id = ?", (exp,)).fetchone()[0]
        == 0
    )


def test_summary_columns_follow_the_points_and_ignore_nan(tm: TrainingManager) -> None:
    exp = tm.experiments.create({"name": "live", "configs": ["v2", "causal"]})
    tm.metrics.add_points(exp, [("validation", 10, 0.5, 1.0), ("validation", 20, 0.3, 2.0)])
    tm.metrics.add_points(exp, [("validation", 30, math.nan, 3.0)])
    (row,) = tm.history.query(HistoryFilter(text="live"))
    assert (row.steps, row.best_validation, row.best_validation_step) == (30, 0.3, 20)
    assert row.final_validation is None  # the last value is NaN
    assert row.config_name == "v2 + causal"
    tm.experiments.update(exp, config={"configs": ["v3"]})
    assert tm.history.query(HistoryFilter(text="live"))[0].config_name == "v3"


def test_delete_with_files_frees_the_folder_and_refuses_an_active_run(
    tm: TrainingManager, tmp_path: Path
) -> None:
    exp = tm.history.query(HistoryFilter(text="run-00005"))[0].id
    folder = tmp_path / "runs" / "5-run"
    (folder / "version_0").mkdir(parents=True)
    (folder / "version_0" / "last.ckpt").write_bytes(b"\0" * 70_000)
    (folder / "train.log").write_text("x" * 1000)
    tm.experiments.update(exp, run_dir=str(folder))
    plan = plan_delete(tm, exp)
    assert plan.folder_bytes == 71_000 and plan.files_kept_because is None
    assert delete_run(tm, exp, files=True) == 71_000
    assert not folder.exists()
    with pytest.raises(NotFoundError):
        tm.get_experiment(exp)

    kept = tm.history.query(HistoryFilter(text="run-00006"))[0].id
    other = tmp_path / "runs" / "6-run"
    other.mkdir()
    (other / "x").write_bytes(b"1234")
    tm.experiments.update(kept, run_dir=str(other))
    assert delete_run(tm, kept) == 0 and (other / "x").exists()  # the record only

    live = tm.experiments.create({"name": "running"})
    tm.experiments.update_status(live, "running")
    with pytest.raises(InUseError, match="stop it first"):
        delete_run(tm, live, files=True)
    shared = tm.history.query(HistoryFilter(text="run-00007"))[0].id
    twin = tm.history.query(HistoryFilter(text="run-00008"))[0].id
    for e in (shared, twin):
        tm.experiments.update(e, run_dir=str(other))
    with pytest.raises(InUseError, match="also uses"):
        delete_run(tm, shared, files=True)
    assert tm.get_experiment(shared) and (other / "x").exists()  # nothing deleted


def test_run_detail_gathers_information_statistics_and_config(
    tm: TrainingManager, tmp_path: Path
) -> None:
    parent = tm.history.query(HistoryFilter(text="run-00003"))[0].id
    folder = tmp_path / "runs" / "child"
    folder.mkdir(parents=True)
    (folder / "config.gin").write_text("PHASE_1_DURATION = 20\nmodel.RAVE.n_bands = 16\n")
    ckpt = folder / "best.ckpt"
    ckpt.write_bytes(b"\0" * 5000)
    child = tm.experiments.create(
        {"name": "child", "parent_id": parent, "configs": ["v2", "causal"],
         "overrides": ["model.RAVE.n_bands = 16"], "batch": 4, "dataset_id": 1}
    )  # fmt: skip
    tm.experiments.update(child, run_dir=str(folder), command=["rave", "train"])
    tm.experiments.update_status(child, "running")
    points = [("loss", s, 1.0 / (s + 1), 1000.0 + s) for s in range(0, 41)]
    points += [("validation", 10, 0.5, 1010.0), ("validation", 30, 0.2, 1030.0)]
    tm.metrics.add_points(child, points)
    tm.artifacts.sync_checkpoints(child, [{"path": str(ckpt), "step": 30, "size": 5000}])
    tm.experiments.update(child, started_at=1000.0)
    tm.experiments.update_status(child, "completed", exit_code=0)
    tm.experiments.update(child, completed_at=1040.0)
    tm.history.add_tags(child, ["x"])
    tm.history.set_notes(child, "n")

    d = run_detail(tm, child)
    info, stats = d.info, d.statistics
    assert info["resumed_from"] == {"id": parent, "name": "run-00003"}
    assert run_detail(tm, parent).info["resumed_by"] == [{"id": child, "name": "child"}]
    assert info["base_config"] == "v2" and info["modifiers"] == ["causal"]
    assert info["dataset"]["name"] == "ds0" and info["dataset"]["n_examples"] == 60
    assert info["duration"] == 40.0 and info["exit_code"] == 0
    assert info["command"] == ["rave", "train"] and info["run_dir"] == str(folder)
    assert stats["steps"] == 40 and stats["best_validation"] == 0.2
    assert stats["best_validation_step"] == 30 and stats["final"]["loss"] == 1 / 41
    assert stats["mean_speed"] == pytest.approx(1.0)  # 40 steps in 40 s
    assert stats["phase_1_steps"] == 20
    assert stats["phase_seconds"] == {
        "phase 1 (representation)": 20.0,
        "phase 2 (adversarial)": 20.0,
    }
    assert (stats["checkpoints"], stats["checkpoint_bytes"]) == (1, 5000)
    assert "n_bands = 16" in d.config_gin and d.overrides == ["model.RAVE.n_bands = 16"]
    assert ("batch", 4) in d.parameters and ("configs", ["v2", "causal"]) in d.parameters
    assert d.tags == ["x"] and d.notes == "n"
    assert json.loads(json.dumps(d.to_json()))["parameters"]["batch"] == 4


def test_export_metrics_to_csv_and_json(tm: TrainingManager, tmp_path: Path) -> None:
    exp = tm.experiments.create({"name": "m"})
    tm.metrics.add_points(exp, [("loss", 1, 0.5, 10.0), ("loss", 2, 0.25, 11.0)])
    assert export_metrics(tm, exp, tmp_path / "m.csv", "csv") == 2
    assert (tmp_path / "m.csv").read_text().splitlines()[1] == "loss,1,0.5,10.0"
    assert export_metrics(tm, exp, tmp_path / "m.json", "json") == 2
    assert json.loads((tmp_path / "m.json").read_text())["series"]["loss"][1] == [2, 0.25, 11.0]
    with pytest.raises(ValidationError):
        export_metrics(tm, exp, tmp_path / "m.xml", "xml")


def test_v6_database_gains_the_history_columns_from_its_summaries(tmp_path: Path) -> None:
    path = tmp_path / "v6.sqlite3"
    conn = db.connect(path, migrate=False)
    db.migrate_to(conn, 6)
    conn.execute("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0)")
    summary = '{"step": 70, "metrics": {"validation": {"last": NaN, "last_step": 70, ' \
        '"min": 0.4, "min_step": 50, "max": 1.0}}}'  # fmt: skip
    conn.execute(
        "INSERT INTO experiments (project_id, name, config, status, metrics, created_at) "
        "VALUES (1, 'old', '{\"configs\": [\"v2\", \"causal\"]}', 'completed', ?, 0)",
        (summary,),
    )
    conn.close()
    tm = TrainingManager(path)
    try:
        assert db.schema_version(tm.db.conn) == db.SCHEMA_VERSION
        (row,) = tm.history.query()
        assert (row.steps, row.best_validation, row.best_validation_step) == (70, 0.4, 50)
        assert row.final_validation is None and row.config_name == "v2 + causal"
        assert row.notes == "" and row.tags == () and not row.archived
    finally:
        tm.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
