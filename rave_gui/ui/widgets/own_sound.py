"""Try your own sound: a WAV file through one of the run's models (a checkpoint or an exported
.ts), reconstructed in RAVE's Python by a job off the GUI thread (torch never loads in the
app), then heard in the Listen panel against the original with the same views and A/B switch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.jobs.reconstruct import check_reconstruct, run_models
from ...backend.rave.audio import AudioClip, ClipAudio, decode_wav, spectrogram_db
from ...backend.system.settings import load_settings
from ...core.jobs import CANCELLED, ReconstructJob
from .feedback import INFO, FieldError

OTHER_MODEL = "Another model file…"


def load_own_sound(
    source: str | os.PathLike[str], output: str | os.PathLike[str], index: int
) -> tuple[ClipAudio, list[tuple[np.ndarray, np.ndarray]]]:
    """Off the GUI thread: the original and its reconstruction as a one-example clip (the
    Listen panel's A and B) with their spectrograms. ``index`` (negative) names the clip."""
    rate, original = decode_wav(Path(source).read_bytes())
    out_rate, rebuilt = decode_wav(Path(output).read_bytes())
    if out_rate != rate:
        raise RaveGuiError(
            f"The reconstruction is at {out_rate} Hz and the original at {rate} Hz: "
            "they cannot be compared."
        )
    frames = min(len(original), len(rebuilt))
    original, rebuilt = original[:frames], rebuilt[:frames]
    clip = AudioClip(
        index=index,
        tag="your sound",
        validation=-1,
        step=None,
        loss=None,
        wall_time=0.0,
        path=str(source),
        offset=0,
        length=0,
        sample_rate=rate,
        channels=original.shape[1],
        frames=frames,
        examples=1,
        n_signal=frames,
        model_channels=rebuilt.shape[1],
    )
    audio = ClipAudio(clip, rate, [original], [rebuilt])
    specs = [(spectrogram_db(original.mean(axis=1)), spectrogram_db(rebuilt.mean(axis=1)))]
    return audio, specs


class OwnSoundDialog(QDialog):
    """Pick a WAV file and a model of the run, reconstruct: a busy bar and the
    reconstructor's lines while it runs; a wrong sample rate (or an unreadable file) is said
    under the fields before anything starts. ``reconstructed(source, output, model)`` when
    the reconstruction is written; the dialog then closes."""

    reconstructed = pyqtSignal(str, str, str)

    def __init__(
        self,
        run_dir: str | None,
        out_dir: str | os.PathLike[str],
        rave_executable: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Try your own sound")
        self.run_dir = run_dir
        self.out_dir = Path(out_dir)
        self.rave_executable = rave_executable or load_settings().resolved_rave()
        self.job: ReconstructJob | None = None

        intro = QLabel(
            "Hear how this run's model renders a sound of yours: the file is encoded and "
            "decoded by the model (in RAVE's Python), then played against the original."
        )
        intro.setWordWrap(True)
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("a PCM .wav file at the model's sample rate")
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda _c: self.browse_source())
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_edit, 1)
        source_row.addWidget(browse)
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(24)
        for path in run_models(run_dir):
            self.model_combo.addItem(self._label(path), str(path))
        self.model_combo.addItem(OTHER_MODEL, None)
        self.model_combo.activated.connect(self._model_activated)
        self.error_label = FieldError(self)
        self.error_label.watch(self.source_edit, self.model_combo)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: the reconstructor says what it does, not how far
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status_label = FieldError(self, kind=INFO, reserve=False)

        form = QFormLayout()
        form.addRow("Sound:", source_row)
        form.addRow("Model:", self.model_combo)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton(
            "Reconstruct", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        assert self.start_button is not None and self.close_button is not None
        self.start_button.clicked.connect(lambda _c: self.start())
        self.close_button.clicked.connect(lambda _c: self.reject())
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)
        if self.model_combo.count() == 1:
            self.status_label.set_error(
                "This run has no checkpoint or exported model yet: choose a model file."
            )

    def _label(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.run_dir)) if self.run_dir else path.name
        except ValueError:
            return path.name

    # --- choices -------------------------------------------------------------------------------
    def browse_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Your sound", self.source_edit.text(), "WAV files (*.wav *.WAV)"
        )
        if path:
            self.source_edit.setText(path)

    def set_model(self, path: str) -> None:
        """Choose ``path`` (added to the list when it is not one of the run's)."""
        i = self.model_combo.findData(path)
        if i < 0:
            self.model_combo.insertItem(0, Path(path).name, path)
            i = 0
        self.model_combo.setCurrentIndex(i)

    def _model_activated(self, index: int) -> None:
        if self.model_combo.itemData(index) is not None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "A RAVE model", self.run_dir or "", "RAVE models (*.ts *.ckpt)"
        )
        if path:
            self.set_model(path)

    def model(self) -> str | None:
        return self.model_combo.currentData()

    def output_path(self) -> Path:
        return self.out_dir / f"{Path(self.source_edit.text().strip()).stem}-reconstructed.wav"

    # --- the job -------------------------------------------------------------------------------
    def start(self) -> ReconstructJob | None:
        """Check the files (a wrong sample rate is said here, before torch loads), then start
        the reconstruction off the GUI thread; None when a check refused."""
        if self.job is not None:
            return self.job
        source, model = self.source_edit.text().strip(), self.model()
        if not source:
            self.error_label.set_error("Choose a WAV file.")
            return None
        if not model:
            self.error_label.set_error("Choose a model: a checkpoint (.ckpt) or an exported .ts.")
            return None
        output = self.output_path()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            check_reconstruct(model, source, output)
        except (RaveGuiError, OSError) as err:
            self.error_label.set_error(str(err))
            return None
        self.error_label.set_error(None)
        self.status_label.set_error(f"Starting RAVE's Python with {Path(model).name}…")
        self.progress.show()
        self.start_button.setEnabled(False)
        self.source_edit.setEnabled(False)
        self.model_combo.setEnabled(False)
        job = ReconstructJob(self.rave_executable, model, source, str(output), parent=self)
        job.lines_received.connect(self._lines)
        job.ended.connect(lambda ok, message: self._ended(ok, message, source, str(output), model))
        self.job = job
        job.start()
        return job

    def _lines(self, lines: list[tuple[str, str]]) -> None:
        if lines:
            text = lines[-1][0].removeprefix("rave-gui: reconstruct ")
            self.status_label.set_error(text[:1].upper() + text[1:] + "…")

    def _ended(self, ok: bool, message: str, source: str, output: str, model: str) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.wait(10_000)
            job.deleteLater()
        self.progress.hide()
        self.start_button.setEnabled(True)
        self.source_edit.setEnabled(True)
        self.model_combo.setEnabled(True)
        if not ok:
            self.status_label.set_error(None)
            if message != CANCELLED:
                self.error_label.set_error(message)
            return
        self.status_label.set_error(message)
        self.reconstructed.emit(source, output, model)
        self.accept()

    def is_running(self) -> bool:
        return self.job is not None

    def shutdown(self) -> None:
        """Stop a reconstruction still running and wait for its thread."""
        job = self.job
        if job is not None:
            job.cancel()
            job.wait(15_000)

    def reject(self) -> None:
        if self.job is not None:  # Cancel while it runs: stop it, the dialog stays
            self.status_label.set_error("Stopping…")
            self.job.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if self.job is not None and event is not None:
            self.job.cancel()
            event.ignore()
            return
        super().closeEvent(event)


__all__ = ["OTHER_MODEL", "OwnSoundDialog", "load_own_sound"]
