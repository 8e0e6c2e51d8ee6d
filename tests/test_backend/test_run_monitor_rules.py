"""Rules behind the run panel's monitor: the cards' series and trends, the last stored points,
where a step falls in its epoch, saving a log, and the one log presentation."""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import pytest

from rave_gui.backend.errors import RaveGuiError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process import supervisor
from rave_gui.backend.process.logfollow import lines_of
from rave_gui.backend.process.logtail import (
    LogSaveError,
    read_times,
    save_log,
    tail_lines,
    timed_tail_lines,
)
from rave_gui.backend.process.supervisor import MARK_INTERVAL_S, TIME_RECORD, TIMES_SUFFIX
from rave_gui.backend.rave.command import batches_per_epoch, epoch_position
from rave_gui.backend.rave.logparse import LogParser
from rave_gui.backend.runs.cards import (
    BETTER,
    STEADY_TREND,
    WORSE,
    CardSeries,
    CardValue,
    stored_card_points,
)


def test_trends_of_losses_on_a_known_series():
    series = CardSeries()
    series.add({"validation": [(10, 1.0), (20, 0.8)], "loss_dis": [(10, 0.5), (20, 0.9)]})
    series.add({"regularization": [(20, 0.1)], "fullband_spectral_distance": [(20, 2.0)]})
    series.add({"fullband_spectral_distance": [(30, 2.0)]})
    cards = {c.name: c for c in series.values()}
    assert list(cards) == [
        "validation",
        "fullband_spectral_distance",
        "regularization",
        "loss_dis",
    ]  # RAVE's order, whatever the arrival
    assert (cards["validation"].trend, cards["validation"].arrow) == (BETTER, "▼")
    assert cards["validation"].change == pytest.approx(-0.2)
    assert (cards["loss_dis"].trend, cards["loss_dis"].arrow) == (WORSE, "▲")
    assert (cards["regularization"].trend, cards["regularization"].arrow) == (None, "")
    assert cards["fullband_spectral_distance"].trend == STEADY_TREND
    assert CardValue("validation", 40, math.inf, 0.8).trend == WORSE


def test_points_arriving_out_of_order_keep_the_newest_two():
    series = CardSeries()
    series.add({"validation": [(30, 0.5)]})  # live first
    series.add({"validation": [(10, 0.9), (20, 0.7)]})  # then the stored read
    (card,) = series.values()
    assert (card.step, card.value, card.previous) == (30, 0.5, 0.7)
    assert series.add({"validation": [(30, 0.4)]}) == {"validation"}  # the same step again
    (card,) = series.values()
    assert (card.value, card.previous) == (0.4, 0.7)
    assert series.add({"validation": [(30, 0.4), (5, 2.0)], "beta": []}) == set()  # nothing new
    assert series.add({"loss_dis": [(7, None)]}) == {"loss_dis"}
    assert math.isnan(next(c for c in series.values() if c.name == "loss_dis").value)


def test_the_last_stored_points_of_each_card_series(tmp_path: Path):
    manager = TrainingManager(tmp_path / "db.sqlite3")
    try:
        exp = manager.start_training({"name": "r"})
        pts = [("validation", s, 1.0 / s, None) for s in range(1, 1001)]
        pts += [("beta_factor", 5, 0.1, None), ("regularization", 7, float("nan"), None)]
        manager.metrics.add_points(exp, pts)
        got = stored_card_points(manager.metrics, exp)
        assert got["validation"] == [(999, pytest.approx(1 / 999)), (1000, pytest.approx(0.001))]
        assert "beta_factor" not in got
        assert math.isnan(got["regularization"][0][1])
    finally:
        manager.close()


def test_where_a_step_falls_in_its_epoch():
    bpe = batches_per_epoch(36, 2)  # 98 % of 36 is 35 training examples: 17 batches
    assert bpe == 17
    assert epoch_position(0, bpe) == (0, 0)
    assert epoch_position(40, bpe) == (2, 6)
    assert epoch_position(None, bpe) is None and epoch_position(5, 0) is None


