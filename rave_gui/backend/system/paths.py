"""Where rave-gui keeps its files by default (database, runs), overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from ..errors import ValidationError

APP_NAME = "rave-gui"
DB_ENV = "RAVE_GUI_DB"
DATA_ENV = "RAVE_GUI_DATA"


def data_dir() -> Path:
    """The user data folder (``$RAVE_GUI_DATA`` or the platform's, e.g. ~/.local/share/rave-gui)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP_NAME))


def default_db_path() -> Path:
    """The database file: ``$RAVE_GUI_DB`` if set, else ``rave-gui.sqlite3`` in the data folder."""
    env = os.environ.get(DB_ENV)
    return Path(env).expanduser() if env else data_dir() / "rave-gui.sqlite3"


def default_runs_dir() -> Path:
    """Where new training runs write their folders unless the user picks another place."""
    return data_dir() / "runs"


def resolve_db_path(flag: str | os.PathLike[str] | None) -> Path:
    """The database path a ``--db`` flag selects, falling back to the environment and default.

    An empty flag (``--db ""``, often an unset shell variable) is refused, not taken as the
    default database."""
    if flag is None:
        return default_db_path()
    if not str(flag).strip():
        raise ValidationError("--db needs a path (the database file to open).")
    return Path(flag).expanduser()
