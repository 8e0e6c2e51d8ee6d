"""The Targets page: the SSH hosts and SLURM clusters runs can execute on. Add, check (RAVE and
its version, GPUs, partitions, what is missing), remove; an unknown host's key fingerprint is
shown and accepted once by the person."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.remote.check import CheckReport, check_target
from ...backend.remote.ssh import accept_host_key, scan_host_key
from ...backend.store.targets import SLURM, SSH, Target, TargetStore
from ...core.worker import BackgroundTask, run_in_background
from ..widgets.feedback import ERROR, INFO, MessageBar

COLUMNS = ("Name", "Kind", "Where", "RAVE", "Work folder", "SLURM", "Copy back")
COPIED = {"last": "newest + best", "all": "all", "none": "none"}


class TargetDialog(QDialog):
    """The fields of a new target (the command line's `targets add` flags)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a target")
        self.name = QLineEdit()
        self.host = QLineEdit()
        self.host.setPlaceholderText("gpu.lab.example.org (the login node of a cluster)")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(22)
        self.user = QLineEdit()
        self.key = QLineEdit()
        self.key.setPlaceholderText("~/.ssh/id_ed25519 (empty: your agent and ~/.ssh/config)")
        self.rave = QLineEdit("rave")
        self.workdir = QLineEdit("rave-gui-runs")
        self.slurm = QCheckBox("A SLURM cluster: runs are submitted with sbatch")
        self.partition = QLineEdit()
        self.gres = QLineEdit()
        self.gres.setPlaceholderText("gpu:1")
        self.time = QLineEdit()
        self.time.setPlaceholderText("24:00:00")
        self.copy_checkpoints = QComboBox()
        for text, value in (
            ("The newest and the best", "last"), ("All", "all"), ("None", "none"),
        ):  # fmt: skip
            self.copy_checkpoints.addItem(text, value)
        self.copy_checkpoints.setToolTip(
            "Which checkpoints of a run are copied to this computer once it ends (each is "
            "about 120 MB); the others stay on the target, listed"
        )
        form = QFormLayout()
        for label, w in (
            ("&Name", self.name), ("&Host", self.host), ("&Port", self.port),
            ("&User", self.user), ("&Key file", self.key), ("&RAVE command", self.rave),
            ("&Work folder", self.workdir), ("", self.slurm), ("P&artition", self.partition),
            ("&GPUs (gres)", self.gres), ("&Time limit", self.time),
            ("&Copy checkpoints", self.copy_checkpoints),
        ):  # fmt: skip
            form.addRow(label, w)
        for w in (self.partition, self.gres, self.time):
            w.setEnabled(False)
            self.slurm.toggled.connect(w.setEnabled)
        self.error = MessageBar()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.target: Target | None = None

    def value(self) -> Target:
        slurm = self.slurm.isChecked()
        return Target(
            name=self.name.text().strip(), kind=SLURM if slurm else SSH,
            host=self.host.text().strip(),
            port=self.port.value() if self.port.value() != 22 else None,
            user=self.user.text().strip(), key_file=self.key.text().strip(),
            rave=self.rave.text().strip(), workdir=self.workdir.text().strip(),
            partition=self.partition.text().strip() if slurm else "",
            gres=self.gres.text().strip() if slurm else "",
            time_limit=self.time.text().strip() if slurm else "",
            copy_checkpoints=str(self.copy_checkpoints.currentData()),
        )  # fmt: skip

    def _accept(self) -> None:
        target = self.value()
        try:
            target.validate()
        except RaveGuiError as err:
            self.error.show_message(str(err), ERROR)
            return
        self.target = target
        self.accept()


class TargetsPage(QWidget):
    title = "Targets"

    def __init__(self, manager: TrainingManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = TargetStore(manager.db)
        self._task: BackgroundTask | None = None
        heading = QLabel("Targets")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)
        intro = QLabel(
            "Machines training runs can execute on besides this one: an SSH host (a lab "
            "server, a rented GPU box) or a SLURM cluster reached through its login node. "
            "Runs there are followed here as local ones are."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.add_button = QPushButton("&Add target…")
        self.check_button = QPushButton("&Check")
        self.remove_button = QPushButton("&Remove")
        self.add_button.clicked.connect(self.add_target)
        self.check_button.clicked.connect(self.check_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.check_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.message = MessageBar()
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setPlaceholderText("Check a target: what it offers and what is missing.")
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.message)
        layout.addWidget(self.report, 1)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()

    def refresh(self) -> None:
        targets = self.store.all()
        self.table.setRowCount(len(targets))
        for row, t in enumerate(targets):
            slurm = " ".join(x for x in (t.partition, t.gres, t.time_limit) if x)
            values = (t.name, t.kind, t.describe().split(" ", 1)[1], t.rave, t.workdir, slurm,
                      COPIED.get(t.copy_checkpoints, t.copy_checkpoints))  # fmt: skip
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, t.name)
                self.table.setItem(row, col, item)
        self._update_buttons()

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.text() if item else None

    def _update_buttons(self) -> None:
        chosen = self.selected() is not None
        busy = self._task is not None
        self.check_button.setEnabled(chosen and not busy)
        self.remove_button.setEnabled(chosen and not busy)

    def add_target(self) -> None:
        dialog = TargetDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.target is None:
            return
        try:
            self.store.add(dialog.target)
        except RaveGuiError as err:
            self.message.show_message(str(err), ERROR)
            return
        self.refresh()
        self.message.show_message(f"Target {dialog.target.name!r} added: check it.", INFO)

    def remove_selected(self) -> None:
        name = self.selected()
        if name is None:
            return
        try:
            self.store.remove(name)
        except RaveGuiError as err:
            self.message.show_message(str(err), ERROR)
            return
        self.refresh()

    def check_selected(self) -> None:
        name = self.selected()
        if name is None:
            return
        target = self.store.get(name)
        self.report.setPlainText(f"Checking {name} ({target.describe()})…")
        self._task = run_in_background(
            lambda: check_target(target), self._checked, self._check_failed
        )
        self._update_buttons()

    def _checked(self, report: CheckReport) -> None:
        self._task = None
        self._update_buttons()
        self.report.setPlainText("\n".join(report.lines()))
        if report.fingerprints:
            self.ask_host_key(report)

    def _check_failed(self, err: Exception) -> None:
        self._task = None
        self._update_buttons()
        self.report.setPlainText(str(err))

    def ask_host_key(self, report: CheckReport) -> QMessageBox:
        """The unknown host's fingerprints: trust the key (once) and check again, or not."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Unknown host")
        box.setText(f"{report.target} is not a known host. Is this its key?")
        box.setInformativeText(
            "\n".join(report.fingerprints)
            + "\n\nCompare the fingerprint with the one its administrator gives you. "
            "Trusted once, it is checked at every connection."
        )
        trust = box.addButton("Trust this key", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _r: self._trusted(report.target) if box.clickedButton()
                             is trust else None)  # fmt: skip
        box.open()
        return box

    def _trusted(self, name: str) -> None:
        target = self.store.get(name)
        try:
            keys, _prints = scan_host_key(target)
            accept_host_key(target, keys)
        except RaveGuiError as err:
            self.message.show_message(str(err), ERROR)
            return
        self.check_selected()
