"""CompareView: 2 to 10 runs side by side: curves, summaries, settings diff, audio, TensorBoard.

``set_runs(ids)`` is the entry point (the Compare page's picker and the runs table call it).
The comparison (``compare_runs``) is read off the GUI thread; the audio columns are built only
when the Listen tab is first shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.runs.compare import MAX_RUNS, MIN_RUNS, Comparison, check_ids, compare_runs
from ...backend.status import ACTIVE
from ...backend.system.settings import Settings
from ...core.tensorboard import TensorBoardLauncher
from ...core.worker import run_in_background
from .compare_listen import CompareListen
from .compare_plot import ComparePlot
from .compare_tables import ConfigDiffView, SummaryTable
from .feedback import ERROR, MessageBar


class CompareView(QWidget):
    """The comparison of the runs given to ``set_runs``; ``compared`` once it is shown."""

    compared = pyqtSignal()

    def __init__(
        self,
        manager: TrainingManager,
        settings: Settings | Callable[[], Settings] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.ids: list[int] = []
        self.comparison: Comparison | None = None
        self._generation = 0
        self._listen_dirty = False
        self.tensorboard = TensorBoardLauncher(manager, settings or Settings(), self)
        self.tensorboard.starting.connect(self._set_status)
        self.tensorboard.opened.connect(self._tensorboard_opened)
        self.tensorboard.failed.connect(self._show_error)
        self.message_bar = MessageBar()

        self.plot = ComparePlot(manager)
        self.plot.metric_changed.connect(self._on_metric)
        self.summary = SummaryTable()
        self.diff = ConfigDiffView()
        self.listen = CompareListen()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.summary, "Summary")
        self.tabs.addTab(self.diff, "Settings")
        self.tabs.addTab(self.listen, "Listen")
        self.tabs.currentChanged.connect(lambda _i: self._update_listen())

        self.title = QLabel()
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.status.setOpenExternalLinks(True)
        self.tensorboard_button = QPushButton("Open in TensorBoard")
        self.tensorboard_button.setToolTip(
            "Serve these runs in TensorBoard (from RAVE's environment) and open the browser"
        )
        self.tensorboard_button.clicked.connect(lambda _c: self.open_tensorboard())
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.status)
        top.addWidget(self.tensorboard_button)

        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plot)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.message_bar)
        lay.addWidget(splitter, 1)
        self._show_none()

    # --- public API ----------------------------------------------------------------------------
    def set_runs(self, ids: Sequence[int]) -> None:
        """Compare these runs (2 to 10); fewer clears the view, more is reported."""
        ids = list(ids)
        if ids == self.ids and self.comparison is not None:
            return
        self._generation += 1
        if len(ids) < MIN_RUNS:
            self.ids = ids
            self._show_none()
            return
        try:
            ids = check_ids(ids)
        except RaveGuiError as err:
            self._show_error(str(err))
            return
        self.message_bar.clear()
        self.ids = ids
        self._set_status("Reading the runs…")
        gen, manager = self._generation, self.manager
        run_in_background(
            lambda: (compare_runs(manager, ids), [manager.get_experiment(i) for i in ids]),
            lambda result: self._compared(gen, *result),
            lambda err: self._failed(gen, err),
        )

    def reload(self) -> None:
        """Read the compared runs again (a live run has new points): summaries and curves."""
        if self.comparison is None:
            return
        self._generation += 1
        gen, manager, ids = self._generation, self.manager, list(self.ids)
        run_in_background(
            lambda: compare_runs(manager, ids),
            lambda c: self._recompared(gen, c),
            lambda err: self._failed(gen, err),
        )
        self.plot.reload()

    def _recompared(self, gen: int, c: Comparison) -> None:
        if gen == self._generation:
            self.comparison = c
            self.summary.set_comparison(c, self.plot.metric)
            self.diff.set_comparison(c)

    def open_tensorboard(self, ids: Sequence[int] | None = None) -> None:
        """Serve the runs (default: the compared ones) in TensorBoard and open the browser."""
        self.tensorboard.open_runs(self.ids if ids is None else list(ids))

    def shutdown(self) -> None:
        self.listen.shutdown()
        self.tensorboard.shutdown()

    # --- results ---------------------------------------------------------------------------------
    def _compared(self, gen: int, c: Comparison, exps: list) -> None:
        if gen != self._generation:
            return
        self.comparison = c
        self._set_status("")
        self.title.setText(f"Comparing {len(c.runs)} runs")
        self.tensorboard_button.setEnabled(True)
        self.plot.set_runs([(r.id, r.name) for r in c.runs])
        self.summary.set_comparison(c, self.plot.metric)
        self.diff.set_comparison(c)
        self._listen_runs = [
            (e.id, e.name, e.run_dir, e.config.get("channels"), e.status in ACTIVE) for e in exps
        ]
        self._listen_dirty = True
        self._update_listen()
        self.compared.emit()

    def _failed(self, gen: int, err: Exception) -> None:
        if gen == self._generation:
            self._set_status("")
            self._show_error(f"Cannot compare these runs: {err}")

    def _on_metric(self, name: str) -> None:
        if self.comparison is not None:
            self.summary.set_comparison(self.comparison, name)

    def _update_listen(self) -> None:
        if self.tabs.currentWidget() is self.listen:  # the audio views need the height
            total = sum(self.splitter.sizes())
            if self.splitter.sizes()[1] < total * 0.55:
                self.splitter.setSizes([int(total * 0.4), total - int(total * 0.4)])
        if self._listen_dirty and self.tabs.currentWidget() is self.listen:
            self._listen_dirty = False
            self.listen.set_runs(self._listen_runs)

    def _show_none(self) -> None:
        self.comparison = None
        self._listen_runs: list = []
        self.title.setText(f"Choose {MIN_RUNS} to {MAX_RUNS} runs to compare")
        self.tensorboard_button.setEnabled(bool(self.ids))
        self.plot.set_runs([])
        self.summary.set_comparison(None)
        self.diff.set_comparison(None)
        self.listen.set_runs([])

    def _set_status(self, text: str) -> None:
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setText(text)

    def _tensorboard_opened(self, url: str) -> None:
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setText(f'TensorBoard: <a href="{url}">{url}</a>')
        self.status.setToolTip("Serving until rave-gui quits")

    def _show_error(self, text: str) -> None:
        self._set_status("")
        self.message_bar.show_message(text, ERROR)


__all__ = ["CompareView"]
