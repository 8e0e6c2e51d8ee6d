"""The new-training wizard's "Where" page: this computer, or a target (an SSH host, a SLURM
cluster) with the dataset's path there. Choosing a target connects to it in the background
(RAVE found and inspected there), so the confirmation page can show exactly what will run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from ...backend.errors import RaveGuiError
from ...backend.rave.command import TrainSettings
from ...backend.rave.runfolder import safe_name
from ...backend.remote.runs import RemoteRave, plan, probe
from ...backend.remote.ssh import Connection
from ...backend.remote.upload import UploadResult, human_bytes, upload_dataset
from ...backend.store.targets import Target, TargetStore
from ...core.worker import BackgroundTask, run_in_background
from ..widgets.feedback import FieldError

if TYPE_CHECKING:
    from .new_training import NewTrainingWizard

LOCAL = "This computer"
UPLOAD_TEXT = "&Upload this dataset to the target"


class _Progress(QObject):
    """Bytes done/total, emitted from the upload's thread, delivered on the GUI thread."""

    moved = pyqtSignal(int, int)


class WherePage(QWizardPage):
    """Where the run executes (default: this computer)."""

    def __init__(self, wizard: NewTrainingWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Where")
        self.setSubTitle("Train on this computer, or on a target (Targets page).")
        self.combo = QComboBox()
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setPlaceholderText("/scratch/me/datasets/strings (preprocessed)")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.error = FieldError(self)
        form = QFormLayout()
        form.addRow("&Run on:", self.combo)
        form.addRow("&Dataset on the target:", self.dataset_edit)
        self.upload_button = QPushButton(UPLOAD_TEXT)
        self.upload_button.setToolTip(
            "Copy the dataset chosen on the first page to the target's work folder "
            "(datasets/NAME there); the run then uses that copy."
        )
        self.upload_bar = QProgressBar()
        self.upload_bar.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.upload_button)
        layout.addWidget(self.upload_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.targets: list[Target] = []
        self.remote: tuple[RemoteRave, str] | None = None  # the target's RAVE and home folder
        self._task: BackgroundTask | None = None
        self._upload: BackgroundTask | None = None
        self._stop_upload = False
        self._progress = _Progress(self)
        self._progress.moved.connect(self._moved)
        self.upload_button.clicked.connect(self.upload)
        self.destroyed.connect(self._cancel_upload)
        self.combo.currentIndexChanged.connect(self._chosen)
        self.dataset_edit.textChanged.connect(self.completeChanged)

    def initializePage(self) -> None:
        if self.combo.count():
            return  # kept when going back and forth
        self.targets = TargetStore(self._wizard.manager.db).all()
        self.combo.addItem(LOCAL)
        for t in self.targets:
            self.combo.addItem(f"{t.name} ({t.describe()})")
        ds = self._wizard.dataset_page.dataset()
        if ds is not None:
            self.dataset_edit.setText(ds.path)
        self._chosen()

    def describe(self) -> str:
        """The Where row of the confirmation page."""
        if self.target() is None:
            return LOCAL
        return f"{self.combo.currentText()}, dataset {self.dataset_edit.text().strip()} there"

    def has_targets(self) -> bool:
        return bool(TargetStore(self._wizard.manager.db).all())

    def target(self) -> Target | None:
        i = self.combo.currentIndex()
        return self.targets[i - 1] if i > 0 else None

    def _chosen(self) -> None:
        target = self.target()
        self.remote = None
        self.error.set_error(None)
        self.dataset_edit.setEnabled(target is not None)
        self.upload_button.setEnabled(False)
        if target is None:
            self.status.setText("The run executes here, as usual.")
            self.completeChanged.emit()
            return
        self.status.setText(f"Connecting to {target.name}…")

        def connect() -> tuple[RemoteRave, str]:
            conn = Connection(target)
            home = conn.run("pwd").text.strip()
            return probe(conn, target), home

        self._task = run_in_background(connect, self._connected, self._failed)
        self.completeChanged.emit()

    def _connected(self, result: tuple[RemoteRave, str]) -> None:
        self._task = None
        self.remote = result
        rave = result[0]
        version = rave.install.version if rave.install else "?"
        self.status.setText(f"RAVE {version} at {rave.executable} on the target.")
        self.upload_button.setEnabled(self._wizard.dataset_page.dataset() is not None)
        self.completeChanged.emit()

    def upload(self) -> None:
        """Copy the first page's dataset to the target, off the GUI thread, with progress;
        the run then uses the copy."""
        target, ds = self.target(), self._wizard.dataset_page.dataset()
        if self._upload is not None:  # the button cancels a running upload
            self._stop_upload = True
            self.status.setText("Cancelling the upload…")
            return
        if target is None or ds is None:
            return
        self._stop_upload = False
        self.error.set_error(None)
        self.upload_button.setText("Cancel &upload")
        self.combo.setEnabled(False)
        self.upload_bar.setRange(0, 1000)
        self.upload_bar.setValue(0)
        self.upload_bar.show()
        self.status.setText(f"Uploading {ds.path} to {target.name}…")
        progress = self._progress

        def work() -> UploadResult:
            return upload_dataset(
                Connection(target), ds.path, progress=progress.moved.emit,
                should_stop=lambda: self._stop_upload,
            )  # fmt: skip

        self._upload = run_in_background(work, self._uploaded, self._upload_failed)
        self.completeChanged.emit()

    def uploading(self) -> bool:
        return self._upload is not None

    def _cancel_upload(self) -> None:
        self._stop_upload = True

    def _moved(self, done: int, total: int) -> None:
        self.upload_bar.setValue(int(1000 * done / total) if total else 1000)
        self.upload_bar.setFormat(f"{human_bytes(done)} of {human_bytes(total)}")

    def _upload_ended(self) -> None:
        self._upload = None
        self.combo.setEnabled(True)
        self.upload_button.setText(UPLOAD_TEXT)

    def _uploaded(self, result: UploadResult) -> None:
        self._upload_ended()
        self.dataset_edit.setText(result.remote_path)
        self.status.setText(
            f"Uploaded ({human_bytes(result.bytes_total)}, {result.files} files, "
            f"{result.method}): the run uses {result.remote_path} on the target."
        )
        self.completeChanged.emit()

    def _upload_failed(self, err: Exception) -> None:
        self._upload_ended()
        self.upload_bar.hide()
        self._failed(err)

    def _failed(self, err: Exception) -> None:
        self._task = None
        text = str(err) if isinstance(err, RaveGuiError) else f"{type(err).__name__}: {err}"
        self.status.setText("")
        self.error.set_error(f"{text}\n(Check the target on the Targets page.)")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        if self.target() is None:
            return True
        if self._upload is not None:
            return False
        return self.remote is not None and bool(self.dataset_edit.text().strip())

    def preview(self, settings: TrainSettings) -> str:
        """What runs on the target: the SSH command line or the whole sbatch script (the run
        folder's name is only known once the run is recorded)."""
        target = self.target()
        if target is None or self.remote is None:
            return ""
        settings.dataset_path = self.dataset_edit.text().strip()
        rave, home = self.remote
        folder = f"<id>-{safe_name(settings.name)}-<random>"  # as runfolder names it
        return plan(target, settings.name, settings, rave, folder, home)[2]


__all__ = ["WherePage"]
