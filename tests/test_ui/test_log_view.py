"""LogView (bounded, coloured, following the end, find) and the log tail it loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QTextCursor

from rave_gui.backend.process.logtail import tail_lines
from rave_gui.core.signals import AppSignals
from rave_gui.ui.widgets.log_view import CHUNK_LINES, LogView, level_colors

FIXTURE = Path("/work/shared/fixtures/rave/run_110steps")


@pytest.fixture
def view(qtbot):
    v = LogView(max_lines=5000)
    qtbot.addWidget(v)
    v.resize(700, 300)
    v.show()
    qtbot.waitExposed(v)
    return v


def _line_color(view: LogView, n: int):
    block = view.document().findBlockByNumber(n)
    cursor = QTextCursor(block)
    cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
    return cursor.charFormat().foreground().color()


def test_a_batch_is_appended_in_one_edit_with_levels_coloured(view: LogView):
    edits = []
    view.document().contentsChange.connect(lambda *a: edits.append(a))
    view.append_lines(
        [("plain", "info"), ("careful", "warning"), ("broken", "error"), ("again", "info")]
    )
    assert view.toPlainText() == "plain\ncareful\nbroken\nagain"
    colors = level_colors(view.palette())
    assert _line_color(view, 1) == colors["warning"]
    assert _line_color(view, 2) == colors["error"]
    assert _line_color(view, 3) != colors["error"]
    assert view.line_count() == 4
    assert not view.isUndoRedoEnabled()
    assert view.font().fixedPitch() or "mono" in view.font().family().lower()


def test_the_view_keeps_only_the_last_lines(view: LogView):
    view.append_lines([(f"line {i}", "info") for i in range(3000)])
    view.append_lines([(f"line {i}", "info") for i in range(3000, 6000)])
    assert view.line_count() == 5000
    assert view.document().firstBlock().text() == "line 1000"
    assert view.document().lastBlock().text() == "line 5999"


def test_a_flood_goes_in_over_event_loop_turns_never_holding_the_gui(qtbot, view: LogView):
    flood = [(f"flood {i}", "warning" if i % 1000 == 0 else "info") for i in range(12_000)]
    view.append_lines(flood)
    # nothing yet: the lines beyond the bound were dropped before any insertion
    assert view.pending == 5000 and view.document().isEmpty()
    inserted = []
    view.document().contentsChanged.connect(lambda: inserted.append(view.document().blockCount()))
    qtbot.waitUntil(lambda: view.pending == 0, timeout=5000)
    assert len(inserted) >= 5000 // CHUNK_LINES  # a chunk a turn, not one 5,000-line edit
    assert view.line_count() == 5000
    assert view.document().firstBlock().text() == "flood 7000"
    assert view.document().lastBlock().text() == "flood 11999"
    assert view.level_counts()["warning"] == 5  # 7000, 8000, ..., 11000
    # small batches meanwhile keep their order; a reader (saving, finding) flushes first
    view.append_lines(flood[:2000])
    view.append_lines([("after", "info")])
    assert view.pending == 2001
    assert view.export_lines()[-1].endswith("after") and view.pending == 0
    # another run's lines still waiting are dropped when the view is bound to a new run
    view.append_lines(flood[:3000])
    view.bind(42)
    assert view.pending == 0


def test_following_pauses_while_reading_back_and_resumes_at_the_bottom(qtbot, view: LogView):
    sb = view.verticalScrollBar()
    view.append_lines([(f"line {i}", "info") for i in range(500)])
    assert view.following and sb.value() == sb.maximum()

    sb.setValue(100)  # the user scrolls up to read
    assert not view.following
    top = view.firstVisibleBlock().text()
    view.append_lines([(f"more {i}", "info") for i in range(50)])
    assert view.firstVisibleBlock().text() == top  # the text being read stays put
    assert view.follow_button.isVisible()
    assert "50 new lines" in view.follow_button.text()

    sb.setValue(sb.maximum())  # back to the bottom: following again
    assert view.following
    assert not view.follow_button.isVisible()
    view.append_lines([("last", "info")])
    assert sb.value() == sb.maximum()


def test_reading_back_stays_on_the_same_text_when_old_lines_drop_out(view: LogView):
    view.append_lines([(f"line {i}", "info") for i in range(5000)])
    view.verticalScrollBar().setValue(3000)
    top = view.firstVisibleBlock().text()
    view.append_lines([(f"new {i}", "info") for i in range(200)])  # drops 200 at the top
    assert view.firstVisibleBlock().text() == top


def test_the_follow_button_jumps_to_the_end(qtbot, view: LogView):
    view.append_lines([(f"line {i}", "info") for i in range(300)])
    view.verticalScrollBar().setValue(0)
    view.append_lines([("x", "info")])
    qtbot.mouseClick(view.follow_button, Qt.MouseButton.LeftButton)
    assert view.following
    sb = view.verticalScrollBar()
    assert sb.value() == sb.maximum()


def test_find_bar_next_previous_and_wrap(qtbot, view: LogView):
    view.append_lines(
        [("alpha", "info"), ("needle one", "info"), ("beta", "info"), ("needle two", "info")]
    )
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert view.find_bar.isVisible()
    qtbot.keyClicks(view.find_bar.field, "NEEDLE")  # case-insensitive
    assert view.textCursor().block().text() == "needle one"
    assert view.find_bar.status.text() == "2 matches"
    qtbot.keyClick(view.find_bar.field, Qt.Key.Key_Return)
    assert view.textCursor().block().text() == "needle two"
    qtbot.keyClick(view.find_bar.field, Qt.Key.Key_Return)  # wraps to the first
    assert view.textCursor().block().text() == "needle one"
    qtbot.keyClick(view.find_bar.field, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert view.textCursor().block().text() == "needle two"
    assert not view.find_text("absent")
    assert view.find_bar.status.text() == "not found"
    qtbot.keyClick(view.find_bar.field, Qt.Key.Key_Escape)
    assert not view.find_bar.isVisible()


def test_output_of_the_bound_run_only(view: LogView):
    signals = AppSignals()
    signals.run_output.connect(view.append_output)
    view.bind(7)
    signals.run_output.emit(7, [("mine", "info")])
    signals.run_output.emit(8, [("other run", "info")])
    assert view.toPlainText() == "mine"


def test_loading_a_finished_runs_log_shows_its_cleaned_tail(tmp_path: Path, view: LogView):
    log = tmp_path / "train.log"
    with open(log, "wb") as f:
        for i in range(8000):
            f.write(f"line {i}\n".encode())
        f.write(b"\x1b[33mUserWarning: something\x1b[0m\n")
        f.write(b"Epoch 3:  10%|#  | 1/10 [00:01<00:09, 1.0it/s]\r")
        f.write(b"Epoch 3:  20%|## | 2/10 [00:02<00:08, 1.0it/s]\r")
        f.write(b"Epoch 3:  30%|###| 3/10 [00:03<00:07, 1.0it/s]\n")
        f.write(b"RuntimeError: CUDA out of memory\n")
    view.load_tail(log)
    text = view.toPlainText().splitlines()
    assert len(text) == 5000
    assert text[-2] == "UserWarning: something"  # no ANSI codes
    # the bar updates are the progress bar's, not the log's (as live: one presentation)
    assert not any(t.startswith("Epoch 3") for t in text)
    assert text[-1] == "RuntimeError: CUDA out of memory"
    colors = level_colors(view.palette())
    assert _line_color(view, 4998) == colors["warning"]
    assert _line_color(view, 4999) == colors["error"]
    assert view.following


def test_tail_lines_of_the_real_rave_output():
    lines = tail_lines(FIXTURE / "train.stderr", 5000)
    texts = [t for t, _lvl in lines]
    assert any("`Trainer.fit` stopped" in t for t in texts)
    levels = dict(lines)
    assert levels[next(t for t in texts if "FutureWarning" in t)] == "warning"
    assert all("\x1b" not in t and "\r" not in t for t in texts)
    stdout = tail_lines(FIXTURE / "train.stdout", 5000)
    assert ("train set: 35 examples", "info") in stdout
    assert len(tail_lines(FIXTURE / "train.stderr", 10)) == 10


def test_tail_lines_reads_only_the_end_and_reports_a_missing_file(tmp_path: Path):
    log = tmp_path / "big.log"
    log.write_bytes(b"".join(f"row {i}\n".encode() for i in range(200_000)))
    lines = tail_lines(log, 3)
    assert [t for t, _ in lines] == ["row 199997", "row 199998", "row 199999"]
    small = tail_lines(log, 50, max_bytes=100)  # a cap on bytes read: whole lines only
    assert all(t.startswith("row ") for t, _ in small) and len(small) < 50
    missing = tail_lines(tmp_path / "nope.log")
    assert len(missing) == 1 and missing[0][1] == "warning"
    assert "does not exist" in missing[0][0]
    assert tail_lines(log, 0) == []


def test_a_run_without_a_log_file_says_so(view: LogView):
    view.load_tail(None)
    assert "no log file" in view.toPlainText()


def test_finding_while_reading_back_keeps_the_follow_button(view: LogView):
    view.append_lines([(f"line {i}", "info") for i in range(300)])
    view.verticalScrollBar().setValue(50)
    view.append_lines([("fresh", "info")])
    assert view.follow_button.isVisible()
    view.open_find()
    view.find_bar.field.setText("line 12")  # from the first visible line on
    assert view.textCursor().block().text() == "line 120"
    assert not view.following
    assert view.follow_button.isVisible()


def test_a_live_runs_log_not_written_yet_is_awaited_not_reported_missing(
    tmp_path: Path, view: LogView
):
    log = tmp_path / "run" / "train.log"  # the run has started; its log is not there yet
    view.load_tail(log, 0, waiting=True)
    assert view.toPlainText() == "Waiting for the run's log…"
    assert _line_color(view, 0) not in level_colors(view.palette()).values()  # plain info
    view.append_lines([("train set: 35 examples", "info")])  # its first lines replace the note
    assert view.toPlainText() == "train set: 35 examples"
    view.append_lines([("val set: 1 examples", "info")])
    assert view.toPlainText().splitlines() == ["train set: 35 examples", "val set: 1 examples"]


def test_an_ended_runs_missing_log_is_still_reported(tmp_path: Path, view: LogView):
    view.load_tail(tmp_path / "gone.log", waiting=False)
    assert "does not exist" in view.toPlainText()
    assert _line_color(view, 0) == level_colors(view.palette())["warning"]


def test_an_awaited_log_that_exists_is_shown_as_it_is(tmp_path: Path, view: LogView):
    log = tmp_path / "train.log"
    log.write_bytes(b"train set: 35 examples\n")
    view.load_tail(log, waiting=True)
    view.append_lines([("val set: 1 examples", "info")])
    assert view.toPlainText().splitlines() == ["train set: 35 examples", "val set: 1 examples"]
