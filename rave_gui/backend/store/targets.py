"""TargetStore: where runs execute (an SSH host, a SLURM cluster through its login node), and,
per remote run, where it is on its target (remote folder, process group or SLURM job) and the
state the target's engine last reported."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import DuplicateNameError, NotFoundError, ValidationError
from .db import Database
from .names import check_name
from .rows import all_rows, one

LOCAL, SSH, SLURM = "local", "ssh", "slurm"
# which checkpoints of a run on a target are copied here once it ends: every one, the newest
# and the best (the default: each is ~120 MB), or none (the others stay listed as remote files)
COPY_CHECKPOINTS = ("all", "last", "none")
KINDS = (SSH, SLURM)  # stored kinds: "local" is the default, never stored
_TIME = re.compile(r"^(\d+-)?\d{1,3}(:\d{2}){0,2}$")  # SLURM --time: [D-]HH[:MM[:SS]]
_HOST = re.compile(r"^[A-Za-z0-9_.:\[\]-]+$")


@dataclass
class Target:
    """A place runs execute. ``rave``: the remote `rave` command (a path, or a name found on
    the remote PATH); ``workdir``: the remote folder run folders are made in."""

    name: str
    kind: str
    host: str
    port: int | None = None
    user: str = ""
    key_file: str = ""
    rave: str = "rave"
    workdir: str = "rave-gui-runs"
    partition: str = ""
    gres: str = ""
    cpus: int | None = None
    memory: str = ""
    time_limit: str = ""
    account: str = ""
    extra_sbatch: list[str] = field(default_factory=list)
    copy_checkpoints: str = "last"
    id: int | None = None
    created_at: float | None = None

    def validate(self) -> None:
        check_name(self.name, "target")
        if self.kind not in KINDS:
            raise ValidationError(f"A target is one of {', '.join(KINDS)}, not {self.kind!r}.")
        if not self.host or not _HOST.match(self.host) or self.host.startswith("-"):
            raise ValidationError(f"{self.host!r} is not a host name or address.")
        if self.port is not None and not 1 <= int(self.port) <= 65535:
            raise ValidationError(f"The port must be from 1 to 65535, not {self.port}.")
        if self.user.startswith("-") or any(c.isspace() for c in self.user):
            raise ValidationError(f"{self.user!r} is not a user name.")
        if not self.rave.strip():
            raise ValidationError("Give the remote RAVE command (e.g. rave or ~/venv/bin/rave).")
        if not self.workdir.strip():
            raise ValidationError("Give the remote work folder runs are made in.")
        if self.time_limit and not _TIME.match(self.time_limit):
            raise ValidationError(
                f"The time limit {self.time_limit!r} is not like HH:MM:SS (or D-HH:MM:SS)."
            )
        if self.cpus is not None and not 1 <= int(self.cpus) <= 4096:
            raise ValidationError(f"CPUs must be from 1 to 4096, not {self.cpus}.")
        if self.copy_checkpoints not in COPY_CHECKPOINTS:
            raise ValidationError(
                f"Copy checkpoints {', '.join(COPY_CHECKPOINTS)}, not {self.copy_checkpoints!r}."
            )
        for line in self.extra_sbatch:
            if "\n" in line or not line.strip():
                raise ValidationError(f"{line!r} is not one #SBATCH option.")

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def describe(self) -> str:
        where = self.address + (f":{self.port}" if self.port else "")
        return f"{self.kind} {where}"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class RemoteRun:
    """Where a run lives on its target, and what the target's engine last said of it."""

    experiment_id: int
    target: str
    kind: str
    remote_dir: str
    target_id: int | None = None
    pid: int | None = None  # SSH: the supervisor's pid, the run's process group id
    job_id: str | None = None  # SLURM
    state: str = ""  # as the engine reports it: RUNNING, PENDING, CANCELLED, exited...
    reason: str = ""  # SLURM's reason for a pending job, or how the run ended
    restarts: int = 0  # SLURM requeues seen
    updated_at: float | None = None


# SLURM job states as a person reads them (squeue/scontrol names, lower-cased otherwise)
_ENGINE_WORDS = {"NODE_FAIL": "node failure", "OUT_OF_MEMORY": "out of memory",
                 "BOOT_FAIL": "boot failure", "REQUEUE_HOLD": "requeued, held"}  # fmt: skip
_NO_REASON = ("", "None", "(null)")


def engine_label(run: RemoteRun | None, status: str) -> str:
    """What the target's engine says of a run, where it says more than ``status`` (the run's
    status): "pending: Resources", "completing", "timeout", "cancelled", "requeued 1×"...;
    "" for a local or SSH run, or a SLURM job whose state is the status ("running" running)."""
    if run is None or run.kind != SLURM or not run.state or run.state == "ENDED":
        return ""
    word = _ENGINE_WORDS.get(run.state, run.state.lower())
    if word == str(status) or (word == "completed" and str(status) != "failed"):
        word = ""
    elif run.state == "PENDING" and run.reason not in _NO_REASON:
        word = f"pending: {run.reason}"
    if run.restarts:
        word = ", ".join(w for w in (word, f"requeued {run.restarts}×") if w)
    return word


