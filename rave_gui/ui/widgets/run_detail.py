"""RunDetailView: everything about one run, from ``backend.runs.detail.run_detail``.

Tabs: Information (what the run is, its folder, times, error and diagnosis, resume links),
Statistics (steps, best validation, final losses, speed, phases, checkpoints on disk),
Configuration (its own config.gin with a find field; the parameters and gin overrides as a
table), Files (checkpoints, exported models), Alerts, and Notes & tags (edited and stored).
"""

from __future__ import annotations

import json
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor, QTextDocument
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.runs.detail import RunDetail, run_detail
from ...backend.system.units import (
    format_bytes,
    format_datetime,
    format_duration,
    format_rate,
    format_value,
)
from .file_actions import open_folder

MISSING = "–"


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return MISSING
    if isinstance(value, float):
        return format_value(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


def _form(rows: list[tuple[str, str]]) -> QWidget:
    box = QWidget()
    form = QFormLayout(box)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    for name, value in rows:
        form.addRow(f"{name}:", _label(value))
    return box


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area


def _table(headers: list[str], rows: list[list[str]], stretch: int = -1) -> QTableWidget:
    """A read-only table; column ``stretch`` takes the room left (-1: the last)."""
    table = QTableWidget(len(rows), len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))
    table.verticalHeader().setDefaultSectionSize(24)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch % len(headers), QHeaderView.ResizeMode.Stretch)
    return table


def _run_link(run: dict[str, Any] | None) -> str:
    return MISSING if not run else f"{run['name']} (#{run['id']})"


