"""New dataset from audio: choose folders and settings, see what RAVE will read, run
`rave preprocess` with its progress and log, and register what it wrote."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QCloseEvent, QIntValidator
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError, ValidationError
from ...backend.jobs.audio import AudioScan, scan_audio
from ...backend.jobs.preflight import PreflightReport, preflight
from ...backend.jobs.preprocess import (
    DEFAULT_SAMPLE_RATE,
    MAX_CHANNELS,
    SAMPLE_RATES,
    PreprocessMonitor,
    PreprocessRequest,
    default_log_folder,
    default_output_folder,
    launch_command,
    preprocess_argv,
)
from ...backend.manager import TrainingManager
from ...backend.store.names import check_name
from ...backend.system.units import format_bytes, format_duration
from ...core.jobs import CANCELLED, PreprocessJob
from ...core.worker import run_in_background
from ..widgets.feedback import ERROR, WARNING, FieldError
from ..widgets.log_view import LogView

IDLE, SCANNING, RUNNING, DONE = "idle", "scanning", "running", "done"


class NewDatasetDialog(QDialog):
    """See the module docstring. ``registered`` carries the new dataset's id; the dialog then
    closes itself. With ``auto_start`` it starts as soon as its checks pass (the demo)."""

    registered = pyqtSignal(int)
    scan_finished = pyqtSignal()
    preprocess_finished = pyqtSignal(bool, str)

    def __init__(
        self,
        manager: TrainingManager,
        project_id: int,
        rave_executable: str,
        parent: QWidget | None = None,
        *,
        folders: list[str] | None = None,
        output: str = "",
        name: str = "",
        auto_start: bool = False,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.project_id = project_id
        self.rave_executable = rave_executable
        self.auto_start = auto_start
        self.state = IDLE
        self.scan: AudioScan | None = None
        self.report: PreflightReport | None = None
        self.job: PreprocessJob | None = None
        self.request: PreprocessRequest | None = None
        self.registered_id: int | None = None
        self.result_message = ""
        self.result_text = ""  # what a successful preprocess made ("36 examples, ...")
        self._scan_generation = 0
        self._close_when_stopped = False
        self._name_touched = bool(name)
        self._output_touched = bool(output)
        self.setWindowTitle("New dataset from audio")

        intro = QLabel(
            "RAVE trains on a preprocessed dataset. Choose folders of audio files "
            "(wav, aiff, flac, mp3, ogg, opus, aac; sub-folders included): `rave preprocess` "
            "decodes them with ffmpeg into a new dataset folder, which is then registered in "
            "this project."
        )
        intro.setWordWrap(True)

        style = self.style()
        self.folder_list = QListWidget()
        self.folder_list.setMaximumHeight(96)
        self.add_folder_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "Add folder…"
        )
        self.remove_folder_button = QPushButton("Remove")
        self.add_folder_button.clicked.connect(lambda: self.browse_folder())
        self.remove_folder_button.clicked.connect(lambda: self.remove_selected_folder())
        self.folder_list.itemSelectionChanged.connect(self._update)
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(self.add_folder_button)
        folder_buttons.addWidget(self.remove_folder_button)
        folder_buttons.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_list, 1)
        folder_row.addLayout(folder_buttons)
        self.scan_label = QLabel("No folder chosen yet.")
        self.scan_label.setWordWrap(True)
        self.problem_label = FieldError(self)
        self.warning_label = FieldError(self, kind=WARNING)

        self.name_edit = QLineEdit(name)
        self.name_edit.setPlaceholderText("e.g. cello")
        self.name_edit.textEdited.connect(self._name_edited)
        self.name_edit.textChanged.connect(lambda _t: self._check())
        self.output_edit = QLineEdit(output)
        self.output_edit.setPlaceholderText("/path/to/new/dataset/folder")
        self.output_edit.textEdited.connect(self._output_edited)
        self.output_edit.textChanged.connect(lambda _t: self._check())
        self.browse_output_button = QPushButton("Browse…")
        self.browse_output_button.clicked.connect(lambda: self.browse_output())
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(self.browse_output_button)

        self.channels_spin = QSpinBox()
        self.channels_spin.setRange(1, MAX_CHANNELS)
        self.channels_spin.setToolTip("Channels of the dataset (and of the model trained on it)")
        self.channels_spin.valueChanged.connect(lambda _v: self._check())
        self.rate_combo = QComboBox()
        self.rate_combo.setEditable(True)
        self.rate_combo.setValidator(QIntValidator(8000, 384000, self))
        for sr in SAMPLE_RATES:
            self.rate_combo.addItem(f"{sr}", sr)
        self.rate_combo.setCurrentText(str(DEFAULT_SAMPLE_RATE))
        self.rate_combo.setToolTip("Audio is resampled to this rate (Hz); RAVE's default: 44100")
        self.rate_combo.currentTextChanged.connect(lambda _t: self._check())
        self.lazy_check = QCheckBox("Lazy: keep the audio where it is, decode it while training")
        self.lazy_check.setToolTip(
            "A lazy dataset stores only the file list (fast, little disk), but every training "
            "step decodes audio with ffmpeg again: slower training."
        )
        self.lazy_check.toggled.connect(lambda _on: self._check())
        self.estimate_label = QLabel("–")
        self.estimate_label.setWordWrap(True)

        form = QFormLayout()
        folder_box = QVBoxLayout()
        folder_box.setSpacing(4)
        folder_box.addLayout(folder_row)
        folder_box.addWidget(self.scan_label)
        folder_box.addWidget(self.problem_label)
        folder_box.addWidget(self.warning_label)
        form.addRow("Audio folders:", folder_box)
        form.addRow("Dataset name:", self.name_edit)
        form.addRow("Output folder:", output_row)
        format_row = QHBoxLayout()
        format_row.addWidget(self.channels_spin)
        format_row.addSpacing(16)
        format_row.addWidget(QLabel("Sample rate:"))
        format_row.addWidget(self.rate_combo)
        format_row.addWidget(QLabel("Hz"))
        format_row.addStretch(1)
        form.addRow("Channels:", format_row)
        form.addRow("", self.lazy_check)
        form.addRow("Result:", self.estimate_label)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 0)
        self.progress_label = QLabel()
        self.log_view = LogView(self)
        self.log_view.setMinimumHeight(140)
        self.error_label = FieldError(self)
        for w in (self.progress_bar, self.progress_label, self.log_view):
            w.hide()

        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton(
            "Create dataset", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(lambda: self.cancel_or_close())

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.log_view, 1)
        layout.addWidget(self.error_label)
        layout.addStretch(0)  # spare height goes here until the log is shown
        layout.addWidget(self.buttons)
        self.setMinimumWidth(680)

        for f in folders or []:
            self._add_folder(f)
        self._rescan()

    # --- inputs --------------------------------------------------------------------------------
    def folders(self) -> list[str]:
        return [self.folder_list.item(i).text() for i in range(self.folder_list.count())]

    def browse_folder(self) -> None:
        start = self.folders()[-1] if self.folders() else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Folder of audio files", start)
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        if self._add_folder(folder):
            self._rescan()

    def _add_folder(self, folder: str) -> bool:
        text = str(Path(folder).expanduser())
        if not text or text in self.folders():
            return False
        self.folder_list.addItem(text)
        if not self._name_touched:
            self.name_edit.setText(_name_for(Path(self.folders()[0])))
        return True

    def remove_selected_folder(self) -> None:
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))
        self._rescan()

    def browse_output(self) -> None:
        current = self.output_edit.text().strip()
        start = str(Path(current).parent) if current else str(default_output_folder("x").parent)
        folder = QFileDialog.getExistingDirectory(self, "Where to write the dataset", start)
        if folder:
            self.set_output(folder)

    def set_output(self, folder: str) -> None:
        self._output_touched = True
        self.output_edit.setText(folder)

    def _name_edited(self, _text: str) -> None:
        self._name_touched = True

    def _output_edited(self, _text: str) -> None:
        self._output_touched = True

    def sample_rate(self) -> int | None:
        try:
            value = int(self.rate_combo.currentText().strip())
        except ValueError:
            return None
        return value if value > 0 else None

    def current_request(self) -> PreprocessRequest:
        return PreprocessRequest(
            input_paths=self.folders(),
            output_path=self.output_edit.text().strip(),
            channels=self.channels_spin.value(),
            sample_rate=self.sample_rate() or 0,
            lazy=self.lazy_check.isChecked(),
        )

    # --- scanning (off the GUI thread) ---------------------------------------------------------
    def _rescan(self) -> None:
        self._scan_generation += 1
        generation = self._scan_generation
        folders = self.folders()
        self.scan = None
        if not folders:
            self.state = IDLE
            self.scan_label.setText("No folder chosen yet: add one or more folders of audio.")
            self._check()
            return
        self.state = SCANNING
        self.scan_label.setText("Looking for audio files…")
        self._check()

        def done(scan: AudioScan) -> None:
            if generation == self._scan_generation:
                self._scan_done(scan)

        def failed(err: Exception) -> None:
            if generation == self._scan_generation:
                self.state = IDLE
                self.scan_label.setText(f"Cannot read the folders: {err}")
                self._check()
                self.scan_finished.emit()

        run_in_background(lambda: scan_audio(folders), done, failed)

    def _scan_done(self, scan: AudioScan) -> None:
        self.scan = scan
        self.state = IDLE
        self.scan_label.setText(scan.summary() if scan.files else "No audio file found yet.")
        self._check()
        self.scan_finished.emit()
        if self.auto_start and self.report is not None and self.report.ok:
            self.auto_start = False
            self.start()

    # --- checks --------------------------------------------------------------------------------
    def _name_problem(self) -> str | None:
        try:
            name = check_name(self.name_edit.text(), "dataset")
        except ValidationError as err:
            return str(err)
        taken = {d.name for d in self.manager.datasets.all(self.project_id)}
        if name in taken:
            return f"This project already has a dataset named {name!r}."
        return None

    def _check(self) -> None:
        """Re-run the pre-flight on the scanned files with the current settings (cheap)."""
        if self.state in (RUNNING, DONE):
            return
        name = self.name_edit.text().strip()
        if not self._output_touched and name:
            self.output_edit.blockSignals(True)
            self.output_edit.setText(str(default_output_folder(_safe_folder(name))))
            self.output_edit.blockSignals(False)
        problems: list[str] = []
        warnings: list[str] = []
        self.report = None
        name_problem = self._name_problem() if name else "Give the dataset a name."
        if self.scan is not None:
            self.report = preflight(self.current_request(), self.scan)
            problems += self.report.problems
            warnings += self.report.warnings
        if name_problem and (name or self.scan is not None):
            problems.append(name_problem)
        if self.report is not None and name_problem:
            self.report.problems.append(name_problem)
        self.problem_label.set_error("\n".join(problems) or None)
        self.warning_label.set_error("\n".join(warnings) or None)
        self._show_estimate()
        self._update()

    def _show_estimate(self) -> None:
        req = self.current_request()
        if self.report is None or not req.sample_rate:
            self.estimate_label.setText("–")
            return
        chunk_s = req.chunk_seconds()
        n = self.report.expected_chunks
        size = "a file list only" if req.lazy else f"about {format_bytes(self.report.needed_bytes)}"
        self.estimate_label.setText(
            f"about {n:,} examples of {chunk_s:.2f} s · {size} on disk"
            + (
                f" ({format_bytes(self.report.free_bytes)} free)"
                if self.report.free_bytes is not None
                else ""
            )
        )

    def _update(self) -> None:
        running = self.state == RUNNING
        editable = self.state in (IDLE, SCANNING)
        for w in (
            self.folder_list,
            self.add_folder_button,
            self.name_edit,
            self.output_edit,
            self.browse_output_button,
            self.channels_spin,
            self.rate_combo,
            self.lazy_check,
        ):
            w.setEnabled(editable)
        self.remove_folder_button.setEnabled(editable and bool(self.folder_list.selectedItems()))
        ready = self.state == IDLE and self.report is not None and self.report.ok
        self.start_button.setEnabled(ready)
        self.start_button.setVisible(self.state != DONE)
        self.cancel_button.setText("Cancel preprocessing" if running else "Cancel")

    # --- running -------------------------------------------------------------------------------
    def start(self) -> PreprocessJob | None:
        """Check once more and start the job that runs `rave preprocess` and registers its
        dataset (returned)."""
        if self.state != IDLE or self.scan is None:
            return None
        self._check()
        if self.report is None or not self.report.ok:
            return None
        request = self.current_request()
        try:
            argv = preprocess_argv(self.rave_executable, request)
            command = launch_command(argv)
        except RaveGuiError as err:
            self.error_label.set_error(str(err))
            return None
        self.request = request
        self.error_label.set_error(None)
        self.state = RUNNING
        self._update()
        self.progress_bar.setRange(0, 100 if self.report.expected_chunks else 0)
        self.progress_bar.setValue(0)
        self.progress_label.setText("Starting rave preprocess…")
        self.log_view.clear()
        self.log_view.append_lines([("$ " + " ".join(argv), "info")])
        for w in (self.progress_bar, self.progress_label, self.log_view):
            w.show()
        job = PreprocessJob(
            self.manager,
            self.project_id,
            command,
            request,
            name=self.name_edit.text().strip(),
            log_folder=default_log_folder(request.output_path),
            monitor=PreprocessMonitor.for_request(request, self.scan),
            parent=self,
        )
        job.lines_received.connect(self.log_view.append_lines)
        job.progress.connect(self._on_progress)
        job.ended.connect(self._on_finished)
        self.job = job
        job.start()
        return job

    def _on_progress(self, percent: int, text: str) -> None:
        if percent >= 0:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(percent)
        self.progress_label.setText(text)

    def _on_finished(self, ok: bool, message: str) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.wait(10_000)
            job.deleteLater()
        run = job.result if job is not None else None
        self.progress_bar.setRange(0, 100)
        if not ok:
            if message == CANCELLED:
                text = "Cancelled: nothing was registered."
            elif run is not None and run.info is not None and run.dataset_id is None:
                text = f"{message} Register it with “Register a preprocessed folder”."
            elif message.startswith(("rave preprocess", "The dataset")):
                text = message
            else:
                text = f"rave preprocess failed: {message}"
            self._failed(run.failure_text(text) if run is not None else text)
            return
        assert run is not None and run.info is not None and run.dataset_id is not None
        info, dataset_id = run.info, run.dataset_id
        self.state = DONE
        self.registered_id = dataset_id
        self.result_message = "done"
        self.progress_bar.setValue(100)
        self.result_text = (
            f"{info.n_examples or 0:,} examples, {format_duration(info.duration_s)} of audio"
        )
        self.progress_label.setText(f"Done: {self.result_text}.")
        self._update()
        self.preprocess_finished.emit(True, "done")
        self.registered.emit(dataset_id)
        self.accept()

    def _failed(self, text: str) -> None:
        self.state = IDLE
        self.result_message = text
        self.error_label.set_kind(ERROR)
        self.error_label.set_error(text)
        self.progress_label.setText("Stopped." if "Cancelled" in text else "Failed.")
        self._check()
        self.preprocess_finished.emit(False, text)
        if self._close_when_stopped:
            QDialog.reject(self)

    def is_running(self) -> bool:
        return self.state == RUNNING

    def cancel(self) -> None:
        """Stop a running preprocess (its whole process group); ``preprocess_finished`` follows."""
        if self.job is not None:
            self.progress_label.setText("Stopping…")
            self.job.cancel()

    def cancel_or_close(self) -> None:
        if self.is_running():
            self.cancel()
        else:
            self.reject()

    def shutdown(self) -> None:
        """Stop the command and wait for its thread (closing the window, ending a test)."""
        job = self.job
        if job is not None:
            job.cancel()
            job.wait(20_000)

    def reject(self) -> None:
        if self.is_running():
            self._close_when_stopped = True  # it closes once the command has ended
            self.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if self.is_running() and event is not None:
            self.reject()
            event.ignore()
            return
        super().closeEvent(event)


def _name_for(folder: Path) -> str:
    name = folder.name or "dataset"
    if name.lower() in {"audio", "wav", "samples", "sounds", "data"} and folder.parent.name:
        name = folder.parent.name
    return name


def _safe_folder(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.")
    return safe or "dataset"


__all__ = ["NewDatasetDialog"]
