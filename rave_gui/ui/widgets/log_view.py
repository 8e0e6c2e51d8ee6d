"""LogView: a run's output, bounded, monospace, coloured by level, following the end, with find.

Lines arrive in batches (``AppSignals.run_output``) and each batch is appended in one edit.
The view follows the end of the log while its scroll bar is at the bottom; scrolling up to read
pauses the following (a button shows how many lines arrived meanwhile) and scrolling back to
the bottom resumes it. Ctrl+F opens a find bar (Enter / F3: next, Shift+Enter / Shift+F3:
previous, Escape: close). A finished run's log is shown from the tail of its file, read and
cleaned by the backend (``logtail.tail_lines``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from PyQt6.QtCore import QEvent, QObject, QPoint, Qt, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QFontDatabase,
    QKeyEvent,
    QKeySequence,
    QPalette,
    QResizeEvent,
    QShortcut,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QWidget,
)

from ...backend.process.logtail import WAITING_TEXT, tail_lines

MAX_LINES = 5000
LEVELS = ("info", "warning", "error")


def level_colors(palette: QPalette) -> dict[str, QColor]:
    """Warning and error text colours that read well on the palette's base colour."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    if dark:
        return {"warning": QColor("#f0c050"), "error": QColor("#ff7b72")}
    return {"warning": QColor("#9a6700"), "error": QColor("#c62828")}


class FindBar(QWidget):
    """A small find field with previous/next buttons, shown over the log's top right."""

    find_requested = pyqtSignal(str, bool)  # text, backwards
    closed = pyqtSignal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAutoFillBackground(True)
        self.setObjectName("logFindBar")
        self.field = QLineEdit()
        self.field.setPlaceholderText("Find in log")
        self.field.setClearButtonEnabled(True)
        self.field.setMinimumWidth(180)
        self.field.returnPressed.connect(lambda: self.find_requested.emit(self.text(), False))
        self.field.installEventFilter(self)
        self.status = QLabel()
        self.status.setMinimumWidth(70)
        self.prev_button = QToolButton()
        self.prev_button.setText("▲")
        self.prev_button.setToolTip("Previous match (Shift+Enter, Shift+F3)")
        self.prev_button.clicked.connect(lambda: self.find_requested.emit(self.text(), True))
        self.next_button = QToolButton()
        self.next_button.setText("▼")
        self.next_button.setToolTip("Next match (Enter, F3)")
        self.next_button.clicked.connect(lambda: self.find_requested.emit(self.text(), False))
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Close (Escape)")
        close.clicked.connect(self.close_bar)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(4)
        for w in (self.field, self.status, self.prev_button, self.next_button, close):
            lay.addWidget(w)

    def text(self) -> str:
        return self.field.text()

    def open_bar(self, text: str | None = None) -> None:
        if text:
            self.field.setText(text)
        self.show()
        self.raise_()
        self.field.setFocus()
        self.field.selectAll()

    def close_bar(self) -> None:
        self.hide()
        self.status.clear()
        self.closed.emit()

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if obj is self.field and event is not None and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Escape:
                self.close_bar()
                return True
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            ):
                self.find_requested.emit(self.text(), True)
                return True
        return super().eventFilter(obj, event)


