"""Asking what to do with running trainings when the window closes, and showing them stop."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

KEEP, STOP, CANCEL = "keep", "stop", "cancel"


class CloseRunsDialog(QDialog):
    """Three choices: keep the runs going without the window (default), stop them, or cancel
    the close. ``choice()`` says which was taken (Escape and the title bar mean cancel)."""

    def __init__(self, n_active: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Training in progress")
        self._choice = CANCEL
        runs = "1 training run is" if n_active == 1 else f"{n_active} training runs are"
        icon = QLabel()
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxQuestion).pixmap(40, 40)
        )
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        text = QLabel(f"<b>{runs} still active.</b>")
        text.setTextFormat(Qt.TextFormat.RichText)
        details = QLabel(
            "Runs keep training without the window: the next time rave-gui starts it picks "
            "them up again, with everything they logged meanwhile.\n\n"
            "Stopping interrupts them now; their last checkpoint is kept and they can be "
            "resumed from it later."
        )
        details.setWordWrap(True)

        self.keep_button = QPushButton("Keep running")
        self.stop_button = QPushButton(
            "Stop the run" if n_active == 1 else f"Stop all {n_active} runs"
        )
        self.cancel_button = QPushButton("Cancel")
        buttons = QDialogButtonBox()
        buttons.addButton(self.keep_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.stop_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.keep_button.setDefault(True)
        self.keep_button.setAutoDefault(True)
        self.stop_button.setAutoDefault(False)
        self.cancel_button.setAutoDefault(False)
        self.keep_button.clicked.connect(lambda: self._choose(KEEP))
        self.stop_button.clicked.connect(lambda: self._choose(STOP))
        self.cancel_button.clicked.connect(lambda: self._choose(CANCEL))

        body = QVBoxLayout()
        body.addWidget(text)
        body.addWidget(details)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addLayout(body, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addSpacing(8)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)
        self.keep_button.setFocus()

    def _choose(self, choice: str) -> None:
        self._choice = choice
        if choice == CANCEL:
            self.reject()
        else:
            self.accept()

    def reject(self) -> None:
        # Escape and the title bar's close button land here too: the window stays open.
        self._choice = CANCEL
        super().reject()

    def choice(self) -> str:
        """KEEP, STOP or CANCEL."""
        return self._choice


class StoppingRunsDialog(QDialog):
    """A small window-modal note while the runs stop at close ("Stopping 2 runs… (SIGINT
    sent, waiting)"): a busy bar and the latest word from the controller. It cannot be
    dismissed; the window closes it when the runs are stopped."""

    def __init__(self, n_runs: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Stopping runs")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)
        runs = "the run" if n_runs == 1 else f"{n_runs} runs"
        self.label = QLabel(f"Stopping {runs}…")
        self.label.setWordWrap(True)
        bar = QProgressBar()
        bar.setRange(0, 0)  # busy: how long RAVE takes to stop is not known
        bar.setTextVisible(False)
        note = QLabel("Each run is interrupted gracefully; its last checkpoint is kept.")
        note.setEnabled(False)  # the palette's dimmed text
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(bar)
        layout.addWidget(note)
        self.setMinimumWidth(380)

    def set_text(self, text: str) -> None:
        self.label.setText(text)

    def reject(self) -> None:
        pass  # Escape: the runs are being stopped, there is nothing to cancel
