"""tail_lines: the end of a run's log, cleaned, optionally only up to what a follower read."""

from __future__ import annotations

from pathlib import Path

from rave_gui.backend.process.logtail import tail_lines


def test_tail_keeps_the_last_lines_with_levels(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(100)) + b"Traceback x\nWARNING w\n")
    lines = tail_lines(log, 3)
    assert [t for t, _ in lines][-1] == "WARNING w"
    assert lines[-1][1] == "warning"
    assert len(lines) == 3


def test_tail_up_to_an_offset_leaves_out_what_comes_live(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    first = b"".join(b"read %d\n" % i for i in range(10))
    log.write_bytes(first + b"not yet read 1\nnot yet read 2\n")
    texts = [t for t, _ in tail_lines(log, 100, end=len(first))]
    assert texts == [f"read {i}" for i in range(10)]
    assert tail_lines(log, 100, end=0) == []


def test_a_missing_log_gives_a_warning_line_not_an_error(tmp_path: Path) -> None:
    ((text, level),) = tail_lines(tmp_path / "gone.log")
    assert level == "warning" and "does not exist" in text
