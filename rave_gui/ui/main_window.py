"""The main window: a project selector and page list in a sidebar, the pages, menus, shortcuts
and a status bar with the active runs and the GPU state."""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..backend.errors import RaveGuiError
from ..backend.manager import TrainingManager
from ..backend.status import QUEUED
from ..backend.system.settings import Settings
from ..core.signals import AppSignals
from ..core.worker import BackgroundTask, run_in_background, wait_for_background
from .dialogs.close_dialog import CANCEL, STOP, CloseRunsDialog, StoppingRunsDialog
from .dialogs.guide_dialog import GuideDialog
from .dialogs.placement import install_dialog_placer
from .dialogs.settings_dialog import SettingsDialog
from .icons import app_icon, page_icon
from .notifier import RunNotifier
from .pages.compare_page import ComparePage
from .pages.datasets_page import DatasetsPage
from .pages.export_page import ExportPage
from .pages.projects_page import ProjectsPage
from .pages.targets_page import TargetsPage
from .pages.training_page import TrainingPage
from .wizard.new_training import NewTrainingWizard

ORGANIZATION = APPLICATION = "rave-gui"
STATUS_INTERVAL_MS = 5000


def ui_state() -> QSettings:
    """Where the window remembers its geometry, layout, page and project (an INI file in the
    user's config folder; tests point ``QSettings.setPath`` elsewhere)."""
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
    )


def gpu_state() -> str:
    """One line on the GPUs for the status bar (runs off the GUI thread)."""
    try:
        from ..backend.system import sysmon
    except ImportError:
        return "GPU: n/a"
    return f"GPU: {sysmon.gpu_summary()}"


