"""Jobs for the one-off RAVE commands, run off the GUI thread through the same backend calls
as the command line: a new dataset (`rave preprocess`, then its registration) and an export
(pre-flight and staging, `rave export`, the record of its model)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, QThread, pyqtSignal

from ..backend.errors import CancelledError, RaveGuiError
from ..backend.jobs.export import ExportPlan, cleanup, plan_export, run_export
from ..backend.jobs.preprocess import (
    PREPROCESS_CANCELLED,
    PreprocessMonitor,
    PreprocessRequest,
    PreprocessRun,
    make_dataset,
)
from ..backend.jobs.reconstruct import reconstruct
from ..backend.manager import TrainingManager
from ..backend.process import runner
from ..backend.remote.export import cleanup_remote, plan_remote_export, run_remote_export
from ..backend.runs.followers import is_remote
from ..backend.store.records import ExportedModel
from ..backend.system.units import format_bytes

CANCELLED = PREPROCESS_CANCELLED  # the message of a job the user cancelled


class _Job(QThread):
    """One job in its own thread: ``lines_received`` with (text, level) pairs of the command's
    output, ``ended(ok, message)`` at the end (``message`` is CANCELLED after :meth:`cancel`).
    ``pid`` is the command's process group once started."""

    lines_received = pyqtSignal(list)
    ended = pyqtSignal(bool, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pid: int | None = None
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop the command and everything it started (its whole process group); ``ended``
        follows once it is gone."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _started(self, launched: runner.Launched) -> None:
        self.pid = launched.pid

    def _work(self) -> tuple[bool, str]:
        raise NotImplementedError

    def run(self) -> None:
        try:
            ok, message = self._work()
        except CancelledError:
            ok, message = False, CANCELLED
        except RaveGuiError as err:
            ok, message = False, str(err)
        except Exception as err:  # never a silent end: the page waits for ``ended``
            ok, message = False, f"Unexpected error: {type(err).__name__}: {err}"
        self.ended.emit(ok, message)


class PreprocessJob(_Job):
    """Makes a dataset with :func:`rave_gui.backend.jobs.preprocess.make_dataset`: `rave preprocess`
    detached and followed (``progress`` gives the percent of the expected chunks and "N chunks
    of M · dataset length H:MM:SS"; a stall is stopped with its reason), then the dataset
    registered in the project. ``result`` holds the PreprocessRun at the end."""

    progress = pyqtSignal(int, str)

    def __init__(
        self,
        manager: TrainingManager,
        project_id: int,
        command: list[str],
        request: PreprocessRequest,
        *,
        name: str | None = None,
        log_folder: str | Path | None = None,
        monitor: PreprocessMonitor | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.project_id = project_id
        self.command = command
        self.request = request
        self.name = name
        self.log_folder = log_folder
        self.monitor = monitor or PreprocessMonitor.for_request(request, None)
        self.result: PreprocessRun | None = None

    def _progress(self, monitor: PreprocessMonitor) -> None:
        if monitor.progress is not None:
            self.progress.emit(monitor.percent(), monitor.text())

    def _work(self) -> tuple[bool, str]:
        self.result = make_dataset(
            self.manager,
            self.project_id,
            self.command,
            self.request,
            name=self.name,
            log_folder=self.log_folder,
            monitor=self.monitor,
            on_start=self._started,
            on_lines=self.lines_received.emit,
            on_progress=self._progress,
            cancelled=self._cancel.is_set,
        )
        return self.result.ok, self.result.message


class ExportJob(_Job):
    """One export with the backend's :func:`plan_export` (pre-flight, staging of the chosen
    checkpoint), :func:`run_export` (`rave export` detached and followed, its model recorded):
    ``planned(plan)`` once the command is known, then the output lines and ``ended``.
    ``model`` holds the recorded model at the end."""

    planned = pyqtSignal(object)

    def __init__(
        self,
        manager: TrainingManager,
        experiment_id: int,
        checkpoint: str | int = "best",
        *,
        parent: QObject | None = None,
        **options: Any,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.experiment_id = experiment_id
        self.checkpoint = checkpoint
        self.options = options  # plan_export's keyword arguments
        self.plan: ExportPlan | None = None
        self.model: ExportedModel | None = None

    def _work(self) -> tuple[bool, str]:
        if is_remote(self.manager, self.experiment_id):
            return self._work_remote()
        plan = plan_export(self.manager, self.experiment_id, self.checkpoint, **self.options)
        self.plan = plan
        if self.cancelled:  # while it was being checked
            cleanup(plan)
            raise CancelledError(CANCELLED)
        self.planned.emit(plan)
        model_id = run_export(
            self.manager,
            plan,
            on_start=self._started,
            on_lines=self.lines_received.emit,
            cancelled=self._cancel.is_set,
        )
        return self._exported(model_id, plan.output_file.name)

    def _exported(self, model_id: int, name: str) -> tuple[bool, str]:
        self.model = next(
            (m for m in self.manager.artifacts.exported_models(self.experiment_id)
             if m.id == model_id),
            None,
        )  # fmt: skip
        size = format_bytes(self.model.size) if self.model else "?"
        name = Path(self.model.path).name if self.model else name
        return True, f"Exported {name} ({size})."

    def _work_remote(self) -> tuple[bool, str]:
        """A run that trained on a target: exported there, its model downloaded here."""
        plan = plan_remote_export(self.manager, self.experiment_id, self.checkpoint, **self.options)
        if self.cancelled:
            cleanup_remote(self.manager, plan)
            raise CancelledError(CANCELLED)
        self.planned.emit(plan)
        model_id = run_remote_export(
            self.manager, plan, on_lines=self.lines_received.emit, cancelled=self._cancel.is_set
        )
        return self._exported(model_id, plan.output_file.name)


class ReconstructJob(_Job):
    """Your own sound through a run's model: the backend's :func:`reconstruct` (RAVE's Python
    in a child process; torch never loads here) writing ``output``; its progress lines come
    as ``lines_received``, then ``ended(ok, message)``."""

    def __init__(
        self,
        rave_executable: str,
        model: str,
        source: str,
        output: str,
        *,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.rave_executable = rave_executable
        self.model, self.source, self.output = model, source, output

    def _work(self) -> tuple[bool, str]:
        reconstruct(
            self.rave_executable,
            self.model,
            self.source,
            self.output,
            on_line=lambda line: self.lines_received.emit([(line, "info")]),
            cancelled=self._cancel.is_set,
        )
        return True, f"Reconstructed {Path(self.source).name} through {Path(self.model).name}."
