"""The SQLite store: connection settings, migrations, bad files, transactions."""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from rave_gui.backend.errors import DatabaseError, DiskFullError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.store import db

NOBODY = 65534


@pytest.fixture
def tm(tmp_path: Path) -> Iterator[TrainingManager]:
    manager = TrainingManager(tmp_path / "store.sqlite3")
    yield manager
    manager.close()


# --- connection settings ----------------------------------------------------------------------


def test_connection_uses_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "a.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_MS
        assert db.BUSY_TIMEOUT_MS >= 1000
    finally:
        conn.close()


def test_new_database_is_at_the_latest_schema_version(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "a.sqlite3")
    try:
        assert db.schema_version(conn) == db.SCHEMA_VERSION == len(db.MIGRATIONS)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {
            "projects",
            "datasets",
            "experiments",
            "metric_points",
            "checkpoints",
            "alerts",
        } <= tables
    finally:
        conn.close()


def test_every_thread_gets_a_connection_with_the_same_settings(tmp_path: Path) -> None:
    database = db.Database(tmp_path / "a.sqlite3")
    seen: list[tuple] = []

    def probe() -> None:
        conn = database.conn
        seen.append(
            (
                id(conn),
                conn.execute("PRAGMA foreign_keys").fetchone()[0],
                conn.execute("PRAGMA busy_timeout").fetchone()[0],
            )
        )

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    probe()
    database.close()
    assert seen[0][0] != seen[1][0]
    assert seen[0][1:] == seen[1][1:] == (1, db.BUSY_TIMEOUT_MS)


def test_a_writer_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    tm = TrainingManager(path)
    holder = db.connect(path)
    holder.execute("BEGIN IMMEDIATE")  # holds the write lock

    def release() -> None:
        time.sleep(0.3)
        holder.execute("COMMIT")

    t = threading.Thread(target=release)
    t.start()
    try:
        began = time.monotonic()
        tm.projects.create("waited")  # blocks on the lock, then succeeds
        assert time.monotonic() - began >= 0.25
        assert [p.name for p in tm.projects.all()] == ["waited"]
    finally:
        t.join()
        holder.close()
        tm.close()