class MainWindow(QMainWindow):
    """Pages (Projects, Datasets, Training) scoped by the current project."""

    project_changed = pyqtSignal(int)
    page_changed = pyqtSignal(str)

    def __init__(
        self,
        manager: TrainingManager,
        controller: Any,
        signals: AppSignals,
        settings: Settings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.controller = controller
        self.signals = signals
        self.settings = settings
        self.project_id: int | None = None
        self._gpu_task: BackgroundTask | None = None
        self._shut_down = False
        self.stopping_dialog: StoppingRunsDialog | None = None  # while runs stop at close
        self.setWindowTitle("rave-gui")
        self.setWindowIcon(app_icon())
        self.setObjectName("MainWindow")

        # Pages.
        self.pages: dict[str, QWidget] = {}
        self.stack = QStackedWidget()
        self.projects_page = ProjectsPage(manager, signals)
        self.datasets_page = DatasetsPage(manager, signals, settings=settings)
        self.export_page = ExportPage(manager, signals, settings=settings)
        self.training_page = TrainingPage(manager, controller, signals)
        self.targets_page = TargetsPage(manager)
        self.training_page.export_requested.connect(self.export_run)
        self.training_page.new_training_requested.connect(lambda: self.new_training())
        self.training_page.run_again_requested.connect(lambda i: self.new_training(i))
        self.compare_page = ComparePage(manager, signals, settings=lambda: self.settings)
        self.training_page.compare_requested.connect(self.compare_runs)
        self.training_page.tensorboard_requested.connect(self.compare_page.open_tensorboard)
        entries: list[tuple[str, str, QWidget]] = [
            ("projects", "Projects", self.projects_page),
            ("datasets", "Datasets", self.datasets_page),
            ("training", "Training", self.training_page),
            ("compare", "Compare", self.compare_page),
            ("export", "Export", self.export_page),
            ("targets", "Targets", self.targets_page),
        ]

        # Sidebar: the project, then the pages.
        self.project_combo = QComboBox()
        self.project_combo.setToolTip("The current project: the pages show its datasets and runs")
        self.project_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.project_combo.setMinimumContentsLength(12)
        self.nav = QListWidget()
        self.nav.setIconSize(QSize(24, 24))
        self.nav.setFrameShape(QFrame.Shape.NoFrame)
        self.nav.setSpacing(2)
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.page_keys: list[str] = []
        for page_key, title, page in entries:
            item = QListWidgetItem(page_icon(page_key), title)
            item.setData(Qt.ItemDataRole.UserRole, page_key)
            item.setSizeHint(QSize(0, 36))
            self.nav.addItem(item)
            self.stack.addWidget(page)
            self.pages[page_key] = page
            self.page_keys.append(page_key)

        project_label = QLabel("&Project")
        project_label.setBuddy(self.project_combo)
        f = project_label.font()
        f.setBold(True)
        project_label.setFont(f)
        sidebar = QFrame()
        sidebar.setObjectName("sidebar")
        sidebar.setFrameShape(QFrame.Shape.StyledPanel)
        sidebar.setFixedWidth(210)
        sl = QVBoxLayout(sidebar)
        sl.setContentsMargins(8, 10, 8, 8)
        sl.addWidget(project_label)
        sl.addWidget(self.project_combo)
        sl.addSpacing(10)
        sl.addWidget(self.nav, 1)
        self.version_label = QLabel(f"rave-gui {__version__}")
        self.version_label.setEnabled(False)
        sl.addWidget(self.version_label)

        central = QWidget()
        cl = QHBoxLayout(central)
        cl.setContentsMargins(6, 6, 6, 0)
        cl.addWidget(sidebar)
        cl.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # Status bar.
        self.runs_label = QLabel()
        self.gpu_label = QLabel("GPU: checking…")
        self.statusBar().addPermanentWidget(self.runs_label)
        self.statusBar().addPermanentWidget(self.gpu_label)

        self._make_actions()

        self.notifier = RunNotifier(manager, signals, settings.notifications, self._raise, self)
        # Wiring.
        self.nav.currentRowChanged.connect(self._on_nav_row)
        self.project_combo.currentIndexChanged.connect(self._on_project_combo)
        self.projects_page.project_activated.connect(self.set_project)
        self.projects_page.projects_changed.connect(self._projects_changed)
        self.datasets_page.datasets_changed.connect(self.projects_page.refresh)
        for sig in (
            signals.run_started,
            signals.run_status_changed,
            signals.run_completed,
            signals.run_stopped,
            signals.run_failed,
        ):
            sig.connect(self._schedule_status_update)
        signals.runs_changed.connect(self._schedule_status_update)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self.update_status)
        self._status_timer.start()

        self.dialog_placer = install_dialog_placer(self)  # dialogs open centred on the window
        self.resize(1280, 820)
        self._restore_state()
        self.update_status()

    # --- menus and shortcuts -------------------------------------------------------------------
    def _make_actions(self) -> None:
        style = self.style()
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.new_training_action = QAction(
            style.standardIcon(QStyle.StandardPixmap.SP_FileIcon), "&New training…", self
        )
        self.new_training_action.setShortcut(QKeySequence("Ctrl+N"))
        self.new_training_action.triggered.connect(lambda: self.new_training())
        self.settings_action = QAction(page_icon("settings"), "&Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(lambda: self.open_settings())
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.new_training_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view_menu = menu.addMenu("&View")
        self.page_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        group.setExclusive(True)
        for i, page_key in enumerate(self.page_keys):
            item = self.nav.item(i)
            action = QAction(item.icon(), item.text(), self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _checked=False, k=page_key: self.show_page(k))
            group.addAction(action)
            view_menu.addAction(action)
            self.page_actions[page_key] = action
        view_menu.addSeparator()
        self.refresh_action = QAction(
            style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload), "&Refresh", self
        )
        self.refresh_action.setShortcut(QKeySequence("F5"))
        self.refresh_action.triggered.connect(lambda: self.refresh_current_page())
        view_menu.addAction(self.refresh_action)

        help_menu = menu.addMenu("&Help")
        self.guide_action = QAction("&User guide", self)
        self.guide_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.guide_action.triggered.connect(lambda: self.show_guide())
        help_menu.addAction(self.guide_action)
        self.about_action = QAction("&About rave-gui", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(lambda: self.show_about())
        help_menu.addAction(self.about_action)

        for action in (self.new_training_action, self.settings_action, self.refresh_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addActions([self.new_training_action, self.quit_action, self.refresh_action])

    # --- pages ---------------------------------------------------------------------------------
    def current_page_key(self) -> str:
        row = self.nav.currentRow()
        return self.page_keys[row] if 0 <= row < len(self.page_keys) else self.page_keys[0]

    def show_page(self, page_key: str) -> None:
        if page_key in self.page_keys:
            self.nav.setCurrentRow(self.page_keys.index(page_key))

    def _on_nav_row(self, row: int) -> None:
        if not 0 <= row < len(self.page_keys):
            return
        self.stack.setCurrentIndex(row)
        page_key = self.page_keys[row]
        self.page_actions[page_key].setChecked(True)
        if page_key in ("projects", "datasets", "compare", "export"):
            # Cheap to re-read, and the command line may have changed them meanwhile. (The
            # Training page follows the runs through the signals.)
            self.pages[page_key].refresh()
        self.page_changed.emit(page_key)

    def compare_runs(self, ids: list[int]) -> None:
        """Show the Compare page with these runs (2 to 10)."""
        self.compare_page.set_runs(ids)
        self.show_page("compare")

    def refresh_current_page(self) -> None:
        page = self.pages[self.current_page_key()]
        refresh = getattr(page, "refresh", None)
        if callable(refresh):
            refresh()
        self._reload_projects()
        self.update_status()

    # --- the current project -------------------------------------------------------------------
    def set_project(self, project_id: int) -> None:
        """Make ``project_id`` the current project: every page shows it."""
        try:
            self.manager.projects.get(project_id)
        except RaveGuiError:
            project_id = self.manager.projects.default_id()
        changed = project_id != self.project_id
        self.project_id = project_id
        self._reload_projects()
        for page in self.pages.values():
            set_project = getattr(page, "set_project", None)
            if callable(set_project):
                set_project(project_id)
        self._update_title()
        if changed:
            self.project_changed.emit(project_id)

    def _reload_projects(self) -> None:
        """Refill the project selector, keeping the current project selected."""
        try:
            projects = self.manager.projects.all()
        except RaveGuiError:
            return
        self.project_combo.blockSignals(True)
        self.project_combo.clear()
        for p in projects:
            self.project_combo.addItem(p.name, p.id)
        index = self.project_combo.findData(self.project_id)
        self.project_combo.setCurrentIndex(max(index, 0))
        self.project_combo.blockSignals(False)
        self._update_title()

    def _on_project_combo(self, index: int) -> None:
        project_id = self.project_combo.itemData(index)
        if project_id is not None and project_id != self.project_id:
            self.set_project(int(project_id))

    def _projects_changed(self) -> None:
        # The current project may have been renamed or deleted.
        current = self.project_id
        try:
            if current is not None:
                self.manager.projects.get(current)
        except RaveGuiError:
            current = None
        self.set_project(current if current is not None else self.manager.projects.default_id())
        self.projects_page.refresh()

    def _update_title(self) -> None:
        name = self.project_combo.currentText()
        self.setWindowTitle(f"{name} — rave-gui" if name else "rave-gui")

    # --- actions -------------------------------------------------------------------------------
    def new_training(self, repeat: int | None = None) -> NewTrainingWizard | None:
        """Open the new-training wizard for the current project (non-blocking); ``repeat``:
        prefilled with that run's settings ("Run again")."""
        if self.project_id is None:
            return None
        wizard = NewTrainingWizard(self.manager, self.controller, self.project_id, self)
        if repeat is not None:
            try:
                wizard.prefill(repeat)
            except RaveGuiError as err:
                self.training_page.show_error("Run again", str(err))
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.training_started.connect(self._training_started)
        wizard.open()
        return wizard

    def _training_started(self, experiment_id: int) -> None:
        self.projects_page.refresh()
        self.datasets_page.refresh()
        self.show_page("training")
        self.training_page.select_run(experiment_id)
        self.update_status()

    def export_run(self, experiment_id: int) -> None:
        """Show the Export page with a run selected (the Training page's "Export…")."""
        self.show_page("export")
        self.export_page.select_run(experiment_id)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(
            self.settings, self.manager.db.path, self, on_saved=self._settings_saved
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _settings_saved(self, settings: Settings) -> None:
        self.settings = settings
        self.controller.set_settings(settings)
        self.datasets_page.settings = self.export_page.settings = settings
        self.notifier.set_enabled(settings.notifications)
        self.statusBar().showMessage("Settings saved.", 4000)
        self.update_status()

    def show_guide(self) -> GuideDialog:
        """Help → User guide (non-modal: it can stay open beside the window)."""
        dialog = GuideDialog(self)
        dialog.show()
        return dialog

    def show_about(self) -> QMessageBox:
        box = QMessageBox(self)
        box.setWindowTitle("About rave-gui")
        box.setIconPixmap(app_icon().pixmap(64, 64))
        box.setText(f"<b>rave-gui {__version__}</b>")
        box.setInformativeText(
            "A desktop app to train RAVE models (acids-ircam's Realtime Audio Variational "
            "autoEncoder): projects, datasets, training runs with live curves and logs.\n\n"
            f"Database: {self.manager.db.path}"
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    # --- status bar ----------------------------------------------------------------------------
    def _schedule_status_update(self, *_args: Any) -> None:
        QTimer.singleShot(0, self.update_status)

    def update_status(self) -> None:
        if self._shut_down:
            return
        try:
            active = len(self.controller.active_ids())
            queued = self.manager.experiments.count(QUEUED)
        except RaveGuiError:
            active, queued = 0, 0
        text = (
            "No active runs"
            if not active
            else ("1 active run" if active == 1 else f"{active} active runs")
        )
        if queued:
            text += f", {queued} queued"
        self.runs_label.setText(text)
        self.notifier.set_active(active)
        if self._gpu_task is None:
            self._gpu_task = run_in_background(gpu_state, self._gpu_result, self._gpu_error)

    def _gpu_result(self, text: str) -> None:
        self._gpu_task = None
        self.gpu_label.setText(text)

    def _gpu_error(self, _err: Exception) -> None:
        self._gpu_task = None
        self.gpu_label.setText("GPU: n/a")

    # --- remembered state ----------------------------------------------------------------------
    def _restore_state(self) -> None:
        state = ui_state()
        geometry = state.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        layout = state.value("window/state")
        if isinstance(layout, QByteArray):
            self.restoreState(layout)
        project = state.value("window/project")
        try:
            project_id = int(project) if project is not None else None
        except (TypeError, ValueError):
            project_id = None
        self.set_project(project_id if project_id is not None else self._default_project())
        page = state.value("window/page")
        if page not in self.page_keys:  # the first start: where a dataset is made, if none
            page = "datasets" if self._nothing_yet() else self.page_keys[0]
        self.show_page(page)
        if self.nav.currentRow() < 0:
            self.nav.setCurrentRow(0)

    def _nothing_yet(self) -> bool:
        """No dataset and no run in the current project: the Datasets page's "get started"
        choices come first."""
        pid = self.project_id
        return not self.manager.datasets.all(pid) and not self.manager.list_experiments(pid)

    def _default_project(self) -> int:
        return self.manager.projects.default_id()

    def save_state(self) -> None:
        state = ui_state()
        state.setValue("window/geometry", self.saveGeometry())
        state.setValue("window/state", self.saveState())
        state.setValue("window/page", self.current_page_key())
        if self.project_id is not None:
            state.setValue("window/project", self.project_id)
        state.sync()

    # --- closing -------------------------------------------------------------------------------
    def ask_close_choice(self, n_active: int) -> str:
        """Ask what to do with active runs (modal); returns KEEP, STOP or CANCEL."""
        dialog = CloseRunsDialog(n_active, self)
        dialog.exec()
        choice = dialog.choice()
        dialog.deleteLater()
        return choice

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if event is None:
            return
        if self._shut_down:
            event.accept()
            return
        if self.stopping_dialog is not None:  # the runs are being stopped: it closes after
            event.ignore()
            return
        try:
            n_active = len(self.controller.active_ids())
        except RaveGuiError:
            n_active = 0
        stop_runs = False
        if n_active:
            choice = self.ask_close_choice(n_active)
            if choice == CANCEL:
                event.ignore()
                return
            stop_runs = choice == STOP
        self.save_state()
        self._status_timer.stop()
        self.notifier.shutdown()
        for page in self.pages.values():
            shutdown = getattr(page, "shutdown", None)
            if callable(shutdown):
                shutdown()
        if stop_runs:
            # Stopping takes up to a minute or more per run: the runs stop together in the
            # background while the window stays responsive, then it closes.
            event.ignore()
            self.stopping_dialog = StoppingRunsDialog(n_active, self)
            self.controller.shutdown_progress.connect(self.stopping_dialog.set_text)
            self.controller.shutdown_finished.connect(self._runs_stopped)
            self.stopping_dialog.show()
            self.statusBar().showMessage("Stopping the runs…")
            self.controller.begin_shutdown(True)
            return
        self.controller.shutdown(False)
        self._shut_down = True
        wait_for_background(5000)
        event.accept()

    def _raise(self) -> None:
        """The tray icon was clicked: bring the window forward."""
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def _runs_stopped(self) -> None:
        self.controller.shutdown_finished.disconnect(self._runs_stopped)
        if self.stopping_dialog is not None:
            self.controller.shutdown_progress.disconnect(self.stopping_dialog.set_text)
            self.stopping_dialog.hide()
            self.stopping_dialog.deleteLater()
            self.stopping_dialog = None
        self._shut_down = True
        wait_for_background(5000)
        self.close()