class RunDetailView(QWidget):
    """The detail of one run; ``saved(id)`` once its notes and tags are stored."""

    saved = pyqtSignal(int)

    def __init__(
        self, manager: TrainingManager, experiment_id: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.experiment_id = experiment_id
        self.detail: RunDetail | None = None
        self.tabs = QTabWidget()
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.error_label)
        lay.addWidget(self.tabs, 1)
        self.reload()

    def reload(self) -> None:
        """Read the run again and rebuild the tabs (the current tab stays)."""
        current = self.tabs.currentIndex()
        self.tabs.clear()
        try:
            self.detail = run_detail(self.manager, self.experiment_id)
        except RaveGuiError as err:
            self.detail = None
            self.error_label.setText(f"The run cannot be shown: {err}")
            self.error_label.show()
            return
        self.error_label.hide()
        d = self.detail
        self.tabs.addTab(_scroll(self._information(d)), "Information")
        self.tabs.addTab(_scroll(self._statistics(d)), "Statistics")
        self.tabs.addTab(self._configuration(d), "Configuration")
        self.tabs.addTab(self._files(d), "Files")
        self.tabs.addTab(self._alerts(d), f"Alerts ({len(d.alerts)})")
        self.tabs.addTab(self._notes(d), "Notes && tags")
        self.tabs.setCurrentIndex(max(current, 0))

    # --- tabs ----------------------------------------------------------------------------------
    def _information(self, d: RunDetail) -> QWidget:
        i = d.info
        ds = i["dataset"] or {}
        facts = []
        if ds.get("n_examples") is not None:
            facts.append(f"{ds['n_examples']:,} examples")
        if ds.get("sample_rate"):
            facts.append(f"{ds['sample_rate']:,} Hz")
        if ds.get("channels"):
            facts.append(f"{ds['channels']} channel{'s' if ds['channels'] != 1 else ''}")
        if ds.get("duration_s"):
            facts.append(format_duration(ds["duration_s"]))
        missing = i.get("not_recorded") or MISSING  # an imported run: why it is missing
        dataset = missing
        if ds:
            dataset = f"{ds.get('name') or ds.get('path')}" + (
                f" ({', '.join(facts)})" if facts else ""
            )
            if ds.get("path"):
                dataset += f"\n{ds['path']}"
        diag = i["diagnosis"]
        rows = [
            ("Name", i["name"]),
            ("Project", i["project"]),
            ("Status", i["status"] + (" (archived)" if i["archived"] else "")),
            ("Dataset", dataset),
            ("Base config", _text(i["base_config"])),
            ("Modifiers", ", ".join(i["modifiers"]) or MISSING),
            ("Command", " ".join(i["command"]) if i["command"] else missing),
            ("Started", format_datetime(i["started_at"], missing=MISSING)),
            ("Ended", format_datetime(i["ended_at"], missing=MISSING)),
            ("Duration", format_duration(i["duration"], missing=MISSING)),
            ("Exit code", _text(i["exit_code"])),
            ("Error", _text(i["error"])),
            ("Diagnosis", f"{diag['title']}. {diag['advice']}" if diag else MISSING),
            ("Resumed from", _run_link(i["resumed_from"])),
            ("Resumed by", ", ".join(_run_link(r) for r in i["resumed_by"]) or MISSING),
        ]
        if i["imported_from"]:
            rows.append(("Imported from", i["imported_from"]))
        box = _form(rows)
        form = box.layout()
        assert isinstance(form, QFormLayout)
        folder = QWidget()
        row = QHBoxLayout(folder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(_label(i["run_dir"] or MISSING), 1)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.setEnabled(bool(i["run_dir"]))
        self.open_folder_button.clicked.connect(lambda: open_folder(i["run_dir"]))
        row.addWidget(self.open_folder_button)
        form.insertRow(7, "Run folder:", folder)
        return box

    def _statistics(self, d: RunDetail) -> QWidget:
        s = d.statistics
        best = format_value(s["best_validation"], missing=MISSING)
        if s["best_validation_step"] is not None:
            best += f" at step {s['best_validation_step']:,}"
        rows = [
            ("Steps reached", MISSING if s["steps"] is None else f"{s['steps']:,}"),
            ("Best validation", best),
            ("Final validation", format_value(s["final_validation"], missing=MISSING)),
            ("Mean speed", format_rate(s["mean_speed"], missing=MISSING)),
            (
                "Phase 1 length",
                MISSING if s["phase_1_steps"] is None else f"{s['phase_1_steps']:,} steps",
            ),
        ]
        rows += [(f"Time in {k}", format_duration(v)) for k, v in s["phase_seconds"].items()]
        on_disk = s["checkpoints_on_disk"]
        rows.append(
            (
                "Checkpoints",
                f"{s['checkpoints']} ({on_disk} on disk, {format_bytes(s['checkpoint_bytes'])})",
            )
        )
        rows += [(f"Final {k}", format_value(v, missing=MISSING)) for k, v in s["final"].items()]
        return _form(rows)

    def _configuration(self, d: RunDetail) -> QWidget:
        self.find_edit = QLineEdit()
        self.find_edit.setPlaceholderText("Find in config.gin…")
        self.find_edit.setClearButtonEnabled(True)
        self.find_label = QLabel()
        self.gin_view = QPlainTextEdit()
        self.gin_view.setReadOnly(True)
        self.gin_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.gin_view.setFont(QFont("monospace"))
        self.gin_view.setPlainText(
            d.config_gin
            if d.config_gin is not None
            else "RAVE has not written a config.gin for this run (or its folder is gone)."
        )
        self.find_edit.textChanged.connect(self.find)
        self.find_edit.returnPressed.connect(self.find_next)
        rows = [[k, _text(v)] for k, v in d.parameters]
        rows += [["gin override", o] for o in d.overrides]
        self.parameters_table = _table(["Parameter", "Value"], rows)
        top = QWidget()
        lay = QVBoxLayout(top)
        lay.setContentsMargins(0, 0, 0, 0)
        find_row = QHBoxLayout()
        find_row.addWidget(self.find_edit, 1)
        find_row.addWidget(self.find_label)
        lay.addWidget(_label(d.config_gin_path or "config.gin"))
        lay.addLayout(find_row)
        lay.addWidget(self.gin_view, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.parameters_table)
        split.setSizes([320, 200])
        return split

    def _files(self, d: RunDetail) -> QWidget:
        self.checkpoints_table = _table(
            ["Checkpoint", "Step", "Size", "Best"],
            [
                [c["path"], _text(c["step"]), format_bytes(c["size"], missing=MISSING),
                 "yes" if c["is_best"] else ""]
                for c in d.checkpoints
            ],
            stretch=0,
        )  # fmt: skip
        self.models_table = _table(
            ["Exported model", "Size", "Streaming", "Exported"],
            [
                [m["path"], format_bytes(m["size"], missing=MISSING),
                 "yes" if m["streaming"] else "no", format_datetime(m["created_at"])]
                for m in d.exported_models
            ],
            stretch=0,
        )  # fmt: skip
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.checkpoints_table)
        split.addWidget(self.models_table)
        return split

    def _alerts(self, d: RunDetail) -> QWidget:
        self.alerts_table = _table(
            ["Step", "Severity", "Kind", "Message", "What to do"],
            [
                [_text(a["step"]), a["severity"], a["kind"], a["message"], a.get("advice", "")]
                for a in d.alerts
            ],
            stretch=3,
        )
        return self.alerts_table

    def _notes(self, d: RunDetail) -> QWidget:
        self.notes_edit = QPlainTextEdit(d.notes)
        self.notes_edit.setPlaceholderText("What you tried, what you heard, what to do next…")
        self.tags_edit = QLineEdit(", ".join(d.tags))
        self.tags_edit.setPlaceholderText("tags, separated by commas (e.g. keeper, 48k)")
        self.save_button = QPushButton("Save notes and tags")
        self.save_button.clicked.connect(self.save)
        self.save_label = QLabel()
        self.save_label.setWordWrap(True)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.addWidget(QLabel("Notes"))
        lay.addWidget(self.notes_edit, 1)
        lay.addWidget(QLabel("Tags"))
        lay.addWidget(self.tags_edit)
        row = QHBoxLayout()
        row.addWidget(self.save_label, 1)
        row.addWidget(self.save_button)
        lay.addLayout(row)
        return box

    # --- find and save -------------------------------------------------------------------------
    def find(self, text: str) -> int:
        """Highlight every match of ``text`` in config.gin (case-insensitive), go to the first;
        the number of matches."""
        doc = self.gin_view.document()
        assert doc is not None
        selections = []
        fmt = QTextCharFormat()
        fmt.setBackground(QColor("#f6d365"))
        fmt.setForeground(QColor("#000000"))
        cursor = QTextCursor(doc)
        while text:
            cursor = doc.find(text, cursor)
            if cursor.isNull():
                break
            sel = QTextEdit.ExtraSelection()
            sel.cursor = cursor  # type: ignore[misc]
            sel.format = fmt  # type: ignore[misc]
            selections.append(sel)
        self.gin_view.setExtraSelections(selections)
        n = len(selections)
        self.find_label.setText("" if not text else f"{n} match{'es' if n != 1 else ''}")
        if selections:
            first = QTextCursor(selections[0].cursor)
            self.gin_view.setTextCursor(first)
            self.gin_view.centerCursor()
        return n

    def find_next(self) -> None:
        text = self.find_edit.text()
        if not text:
            return
        found = self.gin_view.find(text)
        if not found:  # wrap around
            self.gin_view.moveCursor(QTextCursor.MoveOperation.Start)
            self.gin_view.find(text, QTextDocument.FindFlag(0))

    def tags(self) -> list[str]:
        return [t.strip() for t in self.tags_edit.text().split(",") if t.strip()]

    def save(self) -> bool:
        """Store the notes and tags; False (and the reason shown) when refused."""
        try:
            self.manager.history.set_notes(self.experiment_id, self.notes_edit.toPlainText())
            tags = self.manager.history.set_tags(self.experiment_id, self.tags())
        except RaveGuiError as err:
            self.save_label.setText(f"Not saved: {err}")
            return False
        self.tags_edit.setText(", ".join(tags))
        self.save_label.setText("Saved.")
        self.saved.emit(self.experiment_id)
        return True


class RunDetailDialog(QDialog):
    """The detail of a run in a window of its own."""

    saved = pyqtSignal(int)

    def __init__(
        self, manager: TrainingManager, experiment_id: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.view = RunDetailView(manager, experiment_id, self)
        self.view.saved.connect(self.saved.emit)
        name = self.view.detail.info["name"] if self.view.detail else f"#{experiment_id}"
        self.setWindowTitle(f"Run {name}")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view, 1)
        lay.addWidget(buttons)
        self.resize(820, 620)


__all__ = ["RunDetailDialog", "RunDetailView"]