def test_foreign_keys_cascade_experiment_rows(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_training_metrics(exp, {"step": 1, "loss": 0.5})
    tm.alerts.add(exp, "nan", "error", "loss is NaN", 1)
    tm.artifacts.sync_checkpoints(
        exp, [{"path": "/x/best.ckpt", "step": 1, "size": 3, "is_best": True}]
    )
    tm.experiments.delete(exp)
    conn = tm.db.conn
    for table in ("metric_points", "alerts", "checkpoints"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


# --- migrations -------------------------------------------------------------------------------


def _old_database(path: Path, old: int = 1) -> dict:
    """A database at schema ``old`` (v1: before metric tiles) holding a project, a dataset, an
    experiment and metric points (NaN and inf among them), written with plain SQL as that
    version would."""
    conn = db.connect(path, migrate=False)
    db.migrate_to(conn, old)
    assert db.schema_version(conn) == old
    now = time.time()
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO projects (id, name, description, created_at) VALUES (1, 'Old', 'd', ?)",
        (now,),
    )
    conn.execute(
        "INSERT INTO datasets (id, project_id, name, path, sample_rate, channels, duration_s, "
        "n_examples, lazy, created_at) VALUES (1, 1, 'drums', '/data/drums', 44100, 1, 208.0, "
        "36, 0, ?)",
        (now,),
    )
    conn.execute(
        "INSERT INTO experiments (id, project_id, name, dataset_id, config, status, started_at, "
        "completed_at, metrics, pid, created_at) VALUES (1, 1, 'first', 1, ?, 'completed', ?, "
        "?, ?, 4242, ?)",
        ('{"config": "v2_small", "max_steps": 5000}', now - 60, now, '{"step": 4999}', now),
    )
    steps = np.arange(5000)
    values = np.cos(steps / 300.0)
    values[1234] = 1e9  # spike
    values[2000] = -math.inf
    values[3000] = math.inf
    values[4000] = math.nan
    conn.executemany(
        "INSERT INTO metric_points (experiment_id, name, step, value, wall_time) "
        "VALUES (1, 'loss', ?, ?, ?)",
        [
            (int(s), None if math.isnan(v) else float(v), now + int(s))
            for s, v in zip(steps, values, strict=True)
        ],
    )
    conn.execute("COMMIT")
    conn.close()
    return {"steps": steps, "values": values}


def test_database_one_version_old_is_migrated_with_rows_intact(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = _old_database(path)
    tm = TrainingManager(path)
    try:
        assert db.schema_version(tm.db.conn) == db.SCHEMA_VERSION
        assert tm.projects.get(1).name == "Old"
        ds = tm.datasets.get(1)
        assert (ds.name, ds.path, ds.sample_rate, ds.n_examples) == (
            "drums",
            "/data/drums",
            44100,
            36,
        )
        exp = tm.get_experiment(1)
        assert exp.name == "first"
        assert exp.status == "completed"
        assert exp.dataset_name == "drums"
        assert exp.config == {"config": "v2_small", "max_steps": 5000}
        assert exp.pid == 4242
        points = list(tm.metrics.iter_points(1, "loss"))
        assert [p[1] for p in points] == old["steps"].tolist()
        got = np.array([p[2] for p in points])
        np.testing.assert_array_equal(got, old["values"])  # NaN and +-inf come back as such
        # The old points are tiled by the migration, before any read asks for it.
        n_tiles = tm.db.conn.execute(
            "SELECT count(*) FROM metric_tiles WHERE experiment_id = 1"
        ).fetchone()[0]
        assert n_tiles > 0
        # ... and read back reduced like new ones: spike, infinities and NaN all kept.
        buckets = tm.metrics.reduced(1, "loss", buckets=10)
        assert 1 <= len(buckets) <= 10
        assert max(b.max_value for b in buckets) == math.inf
        assert min(b.min_value for b in buckets) == -math.inf
        assert [b.nan_step for b in buckets if b.nan_step is not None] == [4000]
        finite = np.where(np.isfinite(old["values"]), old["values"], np.nan)
        zoom = tm.metrics.reduced(1, "loss", 1000, 1999, buckets=4)
        assert max(b.max_value for b in zoom) == np.nanmax(finite[1000:2000]) == 1e9
        assert any(b.max_step == 1234 for b in zoom)
        # New rows can be added next to the migrated ones.
        new = tm.start_training({"name": "second", "project_id": 1, "dataset_id": 1})
        assert {e.id for e in tm.list_experiments(1)} == {1, new}
    finally:
        tm.close()


def test_migration_runs_once_when_many_connections_open_an_old_database(tmp_path: Path) -> None:
    # The app's threads, or the app and the CLI, may open an old database at the same moment.
    path = tmp_path / "old.sqlite3"
    _old_database(path)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            db.connect(path).close()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = db.connect(path)
    assert db.schema_version(conn) == db.SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM metric_points").fetchone()[0] == 5000
    conn.close()


def test_a_failed_migration_leaves_the_database_at_its_old_version(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _old_database(path)
    conn = db.connect(path, migrate=False)
    # Make the next migration fail half-way: a table it creates already exists.
    conn.execute("CREATE TABLE metric_tiles (x)")
    conn.close()
    with pytest.raises(DatabaseError, match="already exists"):
        db.connect(path)
    conn = db.connect(path, migrate=False)
    assert db.schema_version(conn) == 1
    columns = {r[1] for r in conn.execute("PRAGMA table_info(experiments)")}
    assert "parent_id" not in columns  # the migration's other statements were rolled back
    assert conn.execute("SELECT count(*) FROM metric_points").fetchone()[0] == 5000
    conn.close()


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    conn = db.connect(path)
    conn.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(DatabaseError, match="newer"):
        TrainingManager(path)
    conn = db.connect(path, migrate=False)
    assert db.schema_version(conn) == db.SCHEMA_VERSION + 1  # left as it was
    conn.close()


# --- files that cannot be used ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"name,step,value\nloss,1,0.5\n", b"\x00\xff" * 3000, b"SQLite format 2\x00" + b"x" * 200],
    ids=["csv-text", "binary", "almost-sqlite-header"],
)
def test_file_that_is_not_sqlite_is_refused_and_left_untouched(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(content)
    with pytest.raises(DatabaseError, match="not an SQLite file") as info:
        TrainingManager(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content


def test_directory_given_as_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="folder"):
        TrainingManager(tmp_path)


def test_database_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseError, match="folder"):
        TrainingManager(blocker / "store.sqlite3")


def _shared_tmp_dir() -> Path:
    """A folder another user can enter (pytest's tmp_path is private to its owner)."""
    d = Path(tempfile.mkdtemp(prefix="rave-gui-ro-"))
    d.chmod(0o755)
    return d


def _as_other_user(fn: Callable[[], str]) -> str:
    """Run ``fn`` in a forked child that has dropped root for the user nobody; its result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        except OSError as err:
            os.write(w, f"SKIP cannot drop root: {err}".encode())
            os._exit(0)
        try:
            result = fn()
        except BaseException as err:
            result = f"{type(err).__name__}: {err}"
        os.write(w, result.encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    if out.startswith("SKIP"):
        pytest.skip(out)
    return out


def _open_and_write(path: Path) -> str:
    tm = TrainingManager(path)
    tm.projects.create("x")
    return "opened and wrote"


def test_read_only_database_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        path = tmp_path / "ro.sqlite3"
        TrainingManager(path).close()
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        try:
            with pytest.raises(DatabaseError, match="read-only"):
                TrainingManager(path)
        finally:
            path.chmod(0o644)
        return
    # As root chmod does not stop writes: try as the user nobody instead.
    d = _shared_tmp_dir()
    try:
        path = d / "ro.sqlite3"
        TrainingManager(path).close()
        path.chmod(0o444)
        out = _as_other_user(lambda: _open_and_write(path))
        assert out.startswith("DatabaseError:"), out
        assert "read-only" in out
    finally:
        shutil.rmtree(d)


def test_database_in_a_read_only_folder_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o555)
        try:
            with pytest.raises(DatabaseError, match="not writable"):
                TrainingManager(d / "new.sqlite3")
        finally:
            d.chmod(0o755)
        return
    d = _shared_tmp_dir()
    try:
        d.chmod(0o555)
        out = _as_other_user(lambda: _open_and_write(d / "new.sqlite3"))
        assert out.startswith("DatabaseError:"), out
        assert "not writable" in out
    finally:
        d.chmod(0o755)
        shutil.rmtree(d)


# --- transactions -----------------------------------------------------------------------------


def test_failed_multi_series_write_stores_nothing(tm: TrainingManager) -> None:
    exp = tm.start_training({"name": "run"})
    tm.update_training_metrics(exp, {"step": 1, "loss": 1.0})
    before = tm.get_experiment(exp).summary
    with pytest.raises(ValidationError, match="differ in length"):
        tm.metrics.add_series(
            exp,
            {
                "good": (np.arange(100), np.ones(100), None),
                "bad": (np.arange(3), np.ones(2), None),
            },
        )
    assert [p[0] for p in tm.metrics.iter_points(exp)] == ["loss"]
    assert tm.metrics.names(exp) == ["loss"]
    assert tm.get_experiment(exp).summary == before
    assert tm.metrics.reduced(exp, "good") == []


def test_transaction_rolls_back_every_statement_on_error(tm: TrainingManager) -> None:
    with pytest.raises(RuntimeError), tm.db.transaction() as conn:
        conn.execute("INSERT INTO projects (name, description, created_at) VALUES ('a', '', 0)")
        conn.execute("INSERT INTO projects (name, description, created_at) VALUES ('b', '', 0)")
        raise RuntimeError("boom")
    assert tm.projects.all() == []
    assert not tm.db.conn.in_transaction


def test_nested_transaction_joins_the_outer_one(tm: TrainingManager) -> None:
    with pytest.raises(RuntimeError), tm.db.transaction():
        tm.projects.create("inner")  # opens its own transaction: joins the outer one
        raise RuntimeError("boom")
    assert tm.projects.all() == []


def test_full_disk_is_a_disk_full_error_and_the_database_stays_usable(tm: TrainingManager) -> None:
    """SQLite rolls a transaction back by itself when the disk is full: the error must say
    "disk full" (not "cannot rollback - no transaction is active"), and once there is room
    again the same connection writes normally."""
    exp = tm.start_training({"name": "run"})
    conn = tm.db.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the real SQLITE_FULL, deterministically
    series = {"loss": (np.arange(20_000), np.ones(20_000), None)}
    with pytest.raises(DiskFullError, match="is full: free space"):
        tm.metrics.add_series(exp, series)
    assert not conn.in_transaction
    with pytest.raises(DiskFullError):  # a single statement outside a transaction too
        tm.db.execute("INSERT INTO projects (name, created_at) VALUES (zeroblob(100000), 0)")
    assert tm.metrics.names(exp) == []
    conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    assert tm.metrics.add_series(exp, series) == 20_000
    assert tm.metrics.names(exp) == ["loss"]


def test_writes_are_visible_to_another_connection_once_committed(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    a, b = TrainingManager(path), TrainingManager(path)
    try:
        exp = a.start_training({"name": "shared"})
        a.update_training_metrics(exp, {"step": 3, "loss": 0.25})
        assert b.get_experiment(exp).name == "shared"
        assert list(b.metrics.iter_points(exp)) == [
            ("loss", 3, 0.25, pytest.approx(time.time(), abs=60))
        ]
    finally:
        a.close()
        b.close()


def test_sqlite_error_outside_connect_is_a_database_error(tm: TrainingManager) -> None:
    with pytest.raises(DatabaseError):
        tm.db.execute("SELECT * FROM no_such_table")
    with pytest.raises(sqlite3.Error):  # the raw connection stays a plain sqlite3 connection
        tm.db.conn.execute("SELECT * FROM no_such_table")


def test_v2_database_gains_the_exported_models_table_with_rows_intact(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    _old_database(path, old=2)
    tm = TrainingManager(path)
    try:
        assert db.schema_version(tm.db.conn) == db.SCHEMA_VERSION >= 3
        assert tm.get_experiment(1).name == "first"
        assert tm.artifacts.exported_models(1) == []
        model = tm.artifacts.add_exported_model(
            1, "/models/first.ts", size=42, streaming=True, checkpoint="/runs/best.ckpt",
            settings={"name": "first"},
        )  # fmt: skip
        (row,) = tm.artifacts.exported_models(1)
        assert (row.id, row.streaming, row.settings) == (model, True, {"name": "first"})
        tm.experiments.delete(1)
        assert tm.artifacts.exported_models() == []  # cascaded with its experiment
    finally:
        tm.close()


def _dump(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def test_v4_database_migrates_intact_and_never_reuses_a_deleted_experiment_id(
    tmp_path: Path,
) -> None:
    """v5 rebuilds the experiments table (AUTOINCREMENT): every row of every table, the
    status index, the foreign keys of the tables that point at it and the trigger that
    deletes an experiment's points survive; an id, once deleted, is never given again."""
    path = tmp_path / "v4.sqlite3"
    _old_database(path, old=4)
    conn = db.connect(path, migrate=False)
    now = time.time()
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO experiments (id, project_id, name, dataset_id, config, status, metrics, "
        "command, run_dir, log_path, pid, process_start_time, exit_code, error, created_at, "
        "parent_id, updated_at) VALUES (2, 1, 'second', NULL, '{}', 'failed', '{}', '[\"rave\"]', "
        "'/runs/2-second', '/runs/2-second/train.log', 77, 12.5, 1, 'boom', ?, 1, ?)",
        (now, now),
    )
    conn.execute(
        "INSERT INTO checkpoints (experiment_id, path, step, size, is_best, mtime) "
        "VALUES (2, '/runs/2-second/best.ckpt', 10, 3, 1, ?)",
        (now,),
    )
    conn.execute(
        "INSERT INTO alerts (experiment_id, kind, severity, message, step, created_at) "
        "VALUES (2, 'nan', 'error', 'loss is NaN', 10, ?)",
        (now,),
    )
    conn.execute("INSERT INTO follow_offsets VALUES (2, 'log', 1234)")
    conn.execute(
        "INSERT INTO exported_models (experiment_id, path, created_at) VALUES (2, '/m.ts', ?)",
        (now,),
    )
    conn.execute(
        "INSERT INTO metric_points (experiment_id, name, step, value, wall_time) "
        "VALUES (2, 'loss', 1, 0.5, ?)",
        (now,),
    )
    conn.execute("COMMIT")
    before = _dump(conn)
    conn.close()

    tm = TrainingManager(path)
    try:
        conn = tm.db.conn
        assert db.schema_version(conn) == db.SCHEMA_VERSION >= 5
        after = _dump(conn)
        after.pop("sqlite_sequence", None)
        after["alerts"] = [r[:-1] for r in after["alerts"]]  # v6 appended the advice column
        # v7 appended the history's columns (notes ... config_name) and the run_tags table
        after["experiments"] = [r[:-7] for r in after["experiments"]]
        assert after.pop("run_tags") == []
        for added in set(after) - set(before):  # tables of later versions: new and empty
            assert after.pop(added) == [], added
        assert after == before  # every row of every table, ids included
        sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'experiments'"
        ).fetchone()[0]
        assert "AUTOINCREMENT" in sql
        objects = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"experiments_status", "experiments_delete_metrics"} <= objects
        assert "experiments_v5" not in objects
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert tm.get_experiment(2).parent_id == 1

        tm.experiments.delete(2)  # the highest id: before v5 the next experiment got it again
        for table in ("checkpoints", "alerts", "follow_offsets", "exported_models"):
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE experiment_id = 2").fetchone()[0]
            assert n == 0, table  # the foreign keys cascade to the rebuilt table
        for table in ("metric_points", "metric_tiles"):  # the trigger came along
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE experiment_id = 2").fetchone()[0]
            assert n == 0, table
        assert len(list(tm.metrics.iter_points(1))) == 5000
        new = tm.start_training({"name": "second", "project_id": 1})
        assert new == 3
        tm.experiments.delete(new)
        assert tm.start_training({"name": "third", "project_id": 1}) == 4
    finally:
        tm.close()

    tm = TrainingManager(path)  # and so across sessions
    try:
        assert tm.start_training({"name": "fourth", "project_id": 1}) == 5
    finally:
        tm.close()


def test_v5_database_migrates_its_alerts_with_an_empty_advice(tmp_path: Path) -> None:
    """v6 adds the advice column to alerts: old alerts keep every field and get no advice;
    new alerts store theirs."""
    path = tmp_path / "v5.sqlite3"
    _old_database(path, old=5)
    conn = db.connect(path, migrate=False)
    conn.execute(
        "INSERT INTO alerts (experiment_id, kind, severity, message, step, created_at) "
        "VALUES (1, 'data_lost', 'warning', 'event file cut short', 40, 123.0)"
    )
    conn.close()
    tm = TrainingManager(path)
    try:
        assert db.schema_version(tm.db.conn) == db.SCHEMA_VERSION >= 6
        [old] = tm.alerts.for_run(1)
        assert (old.kind, old.severity, old.message, old.step, old.created_at) == (
            "data_lost",
            "warning",
            "event file cut short",
            40,
            123.0,
        )
        assert old.advice == ""
        tm.alerts.add(1, "nan", "error", "validation is NaN", 50, advice="resume earlier")
        assert [a.advice for a in tm.alerts.for_run(1)] == ["", "resume earlier"]
    finally:
        tm.close()
