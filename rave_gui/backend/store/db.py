"""The SQLite experiment database: connection settings, schema and forward migrations."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DatabaseError, DiskFullError, ValidationError

BUSY_TIMEOUT_MS = 10_000
SQLITE_MAX_INT = 2**63 - 1  # SQLite's integers (ids among them) are signed 64-bit

# Each entry migrates the schema from version i to i + 1 (PRAGMA user_version).
# Never edit a released entry: add a new one.
_V1 = """
CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL
);
CREATE TABLE datasets (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,
    sample_rate INTEGER,
    channels    INTEGER,
    duration_s  REAL,
    n_examples  INTEGER,
    lazy        INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    UNIQUE (project_id, name),
    UNIQUE (project_id, path)
);
CREATE TABLE experiments (
    id                 INTEGER PRIMARY KEY,
    project_id         INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    dataset_id         INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    config             TEXT NOT NULL DEFAULT '{}',
    status             TEXT NOT NULL,
    started_at         REAL,
    completed_at       REAL,
    metrics            TEXT NOT NULL DEFAULT '{}',
    command            TEXT,
    run_dir            TEXT,
    log_path           TEXT,
    pid                INTEGER,
    process_start_time REAL,
    exit_code          INTEGER,
    error              TEXT,
    created_at         REAL NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX experiments_status ON experiments(status);
CREATE TABLE metric_points (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    step          INTEGER NOT NULL,
    value         REAL,
    wall_time     REAL,
    PRIMARY KEY (experiment_id, name, step)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    step          INTEGER,
    size          INTEGER,
    is_best       INTEGER NOT NULL DEFAULT 0,
    mtime         REAL,
    UNIQUE (experiment_id, path)
);
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    message       TEXT NOT NULL,
    step          INTEGER,
    created_at    REAL NOT NULL,
    acknowledged  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alerts_experiment ON alerts(experiment_id);
"""

# v2: min/max tiles for fast reduced reads, follow offsets for re-attaching, resume links.
_V2 = """
CREATE TABLE metric_tiles (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    level         INTEGER NOT NULL,
    tile          INTEGER NOT NULL,
    first_step    INTEGER NOT NULL,
    first_value   REAL,
    last_step     INTEGER NOT NULL,
    last_value    REAL,
    min_step      INTEGER,
    min_value     REAL,
    max_step      INTEGER,
    max_value     REAL,
    nan_step      INTEGER,
    PRIMARY KEY (experiment_id, name, level, tile)
) WITHOUT ROWID;
CREATE TABLE metric_series (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    dirty_from    INTEGER,
    PRIMARY KEY (experiment_id, name)
) WITHOUT ROWID;
CREATE TABLE follow_offsets (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    offset        INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, path)
) WITHOUT ROWID;
ALTER TABLE experiments ADD COLUMN parent_id INTEGER REFERENCES experiments(id) ON DELETE SET NULL;
ALTER TABLE experiments ADD COLUMN updated_at REAL;
"""


# v3: the TorchScript models exported from each experiment's checkpoints.
_V3 = """
CREATE TABLE exported_models (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    size          INTEGER,
    streaming     INTEGER NOT NULL DEFAULT 0,
    checkpoint    TEXT,
    settings      TEXT NOT NULL DEFAULT '{}',
    created_at    REAL NOT NULL
);
CREATE INDEX exported_models_experiment ON exported_models(experiment_id);
"""


def _run_script(conn: sqlite3.Connection, sql: str) -> None:
    # executescript() would commit the migration's transaction: run statement by statement.
    for stmt in sql.split(";"):
        if stmt.strip():
            conn.execute(stmt)


def _migrate_v2(conn: sqlite3.Connection) -> None:
    _run_script(conn, _V2)
    # Existing points get their tiles, so old runs read back reduced like new ones.
    from .tiles import rebuild_tiles

    rebuild_tiles(conn)


# v4: metric points and tiles without a foreign key (checking it cost a quarter of every
# insert); a trigger deletes them with their experiment instead (also on a project's cascade).
_V4_TABLES = """
CREATE TABLE metric_points_v4 (
    experiment_id INTEGER NOT NULL,
    name          TEXT NOT NULL,
    step          INTEGER NOT NULL,
    value         REAL,
    wall_time     REAL,
    PRIMARY KEY (experiment_id, name, step)
) WITHOUT ROWID;
INSERT INTO metric_points_v4 SELECT experiment_id, name, step, value, wall_time
    FROM metric_points;