def _target(row: dict[str, Any]) -> Target:
    return Target(
        id=row["id"], name=row["name"], kind=row["kind"], host=row["host"], port=row["port"],
        user=row["user"], key_file=row["key_file"], rave=row["rave"], workdir=row["workdir"],
        partition=row["partition"], gres=row["gres"], cpus=row["cpus"], memory=row["memory"],
        time_limit=row["time_limit"], account=row["account"],
        extra_sbatch=list(json.loads(row["extra_sbatch"] or "[]")), created_at=row["created_at"],
        copy_checkpoints=row.get("copy_checkpoints") or "last",
    )  # fmt: skip


_COLUMNS = (
    "name", "kind", "host", "port", "user", "key_file", "rave", "workdir", "partition", "gres",
    "cpus", "memory", "time_limit", "account", "extra_sbatch", "copy_checkpoints",
)  # fmt: skip


class TargetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, target: Target) -> int:
        target.validate()
        values = [getattr(target, c) for c in _COLUMNS]
        values[_COLUMNS.index("extra_sbatch")] = json.dumps(target.extra_sbatch)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM targets WHERE name = ?", (target.name,)).fetchone():
                raise DuplicateNameError(f"A target named {target.name!r} exists already.")
            cur = conn.execute(
                f"INSERT INTO targets ({', '.join(_COLUMNS)}, created_at) "
                f"VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})",
                (*values, time.time()),
            )
            return int(cur.lastrowid or 0)

    def get(self, name: str) -> Target:
        row = one(self.db, "SELECT * FROM targets WHERE name = ?", (name,))
        if row is None:
            known = ", ".join(t.name for t in self.all()) or "none yet"
            raise NotFoundError(
                f"There is no target named {name!r} (known: {known}); add it with "
                "`rave-gui targets add NAME --host HOST`."
            )
        return _target(row)

    def set_copy_checkpoints(self, name: str, policy: str) -> None:
        """Which checkpoints of the target's runs are copied here (COPY_CHECKPOINTS)."""
        target = self.get(name)
        target.copy_checkpoints = policy
        target.validate()
        with self.db.transaction() as conn:
            conn.execute("UPDATE targets SET copy_checkpoints = ? WHERE name = ?", (policy, name))

    def all(self) -> list[Target]:
        return [_target(r) for r in all_rows(self.db, "SELECT * FROM targets ORDER BY name")]

    def remove(self, name: str) -> None:
        self.get(name)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM targets WHERE name = ?", (name,))

    # --- remote runs -------------------------------------------------------------------------
    def set_run(self, run: RemoteRun) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO remote_runs (experiment_id, target_id, target, kind, remote_dir, "
                "pid, job_id, state, reason, restarts, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id) DO UPDATE "
                "SET pid = excluded.pid, job_id = excluded.job_id, state = excluded.state, "
                "reason = excluded.reason, restarts = excluded.restarts, "
                "updated_at = excluded.updated_at",
                (
                    run.experiment_id, run.target_id, run.target, run.kind, run.remote_dir,
                    run.pid, run.job_id, run.state, run.reason, run.restarts, time.time(),
                ),
            )  # fmt: skip

    def run(self, experiment_id: int) -> RemoteRun | None:
        row = one(self.db, "SELECT * FROM remote_runs WHERE experiment_id = ?", (experiment_id,))
        if row is None:
            return None
        return RemoteRun(**{k: row[k] for k in RemoteRun.__dataclass_fields__})

    def runs(self, experiment_ids: list[int] | None = None) -> dict[int, RemoteRun]:
        """The remote runs among ``experiment_ids`` (None: all), by experiment id."""
        rows = all_rows(self.db, "SELECT * FROM remote_runs")
        wanted = None if experiment_ids is None else set(experiment_ids)
        return {
            r["experiment_id"]: RemoteRun(**{k: r[k] for k in RemoteRun.__dataclass_fields__})
            for r in rows
            if wanted is None or r["experiment_id"] in wanted
        }

    def target_of(self, run: RemoteRun) -> Target:
        """The run's target as recorded when it started (by id: a renamed target still)."""
        row = one(self.db, "SELECT * FROM targets WHERE id = ?", (run.target_id,))
        if row is None:
            raise NotFoundError(
                f"The target {run.target!r} of this run was removed: add it again "
                "(same name) to follow or control the run."
            )
        return _target(row)


__all__ = [
    "COPY_CHECKPOINTS", "KINDS", "LOCAL", "SLURM", "SSH", "RemoteRun", "Target", "TargetStore",
    "engine_label",
]  # fmt: skip
