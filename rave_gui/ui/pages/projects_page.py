"""The Projects page: every project with its experiment and dataset counts; create, rename,
delete, and choose the current project."""

from __future__ import annotations

from PyQt6.QtCore import QModelIndex, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.store.records import Project
from ...backend.system.units import format_datetime
from ...core.signals import AppSignals
from ..dialogs.confirm import ConfirmBox, ask_confirmation, tell_refused
from ..dialogs.name_dialog import NameDialog
from ..models.columns import Column, key
from ..models.record_table import (
    RecordFilterProxy,
    RecordTableModel,
    fmt_int,
    select_record,
    selected_record,
)
from ..models.roles import Role
from ..widgets.feedback import ERROR, INFO, MessageBar

PROJECT_COLUMNS: tuple[Column[Project], ...] = (
    Column("Project", key("name"), tooltip=lambda r: r.description or None),
    Column("Experiments", key("n_experiments"), fmt_int, numeric=True),
    Column("Datasets", key("n_datasets"), fmt_int, numeric=True),
    Column("Created", key("created_at"), format_datetime, numeric=True),
)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class ProjectsPage(QWidget):
    """Lists projects; the current one (bold) scopes the Datasets and Training pages."""

    project_activated = pyqtSignal(int)  # the user chose this project as the current one
    projects_changed = pyqtSignal()  # a project was created, renamed or deleted

    title = "Projects"

    def __init__(
        self, manager: TrainingManager, signals: AppSignals, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.signals = signals
        self.current_project_id: int | None = None

        self.model: RecordTableModel[Project] = RecordTableModel(PROJECT_COLUMNS, parent=self)
        self.model.emphasized = lambda r: r.id == self.current_project_id
        self.proxy = RecordFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        heading = QLabel("Projects")
        heading.setObjectName("pageTitle")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)
        intro = QLabel(
            "A project groups datasets and the training runs made with them. The current "
            "project (in bold) is the one the Datasets and Training pages show."
        )
        intro.setWordWrap(True)

        self.message = MessageBar(self)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter projects")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)

        style = self.style()
        self.new_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogNewFolder), "New project…"
        )
        self.open_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton), "Make current"
        )
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_TrashIcon), "Delete…"
        )
        self.open_button.setToolTip("Show this project on the Datasets and Training pages")
        self.new_button.clicked.connect(lambda: self.new_project())
        self.open_button.clicked.connect(lambda: self.activate_selected())
        self.rename_button.clicked.connect(lambda: self.rename_selected())
        self.delete_button.clicked.connect(lambda: self.delete_selected())

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(PROJECT_COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.doubleClicked.connect(self._on_double_click)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)

        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.new_button)
        bar.addWidget(self.open_button)
        bar.addWidget(self.rename_button)
        bar.addWidget(self.delete_button)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addWidget(self.message)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

        signals.runs_changed.connect(self.refresh)
        self.refresh()

    # --- page protocol -------------------------------------------------------------------------
    def set_project(self, project_id: int) -> None:
        self.current_project_id = project_id
        self.model.refresh_emphasis()

    def refresh(self) -> None:
        try:
            self.model.set_records(self.manager.projects.all())
        except RaveGuiError as err:
            self.message.show_message(str(err), ERROR)
        self._update_buttons()

    # --- selection -----------------------------------------------------------------------------
    def selected_project(self) -> Project | None:
        return selected_record(self.table, self.proxy, self.model)

    def select_project(self, project_id: int) -> None:
        select_record(self.table, self.proxy, self.model, project_id)

    def _update_buttons(self) -> None:
        has = self.selected_project() is not None
        for b in (self.open_button, self.rename_button, self.delete_button):
            b.setEnabled(has)

    def _on_double_click(self, index: QModelIndex) -> None:
        self.project_activated.emit(int(index.data(Role.KEY)))

    # --- actions -------------------------------------------------------------------------------
    def activate_selected(self) -> None:
        project = self.selected_project()
        if project is not None:
            self.project_activated.emit(project.id)

    def new_project(self) -> NameDialog:
        """Ask for a name and create the project (opened non-blocking; returned for tests)."""

        def create(name: str) -> int:
            return self.manager.projects.create(name)

        dialog = NameDialog(
            self, "New project", "Name of the new project:", create, ok_text="Create"
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._created(dialog.result_value))
        dialog.open()
        return dialog

    def _created(self, project_id: int) -> None:
        self.message.clear()
        self.refresh()
        self.select_project(project_id)
        self.projects_changed.emit()
        self.project_activated.emit(project_id)

    def rename_selected(self) -> NameDialog | None:
        project = self.selected_project()
        if project is None:
            return None
        pid = project.id

        def rename(name: str) -> None:
            self.manager.projects.rename(pid, name)

        dialog = NameDialog(
            self,
            "Rename project",
            f"New name for the project {project.name!r}:",
            rename,
            text=project.name,
            ok_text="Rename",
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self._renamed)
        dialog.open()
        return dialog

    def _renamed(self) -> None:
        self.message.clear()
        self.refresh()
        self.projects_changed.emit()

    def delete_selected(self) -> ConfirmBox | QMessageBox | None:
        """Ask to confirm deleting the selected project, or, when the backend refuses it
        anyway (an active run), say so instead (the box is returned for tests)."""
        project = self.selected_project()
        if project is None:
            return None
        pid, name = project.id, project.name
        try:
            refused = self.manager.projects.delete_refusal(pid)
        except RaveGuiError as err:
            refused = str(err)
        if refused:
            return tell_refused(
                self, "Delete project", f"The project {name!r} cannot be deleted now.", refused
            )
        n_exp, n_ds = project.n_experiments or 0, project.n_datasets or 0
        parts = []
        if n_exp:
            parts.append(
                f"Its {_plural(n_exp, 'experiment')} and their metrics, checkpoint lists and "
                "alerts are deleted from the database."
            )
        if n_ds:
            verb = "is" if n_ds == 1 else "are"
            parts.append(f"Its {_plural(n_ds, 'dataset registration')} {verb} removed.")
        if not parts:
            parts.append("It holds no experiments and no datasets.")
        parts.append(
            "Files on disk are kept: dataset folders, run folders, checkpoints and exported "
            "models stay where they are."
        )
        return ask_confirmation(
            self,
            "Delete project",
            f"Delete the project {name!r}?",
            "\n\n".join(parts),
            "Delete project",
            lambda: self._delete(pid, name),
        )

    def _delete(self, project_id: int, name: str) -> None:
        try:
            self.manager.projects.delete(project_id, delete_experiments=True)
        except RaveGuiError as err:
            self.message.show_message(str(err), ERROR)
            return
        self.message.show_message(f"Project {name!r} deleted.", INFO)
        self.refresh()
        self.projects_changed.emit()
        self.signals.runs_changed.emit()
