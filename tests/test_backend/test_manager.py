"""TrainingManager: projects, datasets, experiments, status transitions, processes, metrics."""

from __future__ import annotations

import itertools
import math
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rave_gui.backend import manager as mgr
from rave_gui.backend import status as run_status
from rave_gui.backend.errors import (
    DatasetError,
    DuplicateNameError,
    InUseError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.store.projects import DEFAULT_PROJECT
from rave_gui.backend.store.records import Experiment

FIXTURE_METADATA = (
    Path(__file__).resolve().parents[3] / "shared/fixtures/rave/dataset_metadata.yaml"
)
METADATA = "channels: 1\nlazy: false\nn_seconds: 208.05079365079365\nsr: 44100\n"


@pytest.fixture
def tm(tmp_path: Path) -> Iterator[TrainingManager]:
    manager = TrainingManager(tmp_path / "store.sqlite3")
    yield manager
    manager.close()


def make_dataset(folder: Path, metadata: str | None = METADATA) -> Path:
    """A folder shaped like `rave preprocess` output (metadata.yaml and data.mdb, empty: no
    audio needed)."""
    folder.mkdir(parents=True)
    if metadata is not None:
        (folder / "metadata.yaml").write_text(metadata, encoding="utf-8")
        (folder / "data.mdb").touch()
    return folder


@pytest.fixture
def child() -> Iterator[subprocess.Popen]:
    """A real process in its own process group, as the engine starts training."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    # Started, not starting: a SIGINT during the interpreter's start-up ends it with 1, not -2.
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    yield proc
    proc.stdout.close()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


# --- projects ---------------------------------------------------------------------------------


def test_project_create_rename_list(tm: TrainingManager) -> None:
    a = tm.projects.create("  Drums  ", "kits")
    b = tm.projects.create("bass")
    assert tm.projects.get(a).name == "Drums"  # trimmed
    assert tm.projects.get(a).description == "kits"
    tm.projects.rename(a, "Percussion")
    assert [p.name for p in tm.projects.all()] == ["bass", "Percussion"]
    assert tm.projects.find("Percussion").id == a
    assert tm.projects.find(str(b)).id == b
    tm.projects.rename(a, "Percussion")  # renaming to its own name is fine


def test_project_duplicate_name_raises(tm: TrainingManager) -> None:
    a = tm.projects.create("Drums")
    b = tm.projects.create("Bass")
    with pytest.raises(DuplicateNameError, match="Drums"):
        tm.projects.create("Drums")
    with pytest.raises(DuplicateNameError):
        tm.projects.rename(b, "Drums")
    assert tm.projects.get(a).name == "Drums"
    assert tm.projects.get(b).name == "Bass"


def test_project_names_differing_only_by_case_are_refused(tm: TrainingManager) -> None:
    default = tm.projects.default_id()
    with pytest.raises(DuplicateNameError) as err:
        tm.projects.create("default")
    assert str(err.value) == (
        "A project named 'Default' already exists (names differing only in case are the same "
        "name): pick another name."
    )
    strasse = tm.projects.create("Straße")  # folded beyond ASCII too
    with pytest.raises(DuplicateNameError, match="'Straße' already exists"):
        tm.projects.create("STRASSE")
    with pytest.raises(DuplicateNameError, match="'Default' already exists"):
        tm.projects.rename(strasse, "DEFAULT")
    tm.projects.rename(default, "DEFAULT")  # a project may change the case of its own name
    assert [p.name for p in tm.projects.all()] == ["DEFAULT", "Straße"]


@pytest.mark.parametrize("name", ["", "   ", None, "a/b", "x" * 500, ".hidden"])
def test_project_bad_name_raises_validation_error(tm: TrainingManager, name: object) -> None:
    with pytest.raises(ValidationError):
        tm.projects.create(name)  # type: ignore[arg-type]
    assert tm.projects.all() == []


def test_unknown_project_raises_not_found(tm: TrainingManager) -> None:
    with pytest.raises(NotFoundError):
        tm.projects.get(99)
    with pytest.raises(NotFoundError):
        tm.projects.find("nope")
    with pytest.raises(NotFoundError):
        tm.projects.rename(99, "x")
    with pytest.raises(NotFoundError):
        tm.projects.delete(99)


def test_delete_empty_project(tm: TrainingManager, tmp_path: Path) -> None:
    p = tm.projects.create("Empty")
    ds = tm.datasets.register(p, make_dataset(tmp_path / "ds"))
    tm.projects.delete(p)
    assert tm.projects.all() == []
    with pytest.raises(NotFoundError):
        tm.datasets.get(ds)
    assert (tmp_path / "ds" / "metadata.yaml").exists()  # files on disk stay


def test_delete_project_with_experiments_needs_explicit_consent(tm: TrainingManager) -> None:
    p = tm.projects.create("P")
    keep = tm.projects.create("Keep")
    exp = tm.start_training({"name": "done", "project_id": p})
    other = tm.start_training({"name": "other", "project_id": keep})
    for e in (exp, other):
        tm.update_experiment_status(e, "failed")
        tm.update_training_metrics(e, {"step": 10, "loss": 0.5})
    with pytest.raises(InUseError, match="1 experiment"):
        tm.projects.delete(p)
    assert tm.get_experiment(exp).name == "done"

    tm.projects.delete(p, delete_experiments=True)
    with pytest.raises(NotFoundError):
        tm.get_experiment(exp)
    conn = tm.db.conn
    assert conn.execute(
        "SELECT count(*) FROM metric_points WHERE experiment_id = ?", (exp,)
    ).fetchone() == (0,)
    # The other project's experiment and points are untouched.
    assert [pt[1] for pt in tm.metrics.iter_points(other)] == [10]


@pytest.mark.parametrize("status", ["queued", "running", "paused", "stopping"])
def test_delete_project_with_an_active_run_is_refused(tm: TrainingManager, status: str) -> None:
    p = tm.projects.create("P")
    exp = tm.start_training({"name": "live", "project_id": p})
    assert tm.projects.delete_refusal(tm.projects.create("empty")) is None
    _walk_to(tm, exp, status)
    refusal = tm.projects.delete_refusal(p)
    assert refusal == "Project 'P' has an active run: stop it first."
    with pytest.raises(InUseError) as raised:
        tm.projects.delete(p, delete_experiments=True)
    assert str(raised.value) == refusal  # the same rule, asked before and enforced
    assert tm.get_experiment(exp).status == status
    tm.update_experiment_status(exp, "stopped")
    assert tm.projects.delete_refusal(p) is None  # ended: deleting it is the user's choice


# --- datasets ---------------------------------------------------------------------------------


def test_register_dataset_reads_rave_metadata(tm: TrainingManager, tmp_path: Path) -> None:
    p = tm.projects.create("P")
    text = FIXTURE_METADATA.read_text() if FIXTURE_METADATA.exists() else METADATA
    folder = make_dataset(tmp_path / "drums_db", text)
    ds_id = tm.datasets.register(p, folder)
    ds = tm.datasets.get(ds_id)
    assert ds.name == "drums_db"
    assert ds.path == str(folder.resolve())
    assert ds.sample_rate == 44100
    assert ds.channels == 1
    assert ds.duration_s == pytest.approx(208.05079365079365)
    assert ds.n_examples is None  # data.mdb is empty, not an LMDB: no count
    assert ds.lazy == 0
    assert [d.id for d in tm.datasets.all(p)] == [ds_id]


def _write_lmdb(folder: Path, batches: int, per_batch: int = 10) -> int:
    """An LMDB written like `rave preprocess` does: one record an example, in batches.
    Returns the entry count the lmdb module reports."""
    lmdb = pytest.importorskip("lmdb")
    env = lmdb.open(str(folder), map_size=1 << 24)
    for b in range(batches):
        with env.begin(write=True) as txn:
            for i in range(b * per_batch, (b + 1) * per_batch - b):  # 10, 9, 8, ... a batch
                txn.put(f"{i:08d}".encode(), os.urandom(3000))
    entries = env.stat()["entries"]
    assert env.info()["last_txnid"] % 2 == batches % 2  # the newest meta page alternates
    env.close()
    return entries


@pytest.mark.parametrize("batches", [3, 4])  # the newest meta page is the second, the first
def test_register_dataset_counts_lmdb_examples(
    tm: TrainingManager, tmp_path: Path, batches: int
) -> None:
    folder = make_dataset(tmp_path / "db")
    entries = _write_lmdb(folder, batches)
    assert entries == sum(10 - b for b in range(batches))
    ds = tm.datasets.get(tm.datasets.register(tm.projects.create("P"), folder))
    assert ds.n_examples == entries


def test_lmdb_entries_with_16k_pages(tmp_path: Path) -> None:
    # LMDB's page size is the OS page size: 16 KiB on Apple silicon. Rebuild a 4 KiB file's
    # two meta pages at 16 KiB spacing, as such a machine would write them.
    from rave_gui.backend.rave.dataset import lmdb_entries

    folder = make_dataset(tmp_path / "db")
    entries = _write_lmdb(folder, 3)  # the second meta page is the newer one
    raw = (folder / "data.mdb").read_bytes()
    assert struct.unpack_from("<I", raw, 16 + 24)[0] == 4096  # md_pad of the free DB
    big = bytearray(16384 * 2)
    for i in (0, 1):
        page = bytearray(raw[i * 4096 : (i + 1) * 4096])
        struct.pack_into("<I", page, 16 + 24, 16384)
        big[i * 16384 : i * 16384 + 4096] = page
    out = tmp_path / "data.mdb"
    out.write_bytes(bytes(big))
    assert lmdb_entries(out) == entries
    assert lmdb_entries(tmp_path / "missing.mdb") is None
    (tmp_path / "junk.mdb").write_bytes(b"\0" * 9000)
    assert lmdb_entries(tmp_path / "junk.mdb") is None


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("file", "is a file"),
        ("no-metadata", "no metadata.yaml"),
        ("bad-yaml", "not valid YAML"),
        ("not-mapping", "expected a mapping"),
        ("missing-keys", "lacks sr, n_seconds"),
        ("not-a-number", "not a number"),
        ("zero-seconds", "empty"),
        ("nan-seconds", "not a duration"),
        ("zero-rate", "not usable"),
        ("binary", "not valid YAML"),
    ],
)
def test_register_unusable_dataset_raises_dataset_error(
    tm: TrainingManager, tmp_path: Path, setup: str, message: str
) -> None:
    folder = tmp_path / "ds"
    if setup == "file":
        folder.write_text("x")
    elif setup == "no-metadata":
        make_dataset(folder, None)
        (folder / "audio.wav").write_bytes(b"RIFF")
    elif setup != "missing":
        text = {
            "bad-yaml": "sr: [44100\nchannels: 1\n",
            "not-mapping": "- 1\n- 2\n",
            "missing-keys": "channels: 1\n",
            "not-a-number": "sr: fast\nchannels: 1\nn_seconds: 3\n",
            "zero-seconds": "sr: 44100\nchannels: 1\nn_seconds: 0\n",
            "nan-seconds": "sr: 44100\nchannels: 1\nn_seconds: .nan\n",
            "zero-rate": "sr: 0\nchannels: 1\nn_seconds: 3\n",
        }.get(setup)
        make_dataset(folder, text)
        if setup == "binary":
            (folder / "metadata.yaml").write_bytes(b"\xff\xfe\x00sr")
    p = tm.projects.create("P")
    with pytest.raises(DatasetError, match=message) as info:
        tm.datasets.register(p, folder)
    assert str(folder) in str(info.value)
    assert tm.datasets.all() == []


def test_register_dataset_twice_raises(tm: TrainingManager, tmp_path: Path) -> None:
    p = tm.projects.create("P")
    q = tm.projects.create("Q")
    folder = make_dataset(tmp_path / "ds")
    tm.datasets.register(p, folder)
    with pytest.raises(DuplicateNameError, match="already registered"):
        tm.datasets.register(p, folder, name="another name")
    with pytest.raises(DuplicateNameError, match="already has a dataset"):
        tm.datasets.register(p, make_dataset(tmp_path / "x" / "ds"))
    tm.datasets.register(q, folder)  # another project may register it too
    assert len(tm.datasets.all()) == 2


def test_rename_dataset(tm: TrainingManager, tmp_path: Path) -> None:
    p = tm.projects.create("P")
    a = tm.datasets.register(p, make_dataset(tmp_path / "a"))
    tm.datasets.register(p, make_dataset(tmp_path / "b"))
    tm.datasets.rename(a, "kicks")
    assert tm.datasets.get(a).name == "kicks"
    with pytest.raises(DuplicateNameError):
        tm.datasets.rename(a, "b")
    with pytest.raises(ValidationError):
        tm.datasets.rename(a, " ")


def test_delete_dataset_with_experiments_needs_detach(tm: TrainingManager, tmp_path: Path) -> None:
    p = tm.projects.create("P")
    ds = tm.datasets.register(p, make_dataset(tmp_path / "ds"))
    assert tm.datasets.delete_refusal(ds) is None
    exp = tm.start_training({"name": "run", "project_id": p, "dataset_id": ds})
    refusal = tm.datasets.delete_refusal(ds)
    assert refusal is not None and "used by an active run" in refusal
    with pytest.raises(InUseError) as raised:
        tm.datasets.delete(ds, detach_experiments=True)  # queued counts as active
    assert str(raised.value) == refusal
    tm.update_experiment_status(exp, "stopped")
    assert tm.datasets.delete_refusal(ds) is None  # the experiment remains: only detach asked
    with pytest.raises(InUseError, match="detach"):
        tm.datasets.delete(ds)
    tm.datasets.delete(ds, detach_experiments=True)
    with pytest.raises(NotFoundError):
        tm.datasets.get(ds)
    e = tm.get_experiment(exp)
    assert e.dataset_id is None
    assert e.config["dataset_id"] == ds  # the config keeps what the run was started with


def test_dataset_of_another_project_is_refused(tm: TrainingManager, tmp_path: Path) -> None:
    p, q = tm.projects.create("P"), tm.projects.create("Q")
    ds = tm.datasets.register(p, make_dataset(tmp_path / "ds"))
    with pytest.raises(ValidationError, match="another project"):
        tm.start_training({"name": "run", "project_id": q, "dataset_id": ds})


# --- experiments ------------------------------------------------------------------------------


def test_start_training_returns_a_queued_experiment_with_its_config(tm: TrainingManager) -> None:
    config = {
        "name": "v2 drums",
        "config": "v2_small",
        "max_steps": 100_000,
        "augment": ["mute", "compress"],
        "options": {"batch": 8, "lr": 1e-4, "ema": None},
    }
    exp_id = tm.start_training(config)
    exp = tm.get_experiment(exp_id)
    assert exp.id == exp_id
    assert exp.name == "v2 drums"
    assert exp.status == "queued"
    assert exp.project_name == DEFAULT_PROJECT
    assert exp.config == {k: v for k, v in config.items() if k != "name"}
    assert exp.summary == {}
    assert exp.started_at is None
    assert exp.completed_at is None
    assert exp.created_at == pytest.approx(time.time(), abs=60)


def test_experiment_name_is_unique_only_within_its_project(tm: TrainingManager) -> None:
    p, q = tm.projects.create("P"), tm.projects.create("Q")
    tm.start_training({"name": "run", "project_id": p})
    with pytest.raises(DuplicateNameError, match="run"):
        tm.start_training({"name": "run", "project_id": p})
    with pytest.raises(DuplicateNameError):
        tm.start_training({"name": "  run ", "project_id": p})
    tm.start_training({"name": "run", "project_id": q})
    assert len(tm.list_experiments()) == 2


@pytest.mark.parametrize("config", [{}, {"name": ""}, {"name": "  "}, {"name": None}])
def test_experiment_without_a_name_raises(tm: TrainingManager, config: dict) -> None:
    with pytest.raises(ValidationError, match="empty"):
        tm.start_training(config)
    assert tm.list_experiments() == []


def test_experiment_config_that_is_not_json_raises(tm: TrainingManager) -> None:
    with pytest.raises(ValidationError):
        tm.start_training({"name": "x", "callback": object()})
    with pytest.raises(ValidationError):
        tm.start_training("name=x")  # type: ignore[arg-type]
    assert tm.list_experiments() == []


def test_unknown_experiment_raises_not_found(tm: TrainingManager) -> None:
    for call in (
        lambda: tm.get_experiment(5),
        lambda: tm.update_experiment_status(5, "running"),
        lambda: tm.update_training_metrics(5, {"step": 1, "loss": 1.0}),
        lambda: tm.stop_training(5),
        lambda: tm.experiments.delete(5),
    ):
        with pytest.raises(NotFoundError):
            call()


@pytest.fixture
def catalogue(tm: TrainingManager, tmp_path: Path) -> dict[str, int]:
    p = tm.projects.create("Drums")
    q = tm.projects.create("Voice")
    ds = tm.datasets.register(p, make_dataset(tmp_path / "kicks"))
    ids = {
        "a": tm.start_training(
            {"name": "kick_v2", "project_id": p, "dataset_id": ds, "config": "V2_Small"}
        ),
        "b": tm.start_training({"name": "kickxv2", "project_id": p, "config": "v1"}),
        "c": tm.start_training({"name": "100% wet", "project_id": q, "config": "v2"}),
        "d": tm.start_training({"name": "choir", "project_id": q, "note": "Snare ROLLS"}),
    }
    tm.update_experiment_status(ids["a"], "running")
    tm.update_experiment_status(ids["b"], "running")
    tm.update_experiment_status(ids["b"], "completed")
    tm.update_experiment_status(ids["c"], "failed", error="CUDA out of memory")
    return {**ids, "p": p, "q": q, "ds": ds}


def _names(exps: list[Experiment]) -> set[str]:
    return {e.name for e in exps}


def test_list_experiments_filters(tm: TrainingManager, catalogue: dict[str, int]) -> None:
    c = catalogue
    assert _names(tm.list_experiments()) == {"kick_v2", "kickxv2", "100% wet", "choir"}
    assert _names(tm.list_experiments(c["p"])) == {"kick_v2", "kickxv2"}
    assert _names(tm.list_experiments(project_id=c["q"])) == {"100% wet", "choir"}
    assert _names(tm.list_experiments(status="running")) == {"kick_v2"}
    assert _names(tm.list_experiments(status=["completed", "failed"])) == {"kickxv2", "100% wet"}
    assert _names(tm.list_experiments(status=("queued",))) == {"choir"}
    assert _names(tm.list_experiments(dataset_id=c["ds"])) == {"kick_v2"}
    assert _names(tm.list_experiments(c["q"], status="failed")) == {"100% wet"}
    assert tm.list_experiments(c["p"], status="queued") == []
    newest_first = [e.id for e in tm.list_experiments()]
    assert newest_first == sorted(newest_first, reverse=True)


def test_list_experiments_with_unknown_status_raises(tm: TrainingManager) -> None:
    with pytest.raises(ValidationError, match="Unknown status 'done'"):
        tm.list_experiments(status=["running", "done"])


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("KICK", {"kick_v2", "kickxv2"}),  # name, any case
        ("v2_small", {"kick_v2"}),  # config content, any case; "_" is not a wildcard
        ("kick_", {"kick_v2"}),
        ("100%", {"100% wet"}),  # "%" is not a wildcard
        ("0% w", {"100% wet"}),
        ("%", {"100% wet"}),
        ("snare rolls", {"choir"}),  # any config value
        ("cuda", {"100% wet"}),  # the error text
        ("nothing like this", set()),
        ("  ", {"kick_v2", "kickxv2", "100% wet", "choir"}),  # blank: no filter
    ],
)
def test_list_experiments_search(
    tm: TrainingManager, catalogue: dict[str, int], search: str, expected: set[str]
) -> None:
    assert _names(tm.list_experiments(search=search)) == expected


def test_list_experiments_search_combines_with_filters(
    tm: TrainingManager, catalogue: dict[str, int]
) -> None:
    assert _names(tm.list_experiments(catalogue["p"], search="v2")) == {"kick_v2", "kickxv2"}
    assert _names(tm.list_experiments(search="v2", status="failed")) == {"100% wet"}


# --- status transitions -----------------------------------------------------------------------

# A legal path from queued to each status.
_PATHS = {
    "queued": [],
    "running": ["running"],
    "paused": ["running", "paused"],
    "stopping": ["running", "stopping"],
    "completed": ["running", "completed"],
    "stopped": ["running", "stopped"],
    "failed": ["running", "failed"],
}


def _walk_to(tm: TrainingManager, exp: int, status: str) -> None:
    for s in _PATHS[status]:
        tm.update_experiment_status(exp, s)
    assert tm.get_experiment(exp).status == status


def test_transition_table_covers_every_status() -> None:
    assert set(run_status.TRANSITIONS) == set(run_status.STATUSES) == set(_PATHS)
    for targets in run_status.TRANSITIONS.values():
        assert set(targets) <= set(run_status.STATUSES)
    for final in run_status.FINAL:
        assert run_status.TRANSITIONS[final] == ()


@pytest.mark.parametrize(
    ("current", "target"),
    [(a, b) for a, b in itertools.product(run_status.STATUSES, repeat=2) if a != b],
)
def test_status_transition_is_applied_only_when_legal(
    tm: TrainingManager, current: str, target: str
) -> None:
    exp = tm.start_training({"name": "run"})
    _walk_to(tm, exp, current)
    before = tm.get_experiment(exp)
    if target in run_status.TRANSITIONS[current]:
        tm.update_experiment_status(exp, target)
        after = tm.get_experiment(exp)
        assert after.status == target
        if target == "running" and before.started_at is None:
            assert after.started_at == pytest.approx(time.time(), abs=60)
        else:
            assert after.started_at == before.started_at
        if target in run_status.FINAL:
            assert after.completed_at == pytest.approx(time.time(), abs=60)
        else:
            assert after.completed_at is None
    else:
        with pytest.raises(InvalidTransitionError, match=f"{current}.*{target}"):
            tm.update_experiment_status(exp, target)
        assert tm.get_experiment(exp) == before


def test_resuming_a_paused_run_keeps_its_start_time(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_experiment_status(exp, "running")
    started = tm.get_experiment(exp).started_at
    tm.update_experiment_status(exp, "paused")
    tm.update_experiment_status(exp, "running")
    assert tm.get_experiment(exp).started_at == started


def test_failed_status_records_error_and_exit_code(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_experiment_status(exp, "running")
    tm.update_experiment_status(exp, "failed", error="Traceback: ValueError", exit_code=1)
    e = tm.get_experiment(exp)
    assert (e.status, e.error, e.exit_code) == ("failed", "Traceback: ValueError", 1)


def test_unknown_status_raises_validation_error(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    with pytest.raises(ValidationError, match="Unknown status"):
        tm.update_experiment_status(exp, "done")


# --- metrics through the manager --------------------------------------------------------------


def test_update_training_metrics_stores_a_step(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    assert tm.update_training_metrics(exp, {"step": 10, "loss": 0.5, "validation": 0.7}) == 2
    assert tm.update_training_metrics(exp, {"step": 20, "loss": 0.25, "validation": 0.9}) == 2
    assert tm.update_training_metrics(exp, {"loss": 0.125}) == 1  # at the current step (20)
    pts = [(n, s, v) for n, s, v, _w in tm.metrics.iter_points(exp)]
    assert pts == [
        ("loss", 10, 0.5),
        ("loss", 20, 0.125),
        ("validation", 10, 0.7),
        ("validation", 20, 0.9),
    ]
    summary = tm.get_experiment(exp).summary
    assert summary["step"] == 20
    assert summary["metrics"]["validation"]["last"] == 0.9
    assert summary["metrics"]["validation"]["min"] == 0.7
    assert mgr.best_value(summary) == 0.7
    assert tm.metrics.names(exp) == ["loss", "validation"]


def test_update_training_metrics_rejects_non_numbers(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    with pytest.raises(ValidationError, match="not a number"):
        tm.update_training_metrics(exp, {"step": 1, "loss": 0.5, "phase": "warmup"})
    with pytest.raises(ValidationError, match="not an integer"):
        tm.update_training_metrics(exp, {"step": "ten", "loss": 0.5})
    with pytest.raises(ValidationError):
        tm.update_training_metrics(exp, [("loss", 0.5)])  # type: ignore[arg-type]
    assert list(tm.metrics.iter_points(exp)) == []


def test_update_training_metrics_keeps_nan_and_inf(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_training_metrics(exp, {"step": 1, "a": "nan", "b": math.inf, "c": -math.inf})
    values = {n: v for n, _s, v, _w in tm.metrics.iter_points(exp)}
    assert math.isnan(values["a"])
    assert values["b"] == math.inf
    assert values["c"] == -math.inf


def test_summary_forgets_a_rewritten_extreme(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_training_metrics(exp, {"step": 1, "loss": 1.0})
    tm.update_training_metrics(exp, {"step": 2, "loss": 50.0})
    tm.update_training_metrics(exp, {"step": 2, "loss": 2.0})  # the same step logged again
    assert tm.metrics.stats(exp)[0].max_value == 2.0
    assert tm.get_experiment(exp).summary["metrics"]["loss"]["max"] == 2.0


# --- processes --------------------------------------------------------------------------------


def test_register_process_records_pid_and_start_time(tm: TrainingManager) -> None:
    import psutil

    exp = tm.start_training({"name": "run"})
    tm.register_process(exp, os.getpid())
    e = tm.get_experiment(exp)
    assert e.pid == os.getpid()
    assert e.process_start_time == pytest.approx(psutil.Process().create_time(), abs=1)


def test_register_process_accepts_a_popen(tm: TrainingManager, child: subprocess.Popen) -> None:
    exp = tm.start_training({"name": "run"})
    tm.register_process(exp, child)
    assert tm.get_experiment(exp).pid == child.pid


def test_register_process_of_a_dead_pid_raises(tm: TrainingManager) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    exp = tm.start_training({"name": "run"})
    with pytest.raises(NotFoundError, match=str(proc.pid)):
        tm.register_process(exp, proc.pid)
    assert tm.get_experiment(exp).pid is None


def test_stop_training_cancels_a_queued_run(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    assert tm.stop_training(exp) == "stopped"
    e = tm.get_experiment(exp)
    assert e.status == "stopped"
    assert e.completed_at is not None


def test_stop_training_sends_sigint_to_a_live_run(
    tm: TrainingManager, child: subprocess.Popen
) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_experiment_status(exp, "running")
    tm.register_process(exp, child)
    assert tm.stop_training(exp) == "stopping"
    assert tm.get_experiment(exp).status == "stopping"
    # Python turns SIGINT into KeyboardInterrupt and, unhandled, dies of SIGINT.
    assert child.wait(timeout=10) == -signal.SIGINT


def test_stop_training_resumes_and_stops_a_paused_run(
    tm: TrainingManager, child: subprocess.Popen
) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_experiment_status(exp, "running")
    tm.register_process(exp, child)
    os.killpg(child.pid, signal.SIGSTOP)
    tm.update_experiment_status(exp, "paused")
    assert tm.stop_training(exp) == "stopping"
    assert child.wait(timeout=10) == -signal.SIGINT


def test_stop_training_of_a_run_whose_process_is_gone_records_what_happened(
    tm: TrainingManager, child: subprocess.Popen
) -> None:
    # Killed before anyone asked it to stop, leaving no exit code and no end marker: the
    # stop request does not turn that into "stopped".
    exp = tm.start_training({"name": "run"})
    tm.update_experiment_status(exp, "running")
    tm.register_process(exp, child)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert tm.stop_training(exp) == "failed"
    e = tm.get_experiment(exp)
    assert e.status == "failed"
    assert "without reporting an exit code" in e.error


def test_stop_training_does_not_signal_a_reused_pid(tm: TrainingManager) -> None:
    # The recorded pid is alive but started at another time: it is not our process.
    exp = tm.start_training({"name": "run"})
    tm.update_experiment_status(exp, "running")
    tm.experiments.update(exp, pid=os.getpid(), process_start_time=time.time() - 86400)
    assert tm.stop_training(exp) == "failed"  # its process is gone; this one still lives


def test_stop_training_of_a_finished_run_raises(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_experiment_status(exp, "failed")
    with pytest.raises(InvalidTransitionError, match="already failed"):
        tm.stop_training(exp)


def test_stop_training_reaches_a_process_that_leads_no_group(tm: TrainingManager) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        exp = tm.start_training({"name": "run"})
        tm.update_experiment_status(exp, "running")
        tm.register_process(exp, proc)
        tm.stop_training(exp)
        assert proc.wait(timeout=1.5) == -signal.SIGINT
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_delete_experiment_refuses_a_live_run(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_experiment_status(exp, "running")
    with pytest.raises(InUseError, match="stop it first"):
        tm.experiments.delete(exp)
    tm.update_experiment_status(exp, "completed")
    tm.experiments.delete(exp)
    assert tm.list_experiments() == []


def test_update_experiment_refuses_unknown_fields(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    with pytest.raises(ValidationError, match="status"):
        tm.experiments.update(exp, status="completed")
    tm.experiments.update(exp, command=["rave", "train", "--name", "run"], run_dir="/runs/x")
    e = tm.get_experiment(exp)
    assert e.command == ["rave", "train", "--name", "run"]
    assert e.run_dir == "/runs/x"


# --- checkpoints and alerts -------------------------------------------------------------------


def test_sync_checkpoints_adds_updates_and_forgets(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    first = [
        {"path": "/r/v0/checkpoints/epoch-0001.ckpt", "step": 100, "size": 10, "mtime": 1.0},
        {"path": "/r/v0/checkpoints/best.ckpt", "step": 100, "size": 10, "is_best": True},
    ]
    assert tm.artifacts.sync_checkpoints(exp, first) == 2
    assert tm.artifacts.sync_checkpoints(exp, first) == 0  # nothing new
    second = [
        {"path": "/r/v0/checkpoints/best.ckpt", "step": 200, "size": 12, "is_best": True},
        {"path": "/r/v0/checkpoints/epoch-0002.ckpt", "step": 200, "size": 11, "mtime": 2.0},
    ]
    assert tm.artifacts.sync_checkpoints(exp, second) == 1
    rows = {c.path: c for c in tm.artifacts.checkpoints(exp)}
    assert set(rows) == {"/r/v0/checkpoints/best.ckpt", "/r/v0/checkpoints/epoch-0002.ckpt"}
    assert rows["/r/v0/checkpoints/best.ckpt"].step == 200
    assert rows["/r/v0/checkpoints/best.ckpt"].size == 12
    assert rows["/r/v0/checkpoints/best.ckpt"].is_best == 1
    assert rows["/r/v0/checkpoints/epoch-0002.ckpt"].is_best == 0
    assert tm.artifacts.sync_checkpoints(exp, []) == 0
    assert tm.artifacts.checkpoints(exp) == []


def test_alerts_are_stored_in_order(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    a = tm.alerts.add(exp, "nan", "error", "loss became NaN at step 120", 120)
    b = tm.alerts.add(exp, "plateau", "info", "validation flat for 5000 steps")
    alerts = tm.alerts.for_run(exp)
    assert [x.id for x in alerts] == [a, b]
    assert (alerts[0].kind, alerts[0].severity, alerts[0].step) == ("nan", "error", 120)
    assert alerts[1].step is None
    assert alerts[0].acknowledged == 0
    with pytest.raises(ValidationError, match="severity"):
        tm.alerts.add(exp, "x", "fatal", "?")
    with pytest.raises(NotFoundError):
        tm.alerts.add(999, "x", "info", "?")


def test_latest_open_alerts_are_the_newest_undismissed_warnings_per_run(
    tm: TrainingManager,
) -> None:
    a, b, c = (tm.start_training({"name": f"run {i}"}) for i in range(3))
    tm.alerts.add(a, "plateau", "warning", "flat", 100)
    newest = tm.alerts.add(a, "nan", "error", "NaN", 200)
    tm.alerts.add(a, "phase_change", "info", "phase 2", 300)  # info: not marked
    dismissed = tm.alerts.add(b, "divergence", "warning", "jump", 50)
    tm.alerts.acknowledge(dismissed)
    tm.alerts.add(c, "stalled", "warning", "no step", 10)
    latest = tm.alerts.latest_open([a, b])
    assert list(latest) == [a]  # b's only alert was dismissed; c was not asked for
    assert (latest[a].id, latest[a].kind, latest[a].step) == (newest, "nan", 200)
    tm.alerts.acknowledge(newest)
    assert tm.alerts.latest_open([a, b, c])[a].kind == "plateau"  # the one before shows again
    assert tm.alerts.latest_open([c])[c].kind == "stalled"
    assert tm.alerts.latest_open([]) == {}


def test_follow_offsets_round_trip(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.follow_state.set_offsets(exp, {"/r/stdout.log": 100, "/r/events": 7})
    tm.follow_state.set_offsets(exp, {"/r/stdout.log": 250})
    assert tm.follow_state.offsets(exp) == {"/r/stdout.log": 250, "/r/events": 7}
