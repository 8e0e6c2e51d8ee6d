"""The Datasets page: the current project's preprocessed datasets; make one from audio (or a
demo), register, rename, remove (keeping or deleting the files)."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCommandLinkButton,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.jobs.demo import synthesize_audio
from ...backend.jobs.preprocess import discard_output, remove_dataset
from ...backend.manager import TrainingManager
from ...backend.rave.dataset import folder_size, read_dataset
from ...backend.store.records import Dataset
from ...backend.system.paths import data_dir
from ...backend.system.settings import Settings, load_settings
from ...backend.system.units import format_bytes
from ...core.signals import AppSignals
from ...core.worker import run_in_background
from ..dialogs.confirm import ConfirmBox, tell_refused
from ..dialogs.name_dialog import NameDialog
from ..dialogs.new_dataset import NewDatasetDialog
from ..dialogs.register_dataset import RegisterDatasetDialog
from ..models.record_table import (
    select_record,
    selected_record,
)
from ..widgets.dataset_table import SizedDataset, configure_table, dataset_model
from ..widgets.feedback import ERROR, INFO, MessageBar

# The empty state's choices: framed so that they read as buttons in every style and palette.
_CHOICE_STYLE = (
    "QCommandLinkButton { border: 1px solid palette(mid); border-radius: 6px; "
    "padding: 8px 10px; } "
    "QCommandLinkButton:hover { border-color: palette(highlight); }"
)


class RemoveDatasetBox(ConfirmBox):
    """Remove a dataset: keep its files (``accept_button``) or delete them too."""

    delete_files_button: QPushButton


class DatasetsPage(QWidget):
    """The datasets registered in the current project."""

    datasets_changed = pyqtSignal()

    title = "Datasets"

    def __init__(
        self,
        manager: TrainingManager,
        signals: AppSignals,
        parent: QWidget | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.signals = signals
        self.settings = settings
        self.project_id: int | None = None
        self.model, self.proxy = dataset_model(self)
        self.new_dataset_dialog: NewDatasetDialog | None = None
        self.demo_running = False
        self.removing = 0  # removals deleting files, off the GUI thread
        self._sizes: dict[str, int] = {}  # dataset path -> bytes on disk (measured off-thread)
        self._sizing = False

        self.heading = QLabel("Datasets")
        font = self.heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.heading.setFont(font)
        intro = QLabel(
            "Preprocessed RAVE datasets registered in this project, ready to train on. "
            "Registering a folder does not copy or change its files."
        )
        intro.setWordWrap(True)
        self.message = MessageBar(self)

        style = self.style()
        self.new_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogNewFolder),
            "New dataset from audio…",
        )
        self.new_button.clicked.connect(lambda: self.new_dataset())
        self.register_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "Register dataset…"
        )
        self.rename_button = QPushButton("Rename…")
        self.remove_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_TrashIcon), "Remove…"
        )
        self.register_button.clicked.connect(lambda: self.register_dataset())
        self.rename_button.clicked.connect(lambda: self.rename_selected())
        self.remove_button.clicked.connect(lambda: self.remove_selected())
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter datasets")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        configure_table(self.table, stretch_column=1)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _i: self.rename_selected())

        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.new_button)
        bar.addWidget(self.register_button)
        bar.addWidget(self.rename_button)
        bar.addWidget(self.remove_button)
        table_page = QWidget()
        tl = QVBoxLayout(table_page)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(bar)
        tl.addWidget(self.table, 1)

        # Empty state: what a dataset is and three ways to get one.
        empty_page = QWidget()
        el = QVBoxLayout(empty_page)
        el.addStretch(1)
        icon = QLabel()
        icon.setPixmap(style.standardIcon(QStyle.StandardPixmap.SP_DirIcon).pixmap(48, 48))
        icon.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.empty_title = QLabel("No datasets yet")
        tf = self.empty_title.font()
        tf.setPointSizeF(tf.pointSizeF() * 1.2)
        tf.setBold(True)
        self.empty_title.setFont(tf)
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        explain = QLabel(
            "RAVE learns from a folder of audio, preprocessed into a dataset. "
            "Start from your sounds, from a folder you already preprocessed, or from a short "
            "synthetic demo set to see the whole flow on any computer."
        )
        explain.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        explain.setWordWrap(True)
        self.empty_new_button = QCommandLinkButton(
            "Add audio…",
            "Choose folders of audio files (wav, aiff, flac, mp3…); the app runs "
            "rave preprocess and registers the result.",
        )
        self.empty_new_button.setIcon(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogNewFolder)
        )
        self.empty_new_button.clicked.connect(lambda: self.new_dataset())
        self.empty_register_button = QCommandLinkButton(
            "Register a preprocessed folder…",
            "A folder written by rave preprocess (it holds metadata.yaml); its files stay "
            "where they are.",
        )
        self.empty_register_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.empty_register_button.clicked.connect(lambda: self.register_dataset())
        self.demo_button = QCommandLinkButton(
            "Try with a demo dataset",
            "12 synthetic 20 s clips made and preprocessed here (about 20 MB, under a "
            "minute): enough to start a small CPU training.",
        )
        self.demo_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.demo_button.clicked.connect(lambda: self.try_demo())
        self.empty_status = QLabel()
        self.empty_status.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.empty_status.setWordWrap(True)
        self.empty_status.hide()
        choices = QVBoxLayout()
        for b in (self.empty_new_button, self.empty_register_button, self.demo_button):
            b.setIconSize(QSize(24, 24))
            b.setMaximumWidth(520)
            b.setStyleSheet(_CHOICE_STYLE)
            choices.addWidget(b)
        choice_row = QHBoxLayout()
        choice_row.addStretch(1)
        choice_row.addLayout(choices, 3)
        choice_row.addStretch(1)
        explain_row = QHBoxLayout()
        explain_row.addStretch(1)
        explain_row.addWidget(explain, 3)
        explain_row.addStretch(1)
        el.addWidget(icon)
        el.addWidget(self.empty_title)
        el.addLayout(explain_row)
        el.addSpacing(12)
        el.addLayout(choice_row)
        el.addWidget(self.empty_status)
        el.addStretch(2)

        self.stack = QStackedWidget()
        self.stack.addWidget(table_page)
        self.stack.addWidget(empty_page)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(intro)
        layout.addWidget(self.message)
        layout.addWidget(self.stack, 1)

        signals.runs_changed.connect(self.refresh)
        self._update_buttons()

    # --- page protocol -------------------------------------------------------------------------
    def set_project(self, project_id: int) -> None:
        if project_id != self.project_id:
            self.message.clear()
        self.project_id = project_id
        self.refresh()

    def refresh(self) -> None:
        if self.project_id is None:
            return
        try:
            project = self.manager.projects.get(self.project_id)
            records = self.manager.datasets.all(self.project_id)
        except RaveGuiError as err:
            self.message.show_message(str(err), ERROR)
            return
        self.heading.setText(f"Datasets of {project.name}")
        self.empty_title.setText(f"No datasets in {project.name} yet")
        self.model.set_records(SizedDataset.of(r, self._sizes.get(r.path)) for r in records)
        self.stack.setCurrentIndex(0 if records else 1)
        self._update_buttons()
        self._measure_sizes([r.path for r in records])

    def _measure_sizes(self, paths: list[str]) -> None:
        """Size on disk of each dataset folder, measured off the GUI thread."""
        if self._sizing or not paths:
            return
        self._sizing = True

        def measure() -> dict[str, int]:
            return {p: folder_size(Path(p)) for p in paths if Path(p).is_dir()}

        run_in_background(measure, self._sizes_measured, lambda _e: self._sizes_measured({}))

    def _sizes_measured(self, sizes: dict[str, int]) -> None:
        self._sizing = False
        if sizes != {p: self._sizes.get(p) for p in sizes}:
            self._sizes.update(sizes)
            self.model.set_records(
                SizedDataset.of(r, self._sizes.get(r.path)) for r in self.model.records()
            )

    def is_empty_state(self) -> bool:
        return self.stack.currentIndex() == 1

    # --- selection -----------------------------------------------------------------------------
    def selected_dataset(self) -> Dataset | None:
        return selected_record(self.table, self.proxy, self.model)

    def select_dataset(self, dataset_id: int) -> None:
        select_record(self.table, self.proxy, self.model, dataset_id)

    def _update_buttons(self) -> None:
        has = self.selected_dataset() is not None
        self.rename_button.setEnabled(has)
        self.remove_button.setEnabled(has and not self.removing)
        has_project = self.project_id is not None
        for b in (
            self.register_button,
            self.empty_register_button,
            self.new_button,
            self.empty_new_button,
        ):
            b.setEnabled(has_project)
        self.demo_button.setEnabled(has_project and not self.demo_running)

    # --- actions -------------------------------------------------------------------------------
    def register_dataset(self, path: str = "") -> RegisterDatasetDialog | None:
        """Open the registration dialog (non-blocking; returned for tests)."""
        if self.project_id is None:
            return None
        dialog = RegisterDatasetDialog(self.manager, self.project_id, self, path=path)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._registered(dialog.registered_id))
        dialog.open()
        return dialog

    def _registered(self, dataset_id: int | None) -> None:
        self.message.clear()
        self.refresh()
        if dataset_id is not None:
            self.select_dataset(dataset_id)
        self.datasets_changed.emit()

    def rename_selected(self) -> NameDialog | None:
        ds = self.selected_dataset()
        if ds is None:
            return None
        dataset_id = ds.id

        def rename(name: str) -> None:
            self.manager.datasets.rename(dataset_id, name)

        dialog = NameDialog(
            self,
            "Rename dataset",
            f"New name for the dataset {ds.name!r} (its folder is not renamed):",
            rename,
            text=ds.name,
            what="dataset",
            ok_text="Rename",
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self._changed)
        dialog.open()
        return dialog

    def _changed(self) -> None:
        self.message.clear()
        self.refresh()
        self.datasets_changed.emit()

    def remove_selected(self) -> RemoveDatasetBox | QMessageBox | None:
        """Ask whether to remove the selected dataset's registration only or its files too
        (non-blocking; the box is returned for tests: ``accept_button`` keeps the files,
        ``delete_files_button`` deletes them). When the backend refuses the removal anyway (an
        active run uses the dataset), the box says so instead, with OK only."""
        ds = self.selected_dataset()
        if ds is None:
            return None
        try:
            refused = self.manager.datasets.delete_refusal(ds.id)
        except RaveGuiError as err:
            refused = str(err)
        if refused:
            return tell_refused(
                self, "Remove dataset", f"The dataset {ds.name!r} cannot be removed now.", refused
            )
        n_exp = int(ds.n_experiments or 0)
        shared = [d for d in self.manager.datasets.all() if d.path == ds.path and d.id != ds.id]
        size = ds.size_bytes if isinstance(ds, SizedDataset) else None
        files = f"its dataset files ({format_bytes(size)})" if size else "its dataset files"
        details = (
            f"Choose whether the folder {ds.path} stays on disk, or {files} are deleted "
            "too (data.mdb, lock.mdb, metadata.yaml; anything else in the folder is kept)."
        )
        if n_exp:
            runs = "1 experiment uses" if n_exp == 1 else f"{n_exp} experiments use"
            details = (
                f"{runs} it. Removing the registration detaches "
                f"{'it' if n_exp == 1 else 'them'} from the dataset: they keep their history, "
                "metrics and config (which records the dataset's path).\n\n" + details
            )
        if shared:
            details += "\n\nThe files cannot be deleted: another project uses the same folder."
        box = RemoveDatasetBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Remove dataset")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"Remove the dataset {ds.name!r} from this project?")
        box.setInformativeText(details)
        keep_text = "Remove and detach" if n_exp else "Remove registration"
        box.accept_button = box.addButton(keep_text, QMessageBox.ButtonRole.AcceptRole)
        box.delete_files_button = box.addButton(
            "Remove and delete files", QMessageBox.ButtonRole.DestructiveRole
        )
        box.delete_files_button.setEnabled(not shared)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dataset_id, name = ds.id, ds.name

        def finished(_result: int) -> None:
            clicked = box.clickedButton()
            if clicked is box.accept_button:
                self._remove(dataset_id, name)
            elif clicked is box.delete_files_button:
                self._remove(dataset_id, name, delete_files=True)

        box.finished.connect(finished)
        box.open()
        return box

    def _remove(self, dataset_id: int, name: str, *, delete_files: bool = False) -> None:
        """Remove the registration through the backend; deleting the files runs off the GUI
        thread (a large dataset takes a while), the message follows when it is done."""
        if not delete_files:
            try:
                remove_dataset(self.manager, dataset_id)
            except RaveGuiError as err:
                self.message.show_message(str(err), ERROR)
                return
            self.message.show_message(f"Dataset {name!r} removed; its files are kept.", INFO)
            self._changed_after_removal()
            return
        manager = self.manager
        self.removing += 1
        self.message.show_message(f"Removing {name!r} and deleting its files…", INFO)
        self._update_buttons()
        for r in self.model.records():  # its size is measured again if the folder stays
            if r.id == dataset_id:
                self._sizes.pop(r.path, None)
        run_in_background(
            lambda: remove_dataset(manager, dataset_id, delete_files=True),
            lambda left: self._files_removed(name, left),
            self._remove_failed,
        )

    def _files_removed(self, name: str, left: list[Path]) -> None:
        self.removing -= 1
        kept = f" ({len(left)} other item(s) in the folder kept)" if left else ""
        self.message.show_message(f"Dataset {name!r} removed and its files deleted{kept}.", INFO)
        self._changed_after_removal()

    def _remove_failed(self, err: Exception) -> None:
        self.removing -= 1
        self.message.show_message(str(err), ERROR)
        self._changed_after_removal()  # the registration may be gone even so

    def _changed_after_removal(self) -> None:
        self.refresh()
        self.datasets_changed.emit()

    # --- new datasets from audio, and the demo -------------------------------------------------
    def rave_executable(self) -> str:
        return (self.settings or load_settings()).resolved_rave()

    def new_dataset(
        self,
        folders: list[str] | None = None,
        *,
        output: str = "",
        name: str = "",
        auto_start: bool = False,
    ) -> NewDatasetDialog | None:
        """Open the New dataset from audio dialog (non-blocking; returned for tests)."""
        if self.project_id is None:
            return None
        if self.new_dataset_dialog is not None and self.new_dataset_dialog.is_running():
            self.new_dataset_dialog.raise_()
            return self.new_dataset_dialog
        dialog = NewDatasetDialog(
            self.manager,
            self.project_id,
            self.rave_executable(),
            self,
            folders=folders,
            output=output,
            name=name,
            auto_start=auto_start,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.registered.connect(lambda i: self._made(dialog, i))
        dialog.destroyed.connect(lambda _o=None: self._dialog_closed(dialog))
        self.new_dataset_dialog = dialog
        dialog.open()
        return dialog

    def _made(self, dialog: NewDatasetDialog, dataset_id: int) -> None:
        """A dataset made from audio: selected, and what it holds said (the dialog closes)."""
        self._registered(dataset_id)
        ds = self.manager.datasets.get(dataset_id)
        self.message.show_message(f"Dataset {ds.name!r} is ready: {dialog.result_text}.", INFO)

    def _dialog_closed(self, dialog: NewDatasetDialog) -> None:
        if self.new_dataset_dialog is dialog:
            self.new_dataset_dialog = None

    def demo_folders(self) -> tuple[Path, Path]:
        """(audio folder, dataset folder) of the demo, in the app's data folder."""
        root = data_dir() / "demo"
        return root / "audio", root / "dataset"

    def _demo_name(self) -> str:
        taken = {d.name for d in self.manager.datasets.all(self.project_id)}
        name, i = "demo", 2
        while name in taken:
            name, i = f"demo-{i}", i + 1
        return name

    def try_demo(self) -> None:
        """Make the demo dataset: synthesize 12 × 20 s of audio (off the GUI thread), then
        preprocess it in the New dataset dialog, which registers it. An existing demo dataset
        is registered at once."""
        if self.project_id is None or self.demo_running:
            return
        audio, dataset = self.demo_folders()
        registered = {d.path for d in self.manager.datasets.all(self.project_id)}
        try:
            info = read_dataset(dataset)
        except RaveGuiError:
            info = None
        if info is not None:
            if str(info.path) in registered:
                self.message.show_message("The demo dataset is already in this project.", INFO)
                return
            try:
                dataset_id = self.manager.datasets.register(
                    self.project_id, info.path, self._demo_name()
                )
            except RaveGuiError as err:
                self.message.show_message(str(err), ERROR)
                return
            self._registered(dataset_id)
            self.message.show_message("Demo dataset registered: ready to train on.", INFO)
            return
        discard_output(dataset)  # a half-written earlier attempt
        self.demo_running = True
        self._update_buttons()
        self._show_demo_status("Making 12 demo clips of 20 s…")

        def make() -> Path:
            have = sorted(audio.glob("demo_*.wav")) if audio.is_dir() else []
            if len(have) < 12:
                synthesize_audio(audio, n_files=12, seconds=20.0, sample_rate=44100)
            return audio

        run_in_background(make, self._demo_audio_ready, self._demo_failed)

    def _show_demo_status(self, text: str) -> None:
        self.empty_status.setText(text)
        self.empty_status.setVisible(bool(text))
        if text:
            self.message.show_message(text, INFO)
        else:
            self.message.clear()

    def _demo_audio_ready(self, audio: Path) -> None:
        self.demo_running = False
        self._update_buttons()
        self._show_demo_status("")
        _, dataset = self.demo_folders()
        self.new_dataset([str(audio)], output=str(dataset), name=self._demo_name(), auto_start=True)

    def _demo_failed(self, err: Exception) -> None:
        self.demo_running = False
        self._update_buttons()
        self._show_demo_status("")
        self.message.show_message(f"Cannot make the demo audio: {err}", ERROR)

    def shutdown(self) -> None:
        """Stop a preprocess still running (the window is closing)."""
        dialog = self.new_dataset_dialog
        if dialog is not None:
            dialog.shutdown()
