"""Deleting a run, with or without its files, and saying how much disk that frees."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InUseError
from ..status import Action, refusal
from .detail import folder_size

if TYPE_CHECKING:
    from ..manager import TrainingManager


@dataclass(frozen=True)
class DeletePlan:
    """What deleting a run would do: its folder (None: it has none on disk), the bytes its
    files hold, and why the files cannot go (None: they can)."""

    experiment_id: int
    name: str
    folder: str | None
    folder_bytes: int
    files_kept_because: str | None

    @property
    def frees_bytes(self) -> int:
        return 0 if self.files_kept_because else self.folder_bytes


def plan_delete(manager: TrainingManager, experiment_id: int) -> DeletePlan:
    """What deleting the run would remove (InUseError for a run that is still active)."""
    exp = manager.get_experiment(experiment_id)
    if reason := refusal(exp.status, Action.DELETE):
        raise InUseError(f"Experiment {exp.name!r} {reason}")
    folder = Path(exp.run_dir).expanduser() if exp.run_dir else None
    if folder is None or not folder.is_dir():
        return DeletePlan(exp.id, exp.name, None, 0, None)
    why = _shared(manager, experiment_id, folder)
    return DeletePlan(exp.id, exp.name, str(folder), folder_size(folder), why)


def _shared(manager: TrainingManager, experiment_id: int, folder: Path) -> str | None:
    """Why a run folder must stay: it is a top folder, or another run writes inside it."""
    resolved = folder.resolve()
    if len(resolved.parts) <= 2 or resolved == Path.home().resolve():
        return f"{resolved} is not a run folder of its own"
    for name, run_dir in manager.history.other_run_dirs(experiment_id):
        try:
            theirs = Path(run_dir).expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        if theirs == resolved or resolved in theirs.parents or theirs in resolved.parents:
            return f"the run {name!r} also uses {resolved}"
    return None


def delete_run(manager: TrainingManager, experiment_id: int, *, files: bool = False) -> int:
    """Delete a run's record (metrics, checkpoints list, alerts, tags) and, with ``files``, its
    run folder; the bytes freed on disk. An active run is refused (InUseError), and so are
    files that another run shares (nothing is deleted then)."""
    plan = plan_delete(manager, experiment_id)
    if files and plan.files_kept_because:
        raise InUseError(
            f"The files of {plan.name!r} cannot be deleted: {plan.files_kept_because}. "
            "Delete the run without its files."
        )
    manager.experiments.delete(experiment_id)
    if not files or plan.folder is None:
        return 0
    freed = plan.folder_bytes
    errors: list[str] = []
    shutil.rmtree(plan.folder, onerror=lambda _f, p, e: errors.append(f"{p}: {e[1]}"))
    if errors:
        left = folder_size(plan.folder)
        raise InUseError(
            f"The run was deleted but some of its files could not be ({errors[0]}); "
            f"{freed - left:,} bytes freed, {left:,} left in {plan.folder}."
        )
    return freed


__all__ = ["DeletePlan", "delete_run", "plan_delete"]