DROP TABLE metric_points;
ALTER TABLE metric_points_v4 RENAME TO metric_points;
CREATE TABLE metric_tiles_v4 (
    experiment_id INTEGER NOT NULL,
    name          TEXT NOT NULL,
    level         INTEGER NOT NULL,
    tile          INTEGER NOT NULL,
    first_step    INTEGER NOT NULL,
    first_value   REAL,
    last_step     INTEGER NOT NULL,
    last_value    REAL,
    min_step      INTEGER,
    min_value     REAL,
    max_step      INTEGER,
    max_value     REAL,
    nan_step      INTEGER,
    PRIMARY KEY (experiment_id, name, level, tile)
) WITHOUT ROWID;
INSERT INTO metric_tiles_v4 SELECT experiment_id, name, level, tile, first_step, first_value,
    last_step, last_value, min_step, min_value, max_step, max_value, nan_step FROM metric_tiles;
DROP TABLE metric_tiles;
ALTER TABLE metric_tiles_v4 RENAME TO metric_tiles
"""
_V4_TRIGGER = """
CREATE TRIGGER experiments_delete_metrics AFTER DELETE ON experiments BEGIN
    DELETE FROM metric_points WHERE experiment_id = old.id;
    DELETE FROM metric_tiles WHERE experiment_id = old.id;
END
"""


def _migrate_v4(conn: sqlite3.Connection) -> None:
    _run_script(conn, _V4_TABLES)
    conn.execute(_V4_TRIGGER)
    # points of experiments deleted before (none should exist: the old key cascaded)
    conn.execute(
        "DELETE FROM metric_points WHERE experiment_id NOT IN (SELECT id FROM experiments)"
    )


# v5: experiment ids are never reused (AUTOINCREMENT), so nothing named after an id (a run
# folder, another database's records) can be mistaken for a later experiment. SQLite needs a
# table rebuild for that; foreign keys are off during migrations, so the tables that reference
# experiments(id) keep their rows and refer to the new table once it has the old name.
_V5_TABLE = """
CREATE TABLE experiments_v5 (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id         INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    dataset_id         INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    config             TEXT NOT NULL DEFAULT '{}',
    status             TEXT NOT NULL,
    started_at         REAL,
    completed_at       REAL,
    metrics            TEXT NOT NULL DEFAULT '{}',
    command            TEXT,
    run_dir            TEXT,
    log_path           TEXT,
    pid                INTEGER,
    process_start_time REAL,
    exit_code          INTEGER,
    error              TEXT,
    created_at         REAL NOT NULL,
    parent_id          INTEGER REFERENCES experiments(id) ON DELETE SET NULL,
    updated_at         REAL,
    UNIQUE (project_id, name)
);
INSERT INTO experiments_v5 (id, project_id, name, dataset_id, config, status, started_at,
    completed_at, metrics, command, run_dir, log_path, pid, process_start_time, exit_code,
    error, created_at, parent_id, updated_at)
    SELECT id, project_id, name, dataset_id, config, status, started_at, completed_at, metrics,
    command, run_dir, log_path, pid, process_start_time, exit_code, error, created_at,
    parent_id, updated_at FROM experiments;
