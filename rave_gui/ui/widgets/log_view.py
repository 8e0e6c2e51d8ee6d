"""LogView: a run's output, bounded, monospace, coloured by level, following the end, with find.

Lines arrive in batches (``AppSignals.run_output``) and each batch is appended in one edit.
The view follows the end of the log while its scroll bar is at the bottom; scrolling up to read
pauses the following (a button shows how many lines arrived meanwhile) and scrolling back to
the bottom resumes it. Ctrl+F opens a find bar (Enter / F3: next, Shift+Enter / Shift+F3:
previous, Escape: close). A finished run's log is shown from the tail of its file, read and
cleaned by the backend (``logtail.timed_tail_lines``), in the same presentation as live lines.

Each line keeps its level and its time (shown in a gutter on the left): when it arrived, for a
live line; when it was written, for a line read back from the file (the supervisor records
it; a log without those records has no times, and the gutter is then hidden). ``set_levels``
hides the lines of other levels; ``level_counts`` counts the warnings and errors among the
lines held (``counts_changed`` says when they change).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence

from PyQt6.QtCore import QEvent, QObject, QPoint, QRect, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QFontDatabase,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QShortcut,
    QTextBlock,
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

from ...backend.process.logtail import WAITING_TEXT, timed_tail_lines

MAX_LINES = 5000
CHUNK_LINES = 1500  # lines inserted in one go (~6 ms here): a flood goes in over event-loop
# turns, so the GUI thread is never held for more than about a frame
LEVELS = ("info", "warning", "error")
# A line's block state packs its level and arrival time: level + 4 * (seconds since STAMP_BASE
# + 1), 0 for "no time" (a line read back from the file); -1 (Qt's default) is an info line.
STAMP_BASE = 1_700_000_000
_LEVEL_CODE = {level: i for i, level in enumerate(LEVELS)}


def block_level(block: QTextBlock) -> str:
    state = block.userState()
    return LEVELS[state % 4] if state >= 0 and state % 4 < 3 else "info"


def block_time(block: QTextBlock) -> float | None:
    """The time a line arrived (None: read back from the log file)."""
    state = block.userState()
    return float(state // 4 - 1 + STAMP_BASE) if state >= 4 else None


def format_stamp(when: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when)) if when is not None else ""


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


class TimeGutter(QWidget):
    """The arrival time of each visible line, painted left of the text."""

    def __init__(self, view: LogView) -> None:
        super().__init__(view)
        self.view = view

    def paintEvent(self, event: QPaintEvent | None) -> None:
        view = self.view
        painter = QPainter(self)
        pal = view.palette()
        painter.fillRect(self.rect(), pal.color(QPalette.ColorRole.AlternateBase))
        painter.setPen(pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        block = view.firstVisibleBlock()
        offset = view.contentOffset()
        height = self.height()
        line_h = view.fontMetrics().height()
        while block.isValid():
            geo = view.blockBoundingGeometry(block).translated(offset)
            if geo.top() > height:
                break
            if block.isVisible():
                text = format_stamp(block_time(block))
                if text:
                    rect = QRect(0, int(geo.top()), self.width() - 6, line_h)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignRight, text)
            block = block.next()
        painter.end()


class LogView(QPlainTextEdit):
    """Read-only, bounded log viewer; see the module docstring."""

    following_changed = pyqtSignal(bool)
    counts_changed = pyqtSignal(dict)  # {"warning": n, "error": n} among the lines held

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
        self.live_lines = 0  # lines of the bound run that arrived live since the last load
        self._waiting = False  # the view shows only WAITING_TEXT: the first lines replace it
        self._formats: dict[str, QTextCharFormat] = {}
        self._update_formats()
        self._levels = set(LEVELS)  # the levels shown (set_levels)
        self._counts = {"warning": 0, "error": 0}
        self._stamped = False  # some line carries a time: the gutter is shown
        # lines of a flood waiting for the next turn of the event loop: (text, level), time
        self._pending: list[tuple[tuple[str, str], float | None]] = []
        self._drain_timer = QTimer(self)
        self._drain_timer.setSingleShot(True)
        self._drain_timer.setInterval(0)
        self._drain_timer.timeout.connect(self._drain)
        self.gutter = TimeGutter(self)
        self.gutter.hide()
        self.updateRequest.connect(lambda *_: self.gutter.update())

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
        if self._stamped:
            cr = self.contentsRect()
            self.gutter.setGeometry(cr.left(), vp.top(), self.viewportMargins().left(), vp.height())
        if self.find_bar.isVisible():
            self.find_bar.adjustSize()
            w = min(self.find_bar.sizeHint().width(), vp.width())
            self.find_bar.setGeometry(vp.right() - w - 4, vp.top() + 4, w, self.find_bar.height())
        if self.follow_button.isVisible():
            self.follow_button.adjustSize()
            b = self.follow_button
            b.move(vp.right() - b.width() - 8, vp.bottom() - b.height() - 8)

    # --- content -------------------------------------------------------------------------------
    def append_lines(
        self,
        lines: Sequence[tuple[str, str]],
        stamp: float | bool | None = True,
        times: Sequence[float | None] | None = None,
    ) -> None:
        """Append (text, level) lines in one edit (a flood of more than ``CHUNK_LINES``: in
        chunks, one per turn of the event loop, see ``pending`` and ``flush``); follows the
        end unless the user scrolled up. ``stamp``: the time the lines arrived (True: now;
        None: unknown); ``times``: each line's own time instead (read back from the file).

        Lines beyond the bound are dropped from the top in one removal before the insertion
        (Qt's own trimming removes them one block at a time: ten times slower on a full log).
        """
        if not lines:
            return
        if self._waiting:  # the log has started: the note it was awaited gives way
            self.clear()
        when = time.time() if stamp is True else stamp
        whens = list(times) if times is not None else [when] * len(lines)
        if not self._pending and len(lines) <= CHUNK_LINES:
            self._insert(lines, whens, len(lines))
            return
        # a flood: in chunks, one per turn of the event loop (the oldest beyond the bound
        # would be dropped at once: they are never inserted)
        self._pending.extend(zip(lines, whens, strict=True))
        limit = self.maximumBlockCount()
        if limit and len(self._pending) > limit:
            if not self._following:
                self._unseen += len(self._pending) - limit
            del self._pending[: len(self._pending) - limit]
        if not self._drain_timer.isActive():
            self._drain_timer.start()

    @property
    def pending(self) -> int:
        """Lines received and not inserted yet (a flood goes in over event-loop turns)."""
        return len(self._pending)

    def _drain(self) -> None:
        chunk = self._pending[:CHUNK_LINES]
        del self._pending[:CHUNK_LINES]
        if chunk:
            self._insert([line for line, _ in chunk], [w for _, w in chunk], len(chunk))
        if self._pending:
            self._drain_timer.start()

    def flush(self) -> None:
        """Insert every pending line now (before the content is read: saving, finding)."""
        self._drain_timer.stop()
        while self._pending:
            self._drain()
        self._drain_timer.stop()

    def _insert(
        self, lines: Sequence[tuple[str, str]], whens: Sequence[float | None], n_new: int
    ) -> None:
        limit = self.maximumBlockCount()
        if limit and len(lines) > limit:
            lines, whens = lines[-limit:], whens[-limit:]
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
            self._uncount(overflow if overflow < blocks_before else blocks_before)
            if overflow >= blocks_before:
                cursor.select(QTextCursor.SelectionType.Document)
                cursor.removeSelectedText()
                first = True
            else:
                cursor.setPosition(doc.findBlockByNumber(overflow).position())
                cursor.setPosition(0, QTextCursor.MoveMode.KeepAnchor)
                cursor.removeSelectedText()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        first_new = 0 if first else cursor.blockNumber() + 1
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
        self._mark(doc.findBlockByNumber(first_new), lines, whens)
        cursor.endEditBlock()
        if follow:
            sb.setValue(sb.maximum())
        else:
            # lines dropped at the top (the bound) move the text up: keep the reader's place
            dropped = max(0, overflow)
            sb.setValue(max(0, min(old_value - dropped, sb.maximum())))
            self._unseen += n_new
            self._show_follow_button()

    def _mark(
        self,
        block: QTextBlock,
        lines: Sequence[tuple[str, str]],
        whens: Sequence[float | None],
    ) -> None:
        """Give each new line's block its level and time; hide it if its level is filtered out;
        count its warnings and errors."""
        hidden = len(self._levels) < len(LEVELS)
        counted = False
        for (_text, level), when in zip(lines, whens, strict=True):
            if not block.isValid():
                break
            tick = 4 * (int(when) - STAMP_BASE + 1) if when is not None else 0
            block.setUserState(_LEVEL_CODE.get(level, 0) + tick)
            if hidden and level not in self._levels:
                block.setVisible(False)
            if level in self._counts:
                self._counts[level] += 1
                counted = True
            block = block.next()
        if counted:
            self.counts_changed.emit(self.level_counts())
        if not self._stamped and any(w is not None for w in whens):
            self._show_gutter(True)

    def _uncount(self, n_blocks: int) -> None:
        """The first ``n_blocks`` lines are about to be dropped: take them off the counts."""
        block = self.document().firstBlock()
        for _ in range(n_blocks):
            level = block_level(block)
            if level in self._counts:
                self._counts[level] -= 1
            block = block.next()

    def _show_gutter(self, on: bool) -> None:
        self._stamped = on
        width = self.fontMetrics().horizontalAdvance("00:00:00") + 12 if on else 0
        self.setViewportMargins(width, 0, 0, 0)
        self.gutter.setVisible(on)
        self._place_overlays()

    # --- levels --------------------------------------------------------------------------------
    def level_counts(self) -> dict[str, int]:
        """How many warning and error lines the view holds."""
        return dict(self._counts)

    def set_levels(self, levels: Iterable[str]) -> None:
        """Show only the lines of these levels ("info", "warning", "error")."""
        self._levels = {lv for lv in levels if lv in LEVELS}
        doc = self.document()
        block = doc.firstBlock()
        while block.isValid():
            block.setVisible(block_level(block) in self._levels)
            block = block.next()
        doc.markContentsDirty(0, doc.characterCount())
        self.viewport().update()
        self.gutter.update()
        if self._following:
            self.scroll_to_end()

    def levels(self) -> set[str]:
        return set(self._levels)

    def export_lines(self) -> list[str]:
        """Every line held, all levels, as ``HH:MM:SS  text`` when its time is known (saving)."""
        self.flush()
        out = []
        block = self.document().firstBlock()
        while block.isValid():
            stamp = format_stamp(block_time(block))
            out.append(f"{stamp}  {block.text()}" if stamp else block.text())
            block = block.next()
        return [] if self.document().isEmpty() else out

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
            self.live_lines += len(lines)
            self.append_lines(lines)

    def bind(self, experiment_id: int | None) -> None:
        """Accept ``append_output`` batches of this run only."""
        if experiment_id != self._experiment_id:
            self._drop_pending()  # another run's lines
        self._experiment_id = experiment_id
        self.live_lines = 0

    def set_lines(
        self, lines: Iterable[tuple[str, str]], times: Sequence[float | None] | None = None
    ) -> None:
        """Replace the content (keeps the last ``maximumBlockCount`` lines) and follow the end;
        ``times``: each line's time (default: none known)."""
        self.clear()
        lines = list(lines)
        whens = list(times) if times is not None else [None] * len(lines)
        limit = self.maximumBlockCount()
        if limit:
            lines, whens = lines[-limit:], whens[-limit:]
        if lines:
            self._insert(lines, whens, len(lines))  # one edit: a load is read at once
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
        timed = timed_tail_lines(
            path, self.maximumBlockCount() or MAX_LINES, end=end, waiting=waiting
        )
        lines = [(text, level) for text, level, _ in timed]
        self.set_lines(lines, [when for _, _, when in timed])
        self.live_lines = 0  # live lines appended since this read
        self._waiting = waiting and lines == [(WAITING_TEXT, "info")]

    def _drop_pending(self) -> None:
        self._drain_timer.stop()
        self._pending.clear()

    def clear(self) -> None:
        self._drop_pending()
        super().clear()
        if self._stamped:
            self._show_gutter(False)
        if any(self._counts.values()):
            self._counts = {"warning": 0, "error": 0}
            self.counts_changed.emit(self.level_counts())
        self._waiting = False
        self._unseen = 0
        self._set_following(True)

    def line_count(self) -> int:
        self.flush()
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
        self.flush()
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
