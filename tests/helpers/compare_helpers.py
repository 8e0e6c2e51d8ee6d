"""Runs to compare: the captured real RAVE runs laid out as `rave train` writes them and
imported into a real store."""

from __future__ import annotations

import shutil
from pathlib import Path

from replay_helpers import FIXTURES

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.runs.engine import import_run

CAPTURES = (("run_40steps", "t1_d744cc98b7"), ("run_110steps", "long_d744cc98b7"))


def have_captures() -> bool:
    return all((FIXTURES / src).exists() for src, _ in CAPTURES)


def run_folder(
    root: Path, fixture: str, folder: str, gin_edit: dict[str, str] | None = None
) -> Path:
    """A run folder from a capture: its event files in version_0/, its config.gin beside
    (with the macros in ``gin_edit`` set to other values)."""
    src = FIXTURES / fixture
    run = root / folder
    version = run / "version_0"
    version.mkdir(parents=True)
    for f in src.glob("events.out.tfevents.*"):
        shutil.copy(f, version / f.name)
    gin = (src / "config.gin").read_text(encoding="utf-8")
    for key, value in (gin_edit or {}).items():
        lines = gin.splitlines()
        lines = [f"{key} = {value}" if ln.startswith(f"{key} = ") else ln for ln in lines]
        gin = "\n".join(lines) + "\n"
    (run / "config.gin").write_text(gin, encoding="utf-8")
    return run


def import_captures(
    manager: TrainingManager, root: Path, gin_edit: dict[str, str] | None = None
) -> list[int]:
    """Import both captures (the second with ``gin_edit`` applied); their ids."""
    ids = []
    for i, (src, folder) in enumerate(CAPTURES):
        edit = gin_edit if i == 1 else None
        ids.append(import_run(manager, run_folder(root, src, folder, edit)))
    return ids