def test_saving_a_log_and_a_folder_that_cannot_take_it(tmp_path: Path):
    out = tmp_path / "log.txt"
    assert save_log(out, ["12:00:01  a", "b"]) == len("12:00:01  a\nb\n")
    assert out.read_text(encoding="utf-8") == "12:00:01  a\nb\n"
    with pytest.raises(LogSaveError) as err:
        save_log(tmp_path / "missing" / "log.txt", ["x"])
    assert isinstance(err.value, RaveGuiError) and "could not be saved" in str(err.value)
    assert not list(tmp_path.glob("**/*.part"))


def test_one_presentation_of_step_lines_bars_and_metrics(tmp_path: Path):
    data = (
        b"train set: 35 examples\n"
        b"Epoch 0:  10%|#  | 1/10 [00:01<00:09, 1.0it/s]\r"
        b"Epoch 0:  20%|## | 2/10 [00:02<00:08, 1.0it/s]\n"
        b"rave-gui: step=5\n"
        b"loss: 0.25\n"
        b"WARNING something\n"
    )
    parser = LogParser()
    events = []
    for i in range(0, len(data), 7):  # as a follower reads it: in pieces
        events += parser.feed(data[i : i + 7])
    live = lines_of(events + parser.flush())
    log = tmp_path / "train.log"
    log.write_bytes(data)
    assert (
        tail_lines(log)
        == live
        == [
            ("train set: 35 examples", "info"),
            ("step 5: loss=0.25", "info"),  # the step the launcher's line named
            ("WARNING something", "warning"),
        ]
    )


def test_the_supervisor_records_when_the_log_was_written(tmp_path: Path, monkeypatch):
    log, times = tmp_path / "train.log", tmp_path / ("train.log" + TIMES_SUFFIX)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    tfd = os.open(times, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    clock = [1_800_000_000.0]
    monkeypatch.setattr(supervisor.time, "time", lambda: clock[0])
    writer = supervisor.LogWriter(fd, 1.0, tfd)
    writer.feed(b"first\n", 0.0)
    clock[0] += 0.5
    writer.feed(b"second\n", 0.5)  # within MARK_INTERVAL_S: not recorded yet
    clock[0] += MARK_INTERVAL_S
    writer.tick(3.0)  # recorded now, with the time of its write
    clock[0] += 0.1
    writer.close(b"[rave-gui] process exited with code 0\n")  # the end is always recorded
    os.close(fd)
    os.close(tfd)
    records = list(TIME_RECORD.iter_unpack(times.read_bytes()))
    assert records == [
        (6, 1_800_000_000.0),
        (13, 1_800_000_000.5),
        (log.stat().st_size, 1_800_000_000.0 + 0.5 + MARK_INTERVAL_S + 0.1),
    ]
    timed = timed_tail_lines(log)
    assert [(t, w) for t, _, w in timed] == [
        ("first", 1_800_000_000.0),
        ("second", 1_800_000_000.5),
        ("[rave-gui] process exited with code 0", records[2][1]),
    ]
    # a tail that starts in the middle finds its records by bisection
    assert read_times(log, 6, 13) == [(13, 1_800_000_000.5)]
    assert timed_tail_lines(log, 1) == [timed[-1]]
    times.unlink()  # a log without records (older runs): no times, same lines
    assert [w for _, _, w in timed_tail_lines(log)] == [None, None, None]


def test_records_of_a_long_run_are_found_without_reading_them_all(tmp_path: Path):
    log = tmp_path / "train.log"
    lines = [f"line {i}\n".encode() for i in range(20_000)]
    log.write_bytes(b"".join(lines))
    offsets = list(itertools.accumulate(len(x) for x in lines))
    (tmp_path / ("train.log" + TIMES_SUFFIX)).write_bytes(
        b"".join(TIME_RECORD.pack(off, 1000.0 + i) for i, off in enumerate(offsets))
    )
    timed = timed_tail_lines(log, 3)
    assert timed == [
        ("line 19997", "info", 20997.0),
        ("line 19998", "info", 20998.0),
        ("line 19999", "info", 20999.0),
    ]
