"""CompareListen: the same validation example of several runs side by side, by ear.

One ListenPanel per run (its waveform, spectrogram, play/stop and WAV saving, decoded from the
run's own event files by the one audio index), driven together by shared controls: the
validation (the clip nearest the chosen step in each run), the example, input or
reconstruction. Each column has its run's colour, as in the plots.
"""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtCore import QSignalBlocker, Qt, QTimer
from PyQt6.QtGui import QResizeEvent
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ...backend.rave.audio import AudioClip
from .compare_plot import run_color
from .listen_panel import ExampleAB, ListenPanel
from .plot_style import swatch

PANEL_MIN_WIDTH = 360
STACKED_MIN_HEIGHT = 320  # a column on a row of its own: its plots keep a readable height


def nearest_clip(clips: Sequence[AudioClip], step: int | None, index: int) -> int:
    """The row of the clip at the step nearest ``step`` (by position ``index`` when steps are
    unknown); -1 when there is none."""
    if not clips:
        return -1
    if step is None or all(c.step is None for c in clips):
        return min(index, len(clips) - 1)
    known = [
        (abs((c.step if c.step is not None else 10**18) - step), i) for i, c in enumerate(clips)
    ]
    return min(known)[1]


class CompareListen(QWidget, ExampleAB):
    """Validation audio of the compared runs, one column each, listened to side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels: dict[int, ListenPanel] = {}
        self._runs: list[tuple[int, str, str | None, int | None, bool]] = []
        self._sync_timer = QTimer(self)
        self._sync_timer.setSingleShot(True)
        self._sync_timer.setInterval(0)
        self._sync_timer.timeout.connect(self.sync)

        self.step_slider = QSlider(Qt.Orientation.Horizontal)
        self.step_slider.setPageStep(1)
        self.step_slider.valueChanged.connect(lambda _v: self.sync())
        self.step_label = QLabel("–")
        self._make_example_ab(self, "reconstruction")
        self.example_combo.currentIndexChanged.connect(lambda _i: self.sync())
        self.ab_group.idToggled.connect(lambda _i, on: self.sync() if on else None)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Validation"))
        controls.addWidget(self.step_slider, 1)
        controls.addWidget(self.step_label)
        controls.addSpacing(10)
        controls.addWidget(QLabel("Example"))
        controls.addWidget(self.example_combo)
        controls.addSpacing(10)
        controls.addWidget(self.a_button)
        controls.addWidget(self.b_button)

        self.columns = QWidget()
        # One column a run, side by side while they fit, else on rows (read down, not
        # scrolled sideways: the smallest window holds one column)
        self.columns_layout = QGridLayout(self.columns)
        self.columns_layout.setContentsMargins(0, 0, 0, 0)
        self._columns: list[QWidget] = []
        self.per_row = 0
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.columns)
        self.hint = QLabel(
            "The same validation example of each run, side by side: pick the validation and "
            "the example here, press Play in a column."
        )
        self.hint.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(controls)
        lay.addWidget(self.hint)
        lay.addWidget(self.scroll, 1)

    # --- public API ----------------------------------------------------------------------------
    def set_runs(self, runs: Sequence[tuple[int, str, str | None, int | None, bool]]) -> None:
        """The runs as (id, name, run folder, model channels, live), in colour order."""
        runs = list(runs)
        if runs == self._runs:
            return
        self.shutdown()
        for panel in self.panels.values():
            panel.setParent(None)
            panel.deleteLater()
        self.panels.clear()
        for w in self._columns:
            self.columns_layout.removeWidget(w)
            w.deleteLater()
        self._columns = []
        self.per_row = 0
        self._runs = runs
        for pos, (rid, name, run_dir, channels, live) in enumerate(runs):
            column = QWidget()
            column.setMinimumWidth(PANEL_MIN_WIDTH)
            cl = QVBoxLayout(column)
            cl.setContentsMargins(0, 0, 0, 0)
            title = QLabel(f"#{rid} {name}")
            icon = QLabel()
            icon.setPixmap(swatch(run_color(pos)).pixmap(12, 12))
            head = QHBoxLayout()
            head.addWidget(icon)
            head.addWidget(title, 1)
            panel = ListenPanel()
            panel.clip_list.hide()  # the shared controls choose the clip, example and part
            for w in (panel.example_combo, panel.a_button, panel.b_button):
                w.hide()
            for label in panel.findChildren(QLabel):
                if label.text() == "Example":
                    label.hide()
            panel.clip_list.model().rowsInserted.connect(lambda *_a: self._sync_timer.start())
            panel.example_combo.model().rowsInserted.connect(lambda *_a: self._sync_timer.start())
            cl.addLayout(head)
            cl.addWidget(panel, 1)
            self._columns.append(column)
            self.panels[rid] = panel
            panel.set_run(run_dir, channels, live)
        self._reflow()
        self.sync()

    def _reflow(self) -> None:
        """As many columns on a row as the width holds (at least one)."""
        n = len(self._columns)
        width = self.scroll.viewport().width()
        per_row = max(1, min(n, (width + 6) // (PANEL_MIN_WIDTH + 6))) if n else 0
        if per_row == self.per_row:
            return
        self.per_row = per_row
        for w in self._columns:
            self.columns_layout.removeWidget(w)
        for i, w in enumerate(self._columns):
            self.columns_layout.addWidget(w, i // per_row, i % per_row)
            w.setMinimumHeight(STACKED_MIN_HEIGHT if per_row < n else 0)
        for c in range(max(self.columns_layout.columnCount(), per_row)):
            self.columns_layout.setColumnStretch(c, 1 if c < per_row else 0)

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._reflow()

    @staticmethod
    def listed(panel: ListenPanel) -> list[AudioClip]:
        """The clips a panel lists (its index may hold newer ones, not listed yet)."""
        return panel.clips[: panel.clip_list.count()]

    def reference(self) -> ListenPanel | None:
        """The panel with the most clips: its validations are the slider's."""
        if not self.panels:
            return None
        return max(self.panels.values(), key=lambda p: len(self.listed(p)))

    def select(self, row: int) -> None:
        """Choose the reference run's ``row``-th validation (the others: nearest step)."""
        self.step_slider.setValue(row)
        self.sync()

    def sync(self) -> None:
        """Bring every column to the chosen validation, example and part."""
        ref = self.reference()
        clips = self.listed(ref) if ref is not None else []
        with QSignalBlocker(self.step_slider):
            self.step_slider.setRange(0, max(0, len(clips) - 1))
        row = min(self.step_slider.value(), len(clips) - 1)
        step = clips[row].step if row >= 0 else None
        self.step_label.setText(
            "–" if row < 0 else f"step {'?' if step is None else step}  ({row + 1} of {len(clips)})"
        )
        examples = max((p.example_combo.count() for p in self.panels.values()), default=0)
        if examples != self.example_combo.count():
            chosen = self.example
            with QSignalBlocker(self.example_combo):
                self.example_combo.clear()
                self.example_combo.addItems([str(i + 1) for i in range(examples)])
                self.example_combo.setCurrentIndex(min(chosen, examples - 1))
        for panel in self.panels.values():
            target = nearest_clip(self.listed(panel), step, max(row, 0))
            if target >= 0 and panel.clip_list.currentRow() != target:
                panel.select_clip(target)
            combo = panel.example_combo
            if combo.count() and combo.currentIndex() != min(self.example, combo.count() - 1):
                combo.setCurrentIndex(min(self.example, combo.count() - 1))
            if panel.part != self.part:
                panel.set_part(self.part)

    def shutdown(self) -> None:
        self._sync_timer.stop()
        for panel in self.panels.values():
            panel.shutdown()


__all__ = ["CompareListen", "nearest_clip"]