class LogView(QPlainTextEdit):
    """Read-only, bounded log viewer; see the module docstring."""

    following_changed = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None, max_lines: int = MAX_LINES) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setMaximumBlockCount(max_lines)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.setPlaceholderText("No output yet")
        self._following = True
        self._unseen = 0
        self._experiment_id: int | None = None
        self._waiting = False  # the view shows only WAITING_TEXT: the first lines replace it
        self._formats: dict[str, QTextCharFormat] = {}
        self._update_formats()

        self.find_bar = FindBar(self)
        self.find_bar.hide()
        self.find_bar.find_requested.connect(self.find_text)
        self.find_bar.closed.connect(self.setFocus)
        self.find_bar.field.textChanged.connect(self._on_find_text_changed)

        self.follow_button = QPushButton("", self)
        self.follow_button.setToolTip("Jump to the end and follow new output")
        self.follow_button.clicked.connect(self.scroll_to_end)
        self.follow_button.hide()

        for keys, slot in (
            (QKeySequence.StandardKey.Find, self.open_find),
            (QKeySequence.StandardKey.FindNext, lambda: self.find_text(self.find_bar.text())),
            (
                QKeySequence.StandardKey.FindPrevious,
                lambda: self.find_text(self.find_bar.text(), True),
            ),
        ):
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)

    # --- appearance ----------------------------------------------------------------------------
    def _update_formats(self) -> None:
        colors = level_colors(self.palette())
        info = QTextCharFormat()
        warning = QTextCharFormat()
        warning.setForeground(colors["warning"])
        error = QTextCharFormat()
        error.setForeground(colors["error"])
        self._formats = {"info": info, "warning": warning, "error": error}

    def changeEvent(self, event: QEvent | None) -> None:
        if event is not None and event.type() == QEvent.Type.PaletteChange:
            self._update_formats()  # new lines only; old ones keep their colour
        super().changeEvent(event)

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._place_overlays()

    def _place_overlays(self) -> None:
        vp = self.viewport().geometry()
        if self.find_bar.isVisible():
            self.find_bar.adjustSize()
            w = min(self.find_bar.sizeHint().width(), vp.width())
            self.find_bar.setGeometry(vp.right() - w - 4, vp.top() + 4, w, self.find_bar.height())
        if self.follow_button.isVisible():
            self.follow_button.adjustSize()
            b = self.follow_button
            b.move(vp.right() - b.width() - 8, vp.bottom() - b.height() - 8)

    # --- content -------------------------------------------------------------------------------
    def append_lines(self, lines: Sequence[tuple[str, str]]) -> None:
        """Append (text, level) lines in one edit; follows the end unless the user scrolled up.

        Lines beyond the bound are dropped from the top in one removal before the insertion
        (Qt's own trimming removes them one block at a time: ten times slower on a full log).
        """
        if not lines:
            return
        if self._waiting:  # the log has started: the note it was awaited gives way
            self.clear()
        limit = self.maximumBlockCount()
        n_new = len(lines)
        if limit and len(lines) > limit:
            lines = lines[-limit:]
        sb = self.verticalScrollBar()
        follow = self._following
        old_value = sb.value()
        doc = self.document()
        first = doc.isEmpty()
        blocks_before = 0 if first else doc.blockCount()
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        overflow = blocks_before + len(lines) - limit if limit else 0
        if overflow > 0:
            if overflow >= blocks_before:
                cursor.select(QTextCursor.SelectionType.Document)
                cursor.removeSelectedText()
                first = True
            else:
                cursor.setPosition(doc.findBlockByNumber(overflow).position())
                cursor.setPosition(0, QTextCursor.MoveMode.KeepAnchor)
                cursor.removeSelectedText()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        # consecutive lines of the same level go in with one insertText
        run: list[str] = []
        run_level = lines[0][1]
        for text, level in lines:
            if level != run_level:
                first = self._insert_run(cursor, run, run_level, first)
                run = []
                run_level = level
            run.append(text)
        self._insert_run(cursor, run, run_level, first)
        cursor.endEditBlock()
        if follow:
            sb.setValue(sb.maximum())
        else:
            # lines dropped at the top (the bound) move the text up: keep the reader's place
            dropped = max(0, overflow)
            sb.setValue(max(0, min(old_value - dropped, sb.maximum())))
            self._unseen += n_new
            self._show_follow_button()

    def _insert_run(self, cursor: QTextCursor, texts: list[str], level: str, first: bool) -> bool:
        if not texts:
            return first
        fmt = self._formats.get(level, self._formats["info"])
        joined = "\n".join(texts)
        cursor.insertText(joined if first else "\n" + joined, fmt)
        return False

    def append_output(self, experiment_id: int, lines: list) -> None:
        """The AppSignals.run_output slot, for a view bound to one run (see ``bind``)."""
        if experiment_id == self._experiment_id:
            self.append_lines(lines)

    def bind(self, experiment_id: int | None) -> None:
        """Accept ``append_output`` batches of this run only."""
        self._experiment_id = experiment_id

    def set_lines(self, lines: Iterable[tuple[str, str]]) -> None:
        """Replace the content (keeps the last ``maximumBlockCount`` lines) and follow the end."""
        self.clear()
        lines = list(lines)
        self.append_lines(lines[-self.maximumBlockCount() :] if self.maximumBlockCount() else lines)
        self.scroll_to_end()

    def load_tail(
        self, path: str | os.PathLike[str] | None, end: int | None = None, *, waiting: bool = False
    ) -> None:
        """Show the tail of a run's log file up to byte ``end`` (the backend reads and cleans
        it); for a live run the lines after ``end`` arrive through ``append_lines``.
        ``waiting``: the run is live or queued, a log not written yet is awaited (an info note
        that its first lines replace), not reported missing."""
        if not path:
            self.set_lines([("This run has no log file.", "warning")])
            return
        lines = tail_lines(path, self.maximumBlockCount() or MAX_LINES, end=end, waiting=waiting)
        self.set_lines(lines)
        self._waiting = waiting and lines == [(WAITING_TEXT, "info")]

    def clear(self) -> None:
        super().clear()
        self._waiting = False
        self._unseen = 0
        self._set_following(True)

    def line_count(self) -> int:
        doc = self.document()
        return 0 if doc.isEmpty() else doc.blockCount()

    # --- following the end ---------------------------------------------------------------------
    @property
    def following(self) -> bool:
        return self._following

    def scroll_to_end(self) -> None:
        sb = self.verticalScrollBar()
        sb.setValue(sb.maximum())
        self._set_following(True)

    def _on_scrolled(self, value: int) -> None:
        sb = self.verticalScrollBar()
        self._set_following(value >= sb.maximum() - 1)

    def _on_range_changed(self, _lo: int, hi: int) -> None:
        if self._following:
            self.verticalScrollBar().setValue(hi)

    def _set_following(self, on: bool) -> None:
        if on == self._following:
            return
        self._following = on
        if on:
            self._unseen = 0
            self.follow_button.hide()
        self.following_changed.emit(on)

    def _show_follow_button(self) -> None:
        n = self._unseen
        self.follow_button.setText(f"↓ {n:,} new line{'s' if n != 1 else ''}")
        self.follow_button.show()
        self._place_overlays()

    # --- find ----------------------------------------------------------------------------------
    def open_find(self) -> None:
        selected = self.textCursor().selectedText()
        self.find_bar.open_bar(selected if selected and "\u2029" not in selected else None)
        self._place_overlays()

    def find_text(self, text: str, backwards: bool = False) -> bool:
        """Select the next (or previous) match, wrapping around; False when there is none."""
        if not text:
            self.find_bar.status.clear()
            return False
        flags = QTextDocument.FindFlag(0)
        if backwards:
            flags |= QTextDocument.FindFlag.FindBackward
        found = self.find(text, flags)
        if not found:  # wrap around
            cursor = self.textCursor()
            cursor.movePosition(
                QTextCursor.MoveOperation.End if backwards else QTextCursor.MoveOperation.Start
            )
            self.setTextCursor(cursor)
            found = self.find(text, flags)
        self._show_match_count(text, found)
        return found

    def _on_find_text_changed(self, text: str) -> None:
        if not text:
            self.find_bar.status.clear()
            return
        # typing refines the current match; without one, search from the first visible line
        cursor = self.textCursor()
        if cursor.hasSelection():
            cursor.setPosition(cursor.selectionStart())
        else:
            cursor = self.cursorForPosition(QPoint(0, 0))
            cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock)
        self.setTextCursor(cursor)
        self.find_text(text)

    def _show_match_count(self, text: str, found: bool) -> None:
        n = self.toPlainText().lower().count(text.lower()) if found else 0
        self.find_bar.status.setText(f"{n:,} match{'es' if n != 1 else ''}" if n else "not found")
        pal = self.find_bar.status.palette()
        color = level_colors(self.palette())["error"] if not found else None
        if color is not None:
            pal.setColor(QPalette.ColorRole.WindowText, color)
        else:
            pal = self.find_bar.palette()
        self.find_bar.status.setPalette(pal)


__all__ = ["MAX_LINES", "FindBar", "LogView", "level_colors"]