DROP TABLE experiments;
ALTER TABLE experiments_v5 RENAME TO experiments;
CREATE INDEX experiments_status ON experiments(status)
"""


def _migrate_v5(conn: sqlite3.Connection) -> None:
    _run_script(conn, _V5_TABLE)
    conn.execute(_V4_TRIGGER)  # dropped with the old table


# v6: the action to take, kept with each alert (the health rules' advice).
_V6 = "ALTER TABLE alerts ADD COLUMN advice TEXT NOT NULL DEFAULT ''"


# v7: the run history: notes, tags and an archived flag per experiment, and the summary values
# the history sorts and filters by (kept in columns beside the JSON summary, which SQLite cannot
# read when it holds NaN), with their indexes.
_V7 = """
ALTER TABLE experiments ADD COLUMN notes TEXT NOT NULL DEFAULT '';
ALTER TABLE experiments ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE experiments ADD COLUMN steps INTEGER;
ALTER TABLE experiments ADD COLUMN best_validation REAL;
ALTER TABLE experiments ADD COLUMN best_validation_step INTEGER;
ALTER TABLE experiments ADD COLUMN final_validation REAL;
ALTER TABLE experiments ADD COLUMN config_name TEXT NOT NULL DEFAULT '';
CREATE TABLE run_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    tag           TEXT NOT NULL,
    PRIMARY KEY (experiment_id, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_tag ON run_tags(tag);
CREATE INDEX experiments_history ON experiments(
    project_id, archived, coalesce(started_at, created_at), id
);
CREATE INDEX experiments_config_name ON experiments(project_id, config_name);
CREATE INDEX experiments_dataset ON experiments(dataset_id)
"""


def _migrate_v7(conn: sqlite3.Connection) -> None:
    _run_script(conn, _V7)
    from .history import backfill_columns

    backfill_columns(conn)


# v9: tiles 2**k steps wide (were 16**k), the levels of each series chosen from the spacing of
# its steps: the tiles of every series that had some are built again from its points.
def _migrate_v9(conn: sqlite3.Connection) -> None:
    from .tiles import retile_series

    for experiment_id, name in conn.execute(
        "SELECT DISTINCT experiment_id, name FROM metric_tiles"
    ).fetchall():
        retile_series(conn, experiment_id, name)


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        _run_script(conn, sql)

    return apply


# v8: where runs execute (targets: SSH hosts, SLURM clusters) and, per remote run, its target,
# remote folder, process group or SLURM job and the state its engine reports. Written not to
# depend on v7 (another change of the same round): IF NOT EXISTS, new tables only.
_V8 = """
CREATE TABLE IF NOT EXISTS targets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    host         TEXT NOT NULL DEFAULT '',
    port         INTEGER,
    user         TEXT NOT NULL DEFAULT '',
    key_file     TEXT NOT NULL DEFAULT '',
    rave         TEXT NOT NULL DEFAULT '',
    workdir      TEXT NOT NULL DEFAULT '',
    partition    TEXT NOT NULL DEFAULT '',
    gres         TEXT NOT NULL DEFAULT '',
    cpus         INTEGER,
    memory       TEXT NOT NULL DEFAULT '',
    time_limit   TEXT NOT NULL DEFAULT '',
    account      TEXT NOT NULL DEFAULT '',
    extra_sbatch TEXT NOT NULL DEFAULT '[]',
    created_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS remote_runs (
    experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,
    target_id     INTEGER REFERENCES targets(id) ON DELETE SET NULL,
    target        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    remote_dir    TEXT NOT NULL,
    pid           INTEGER,
    job_id        TEXT,
    state         TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    restarts      INTEGER NOT NULL DEFAULT 0,
    updated_at    REAL
)
"""


def _migrate_copy_checkpoints(conn: sqlite3.Connection) -> None:
    """v10 (v9 is another change of the same round; written not to depend on it): which
    checkpoints of a remote run are copied back once it ends, per target (all|last|none)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(targets)")}
    if "copy_checkpoints" not in columns:
        conn.execute("ALTER TABLE targets ADD COLUMN copy_checkpoints TEXT NOT NULL DEFAULT 'last'")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _script(_V1),
    _migrate_v2,
    _script(_V3),
    _migrate_v4,
    _migrate_v5,
    _script(_V6),
    _migrate_v7,
    _script(_V8),
    _migrate_v9,
    _migrate_copy_checkpoints,  # v10
]
SCHEMA_VERSION = len(MIGRATIONS)


