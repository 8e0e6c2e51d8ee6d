"""The store's records: frozen dataclasses read from real rows, their JSON what the CLI printed."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_manager import make_dataset

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.store.records import (
    Alert,
    Checkpoint,
    Dataset,
    Experiment,
    ExportedModel,
    Project,
)


@pytest.fixture
def tm(tmp_path: Path) -> Iterator[TrainingManager]:
    """A store with one of every record: a project, a dataset, a finished run with a summary,
    a command and two checkpoints, an alert and an exported model."""
    manager = TrainingManager(tmp_path / "store.sqlite3")
    p = manager.projects.create("Strings", "bowed")
    ds = manager.datasets.register(p, make_dataset(tmp_path / "cello"))
    exp = manager.start_training({"name": "cello", "project_id": p, "dataset_id": ds})
    manager.update_experiment_status(exp, "running")
    manager.update_training_metrics(exp, {"step": 40, "loss": 0.5, "validation": 0.25})
    manager.experiments.update(
        exp, command=["rave", "train", "--name", "cello"], pid=4242, process_start_time=1.5
    )
    manager.artifacts.sync_checkpoints(
        exp,
        [
            {"path": "/r/best.ckpt", "step": 40, "size": 9, "is_best": True, "mtime": 2.0},
            {"path": "/r/epoch=3.ckpt", "step": None, "size": None, "is_best": False},
        ],
    )
    manager.update_experiment_status(exp, "completed", exit_code=0)
    manager.alerts.add(exp, "data_lost", "warning", "lost bytes", 17)
    manager.artifacts.add_exported_model(
        exp, "/r/cello.ts", size=7, streaming=True, settings={"checkpoint_label": "best"}
    )
    yield manager
    manager.close()


def _rows(tm: TrainingManager, sql: str) -> list[dict[str, Any]]:
    """Rows straight from SQLite, as the store returned them before it had records."""
    cur = tm.db.execute(sql)
    return [{d[0]: v for d, v in zip(cur.description, r, strict=True)} for r in cur.fetchall()]


def test_reads_return_typed_frozen_records(tm: TrainingManager) -> None:
    (exp,) = tm.list_experiments()
    assert isinstance(exp, Experiment) and tm.get_experiment(exp.id) == exp
    assert exp.name == "cello" and exp.status == "completed" and exp.exit_code == 0
    assert exp.project_name == "Strings" and exp.dataset_name == "cello"
    assert exp.command == ["rave", "train", "--name", "cello"]
    assert exp.summary["step"] == 40 and exp.summary["metrics"]["validation"]["min"] == 0.25
    assert exp.config == {"dataset_id": exp.dataset_id}
    with pytest.raises(dataclasses.FrozenInstanceError):
        exp.status = "running"  # type: ignore[misc]
    assert dataclasses.replace(exp, status="failed").status == "failed"
    assert tm.get_experiment(exp.id).status == "completed"  # a copy changes nothing stored

    (project,) = tm.projects.all()
    assert isinstance(project, Project)
    assert (project.n_experiments, project.n_datasets) == (1, 1)
    assert tm.projects.get(project.id).n_experiments is None  # counts come with listings
    assert tm.projects.find("Strings").description == "bowed"

    (ds,) = tm.datasets.all()
    assert isinstance(ds, Dataset) and ds.n_experiments == 1
    assert (ds.sample_rate, ds.channels, ds.lazy) == (44100, 1, False)
    assert tm.datasets.get(ds.id).n_experiments is None

    best, epoch = tm.artifacts.checkpoints(exp.id)[::-1]
    assert isinstance(best, Checkpoint) and best.is_best is True and best.epoch is None
    assert epoch.is_best is False and epoch.epoch == 3 and epoch.step is None

    (model,) = tm.artifacts.exported_models(exp.id)
    assert isinstance(model, ExportedModel) and model.streaming is True
    assert model.settings == {"checkpoint_label": "best"} and model.experiment_name == "cello"

    (alert,) = tm.alerts.for_run(exp.id)
    assert isinstance(alert, Alert) and alert.acknowledged is False
    assert (alert.kind, alert.severity, alert.step) == ("data_lost", "warning", 17)


V7_COLUMNS = (
    "notes",
    "archived",
    "steps",
    "best_validation",
    "best_validation_step",
    "final_validation",
    "config_name",
)


def test_to_json_is_the_row_the_cli_always_printed(tm: TrainingManager) -> None:
    """Same keys, same order, same values as the rows the store used to return (the CLI's
    `--json` output stays byte-identical): the experiment without its process start time,
    its JSON columns parsed, 0/1 flags as stored."""
    (exp,) = tm.list_experiments()
    (row,) = _rows(
        tm,
        "SELECT e.*, p.name AS project_name, d.name AS dataset_name, d.path AS dataset_path "
        "FROM experiments e JOIN projects p ON p.id = e.project_id "
        "LEFT JOIN datasets d ON d.id = e.dataset_id",
    )
    for key in ("config", "metrics", "command"):
        row[key] = json.loads(row[key])
    del row["process_start_time"]
    for key in V7_COLUMNS:  # the history's (schema v7): the CLI adds notes, tags where asked
        del row[key]
    assert json.dumps(exp.to_json()) == json.dumps(row)

    listed = _rows(
        tm,
        "SELECT p.*, (SELECT count(*) FROM experiments e WHERE e.project_id = p.id) "
        "AS n_experiments, (SELECT count(*) FROM datasets d WHERE d.project_id = p.id) "
        "AS n_datasets FROM projects p",
    )
    assert json.dumps([p.to_json() for p in tm.projects.all()]) == json.dumps(listed)
    assert json.dumps(tm.projects.get(1).to_json()) == json.dumps(
        _rows(tm, "SELECT * FROM projects")[0]
    )

    listed = _rows(
        tm,
        "SELECT d.*, (SELECT count(*) FROM experiments e WHERE e.dataset_id = d.id) "
        "AS n_experiments FROM datasets d",
    )
    assert json.dumps([d.to_json() for d in tm.datasets.all()]) == json.dumps(listed)

    ckpts = _rows(tm, "SELECT * FROM checkpoints ORDER BY coalesce(step, -1), path")
    assert [c.to_json() for c in tm.artifacts.checkpoints(exp.id)] == ckpts
    assert [a.to_json() for a in tm.alerts.for_run(exp.id)] == _rows(tm, "SELECT * FROM alerts")


def test_a_later_schema_column_never_breaks_reading(tm: TrainingManager) -> None:
    """A column a later version adds is ignored by the records of this one."""
    db = sqlite3.connect(tm.db.path)
    for table in ("projects", "datasets", "experiments", "checkpoints", "alerts"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN added_later TEXT DEFAULT 'x'")
    db.execute("ALTER TABLE exported_models ADD COLUMN added_later TEXT DEFAULT 'x'")
    db.commit()
    db.close()
    later = TrainingManager(tm.db.path)
    try:
        (exp,) = later.list_experiments()
        records = [
            exp,
            later.get_experiment(exp.id),
            *later.projects.all(),
            *later.datasets.all(),
            *later.artifacts.checkpoints(exp.id),
            *later.artifacts.exported_models(exp.id),
            *later.alerts.for_run(exp.id),
        ]
        assert len(records) == 8
        for record in records:
            assert not hasattr(record, "added_later")
            assert "added_later" not in record.to_json()
    finally:
        later.close()
