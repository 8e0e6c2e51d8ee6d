"""LogPanel: a run's LogView under a bar with the level filter, the warning and error counts,
and saving the log to a file (written off the GUI thread by the backend's ``save_log``)."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...backend.process.logtail import save_log
from ...core.worker import run_in_background
from .log_view import LEVELS, LogView, level_colors

LEVEL_CAPTIONS = {"info": "Info", "warning": "Warnings", "error": "Errors"}


class LogPanel(QWidget):
    """The log, a level filter (a toggle per level), the counts and a Save button.
    ``saved(message)`` says how a save ended (the path written, or why it failed)."""

    saved = pyqtSignal(str)

    def __init__(self, view: LogView | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view or LogView()
        self.level_buttons: dict[str, QToolButton] = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.setSpacing(4)
        show = QLabel("Show:")
        show.setEnabled(False)
        bar.addWidget(show)
        for level in LEVELS:
            b = QToolButton()
            b.setCheckable(True)
            b.setChecked(True)
            b.setAutoRaise(True)
            b.setToolTip(f"Show or hide the {level} lines")
            b.toggled.connect(self._apply_levels)
            self.level_buttons[level] = b
            bar.addWidget(b)
        bar.addStretch(1)
        self.message = QLabel()
        self.message.setEnabled(False)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._saving = ""
        bar.addWidget(self.message, 1)
        self.save_button = QPushButton("Save log…")
        self.save_button.setToolTip("Save the lines shown here (all levels) to a text file")
        self.save_button.clicked.connect(self.ask_save)
        bar.addWidget(self.save_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        self.view.counts_changed.connect(self._show_counts)
        self._show_counts(self.view.level_counts())

    # --- filter and counts ---------------------------------------------------------------------
    def _apply_levels(self) -> None:
        self.view.set_levels(lv for lv, b in self.level_buttons.items() if b.isChecked())

    def _show_counts(self, counts: dict) -> None:
        colors = level_colors(self.view.palette())
        for level, b in self.level_buttons.items():
            n = counts.get(level)
            b.setText(LEVEL_CAPTIONS[level] if n is None else f"{LEVEL_CAPTIONS[level]} ({n:,})")
            color = colors.get(level) if n else None
            style = f"color: {color.name()};" if color is not None else ""
            if b.styleSheet() != style:  # a style sheet set re-polishes the button
                b.setStyleSheet(style)

    # --- saving --------------------------------------------------------------------------------
    def ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the log", "run-log.txt", "Text files (*.txt *.log);;All files (*)"
        )
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> None:
        """Write the lines held (with their times) to ``path`` off the GUI thread."""
        lines = self.view.export_lines()
        self.save_button.setEnabled(False)
        self.message.setText("Saving…")
        run_in_background(lambda: save_log(path, lines), self._on_saved, self._on_save_failed)
        self._saving = path

    def _on_saved(self, _size: int) -> None:
        self.save_button.setEnabled(True)
        text = f"Saved to {self._saving}"
        self.message.setText(text)
        self.message.setToolTip(self._saving)
        self.saved.emit(text)

    def _on_save_failed(self, err: Exception) -> None:
        self.save_button.setEnabled(True)
        text = str(err)
        self.message.setText(text)
        self.message.setToolTip(text)
        self.saved.emit(text)


__all__ = ["LogPanel"]
