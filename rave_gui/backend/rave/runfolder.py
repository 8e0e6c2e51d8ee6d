"""A training run's own folder: named and created once, never reused, and marked with an
identity file that says which run it belongs to, so two runs never mix their files.

A run folder is ``<runs dir>/<id>-<safe name>-<6 random hex digits>``, created with
``exist_ok=False``. Its ``rave-gui-run.json`` holds a random run uid, the experiment id and the
database; the experiment keeps the same uid in its config (``run_uid``). Runs recorded before
identity files existed have no uid and their folders no identity file: they keep working.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import ProcessError

IDENTITY_NAME = "rave-gui-run.json"
UID_KEY = "run_uid"  # the key of the run uid in an experiment's config
_ATTEMPTS = 50  # random suffixes tried before giving up (a clash is already rare)


def safe_name(name: str) -> str:
    """A run name as it appears in folder names (letters, digits, ``._-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"


def folder_preview(runs_dir: str | os.PathLike[str], name: str) -> str:
    """What create_run_folder will call a run's folder, shown before its id is known."""
    return str(Path(runs_dir) / f"<id>-{safe_name(name)}-<random>")


def create_run_folder(
    runs_dir: str | os.PathLike[str],
    experiment_id: int,
    name: str,
    *,
    database: str | os.PathLike[str] | None = None,
) -> tuple[Path, str]:
    """Create a new, empty run folder for an experiment and write its identity file.
    Returns the folder and the run uid (keep it in the experiment's config)."""
    runs = Path(runs_dir).expanduser()
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ProcessError(f"Cannot create the runs folder {runs}: {err.strerror}") from err
    for _ in range(_ATTEMPTS):
        folder = runs / f"{experiment_id}-{safe_name(name)}-{secrets.token_hex(3)}"
        try:
            folder.mkdir(exist_ok=False)
        except FileExistsError:
            continue
        except OSError as err:
            raise ProcessError(f"Cannot create the run folder {folder}: {err.strerror}") from err
        uid = uuid.uuid4().hex
        _write_identity(folder, uid, experiment_id, database)
        return folder, uid
    raise ProcessError(f"Cannot find a free run folder name in {runs}: clean the folder up.")


def _write_identity(
    folder: Path, uid: str, experiment_id: int, database: str | os.PathLike[str] | None
) -> None:
    data = {
        "run_uid": uid,
        "experiment_id": experiment_id,
        "database": str(Path(database).expanduser().resolve()) if database else None,
        "created_at": time.time(),
    }
    tmp = folder / (IDENTITY_NAME + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, folder / IDENTITY_NAME)
    except OSError as err:
        raise ProcessError(f"Cannot write {folder / IDENTITY_NAME}: {err.strerror}") from err


def read_identity(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A run folder's identity; None when it has no identity file, {} when the file cannot be
    read (it belongs to no run this could be)."""
    path = Path(folder) / IDENTITY_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check_identity(folder: str | os.PathLike[str], run_uid: str | None) -> None:
    """Raise ProcessError unless ``folder`` is the folder of the run with ``run_uid``.

    A run recorded before identity files (``run_uid`` None) accepts a folder without one, but
    never the folder of a run that has one."""
    folder = Path(folder)
    ident = read_identity(folder)
    if ident is None:
        if run_uid is None:
            return
        raise ProcessError(
            f"The run folder {folder} has no {IDENTITY_NAME}: it is not this run's folder "
            "(replaced or emptied?), so nothing in it is taken for this run."
        )
    if run_uid is not None and ident.get("run_uid") == run_uid:
        return
    owner = (
        f"experiment {ident.get('experiment_id')} of the database {ident.get('database')}"
        if ident.get("run_uid")
        else "an unknown run (its identity file is unreadable)"
    )
    raise ProcessError(
        f"The run folder {folder} belongs to {owner}, not to this run: nothing is read from "
        "or started in it. Start the run again to give it a folder of its own."
    )


__all__ = [
    "IDENTITY_NAME",
    "UID_KEY",
    "check_identity",
    "create_run_folder",
    "folder_preview",
    "read_identity",
    "safe_name",
]