def database_error(path: Path, err: sqlite3.Error) -> DatabaseError:
    """The DatabaseError, with a message a person can act on, for an SQLite failure."""
    text = str(err)
    if "not a database" in text or "file is encrypted" in text:
        return DatabaseError(f"{path} is not a rave-gui database (not an SQLite file).")
    if "malformed" in text or "corrupt" in text:
        return DatabaseError(
            f"The database {path} is damaged ({text}): restore a backup of it, or start a new "
            "database with --db."
        )
    if "readonly" in text or "read-only" in text:
        return DatabaseError(
            f"The database {path} is read-only: make the file and its folder writable, "
            "or choose another database with --db."
        )
    if "unable to open" in text:
        return DatabaseError(
            f"Cannot open the database {path}: check that its folder exists and is writable."
        )
    if "disk is full" in text or "disk full" in text:
        return DiskFullError(
            f"The disk holding the database {path} is full: free space on it (nothing was "
            "written; try again once there is room)."
        )
    if "locked" in text or "busy" in text:
        return DatabaseError(f"The database {path} is locked by another program; try again.")
    return DatabaseError(f"Database error in {path}: {text}")


def connect(path: str | os.PathLike[str], *, migrate: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    Raises DatabaseError with a clear message for a file that is not SQLite, a read-only file
    or folder, or a database newer than this version of rave-gui.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise DatabaseError(f"{path} is a folder, not a database file.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatabaseError(f"Cannot create the folder for the database {path}: {err}") from err
    if path.exists() and not os.access(path, os.W_OK):
        raise DatabaseError(
            f"The database {path} is read-only: make it writable, or choose another with --db."
        )
    if not path.exists() and not os.access(path.parent, os.W_OK):
        raise DatabaseError(f"Cannot create the database {path}: its folder is not writable.")
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as err:
        raise database_error(path, err) from err
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise DatabaseError(f"The database {path} cannot use WAL mode (got {mode}).")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if migrate:
            _migrate(conn, path)
    except sqlite3.Error as err:
        conn.close()
        raise database_error(path, err) from err
    except DatabaseError:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, path: Path, target: int | None = None) -> None:
    target = SCHEMA_VERSION if target is None else target
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"The database {path} was written by a newer rave-gui (schema {version}, this "
            f"version knows {SCHEMA_VERSION}): upgrade rave-gui or use another database."
        )
    if version >= target:
        return
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        while version < target:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Read the version again under the write lock: another connection (a second
                # thread, the CLI beside the app) may have migrated since it was first read.
                version = schema_version(conn)
                if version < target:
                    MIGRATIONS[version](conn)
                    version += 1
                    conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


def migrate_to(conn: sqlite3.Connection, version: int) -> None:
    """Bring a database to exactly ``version`` (tests use it to build old databases)."""
    _migrate(conn, Path("?"), target=version)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction. SQLite has already rolled it back by
    itself after some errors (a full disk, out of memory): a second ROLLBACK would fail with
    "no transaction is active" and hide the real error."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


class Database:
    """One database file, one connection per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self.conn  # open now, so a bad file is reported at once  # noqa: B018

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: everything inside is committed together or not at all."""
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise database_error(self.path, err) from err
        try:
            yield conn
        except BaseException as err:
            _rollback(conn)
            if isinstance(err, sqlite3.Error):
                raise database_error(self.path, err) from err
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            _rollback(conn)
            raise database_error(self.path, err) from err

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Reads inside report an SQLite failure (a damaged file, a lock) as DatabaseError."""
        try:
            yield
        except sqlite3.Error as err:
            raise database_error(self.path, err) from err

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as err:
            raise database_error(self.path, err) from err
        except OverflowError as err:  # a Python int beyond SQLite's 64-bit integers
            raise ValidationError(
                f"A number is too large for the database (the largest is {SQLITE_MAX_INT})."
            ) from err

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()
