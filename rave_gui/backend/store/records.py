"""What the store's reads return: small frozen records, one class per kind of row.

``from_row`` builds a record from a row dict (columns it does not know are ignored, so a later
schema column never breaks older code); ``to_json`` gives the dict the command line prints.
A record is a snapshot: to change one, change the store and read it again (or build a changed
copy with ``dataclasses.replace``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FIELDS: dict[type, tuple[str, ...]] = {}
_EPOCH = re.compile(r"epoch[=-](\d+)")  # in RAVE's checkpoint file names


def _known(cls: type, row: dict[str, Any]) -> dict[str, Any]:
    """The items of ``row`` that are fields of ``cls``."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return {k: row[k] for k in names if k in row}


def _json_field(raw: Any, empty: Any) -> Any:
    """A JSON column: parsed when it is text, ``empty`` when it is NULL or ''."""
    if isinstance(raw, str | bytes):
        return json.loads(raw) if raw else empty
    return empty if raw is None else raw


def _public(record: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of ``record`` in order, without ``skip`` and without counts not read (None)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name in skip:
            continue
        value = getattr(record, f.name)
        if value is None and f.metadata.get("listed"):
            continue
        out[f.name] = value
    return out


def _count() -> Any:
    """A count that only listings carry (None on a single read; left out of to_json then)."""
    return dataclasses.field(default=None, metadata={"listed": True})


@dataclass(frozen=True, slots=True)
class Project:
    """A project; ``n_experiments`` and ``n_datasets`` are counted in listings (``all``)."""

    id: int
    name: str
    description: str
    created_at: float
    n_experiments: int | None = _count()
    n_datasets: int | None = _count()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Project:
        return cls(**_known(cls, row))

    def to_json(self) -> dict[str, Any]:
        return _public(self)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A registered preprocessed dataset; ``n_experiments`` is counted in listings."""

    id: int
    project_id: int
    name: str
    path: str
    sample_rate: int | None
    channels: int | None
    duration_s: float | None
    n_examples: int | None
    lazy: bool
    created_at: float
    n_experiments: int | None = _count()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Dataset:
        values = _known(cls, row)
        values["lazy"] = bool(values.get("lazy"))
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        data = _public(self)
        data["lazy"] = int(self.lazy)  # as stored (the JSON output predates this record)
        return data


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment (a training run) with the names of its project and dataset.

    ``summary`` is the run's metric summary (the ``metrics`` column: step, per-series
    min/max/last ...); ``to_json`` writes it under "metrics", as the command line always has.
    """

    id: int
    project_id: int
    name: str
    dataset_id: int | None
    config: dict[str, Any]
    status: str
    started_at: float | None
    completed_at: float | None
    summary: dict[str, Any]
    command: list[str] | None
    run_dir: str | None
    log_path: str | None
    pid: int | None
    process_start_time: float | None
    exit_code: int | None
    error: str | None
    created_at: float
    parent_id: int | None
    updated_at: float | None
    project_name: str
    dataset_name: str | None
    dataset_path: str | None
    notes: str = ""  # the user's notes (schema v7)
    archived: bool = False  # hidden from the history (schema v7)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Experiment:
        values = _known(cls, row)
        values["archived"] = bool(values.get("archived"))
        values["config"] = _json_field(row.get("config"), {})
        values["summary"] = _json_field(row.get("metrics"), {})
        values["command"] = _json_field(row.get("command"), None)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The public fields (not the process start time, which only tells a reused pid apart,
        nor the notes and archived flag, which the commands add where they show them), the
        summary as "metrics"."""
        return {
            ("metrics" if k == "summary" else k): v
            for k, v in _public(self, skip=("process_start_time", "notes", "archived")).items()
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint file a run wrote, as recorded by the store."""

    id: int
    experiment_id: int
    path: str
    step: int | None
    size: int | None
    is_best: bool
    mtime: float | None
    # the run's validation loss at or just before the checkpoint's step (when it was read)
    validation: float | None = _count()
    # True: a run's checkpoint left on its target (not copied here); a resume copies it there
    on_target: bool | None = _count()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Checkpoint:
        values = _known(cls, row)
        values["is_best"] = bool(values.get("is_best"))
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        data = _public(self)
        data["is_best"] = int(self.is_best)  # as stored (the JSON output predates this record)
        return data

    @property
    def epoch(self) -> int | None:
        """The epoch in the file's name (``epoch=12``), None when the name has none."""
        m = _EPOCH.search(Path(self.path).name)
        return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class ExportedModel:
    """A TorchScript model exported from an experiment's checkpoint."""

    id: int
    experiment_id: int
    path: str
    size: int | None
    streaming: bool
    checkpoint: str | None
    settings: dict[str, Any]
    created_at: float
    experiment_name: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ExportedModel:
        values = _known(cls, row)
        values["streaming"] = bool(values.get("streaming"))
        values["settings"] = _json_field(row.get("settings"), {})
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return _public(self)


@dataclass(frozen=True, slots=True)
class Alert:
    """A warning raised about a run (a health check, lost data)."""

    id: int
    experiment_id: int
    kind: str
    severity: str
    message: str
    step: int | None
    created_at: float
    acknowledged: bool
    advice: str = ""  # what to do about it (schema v6)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alert:
        values = _known(cls, row)
        values["acknowledged"] = bool(values.get("acknowledged"))
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        data = _public(self)
        data["acknowledged"] = int(self.acknowledged)
        return data
