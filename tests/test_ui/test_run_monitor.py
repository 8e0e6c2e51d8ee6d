"""The run panel as a monitor: metric cards, the epoch's bar, the log's times, filter, counts
and saving, one log presentation live and read back, and a log read to its end when the run
ended while the app was closed (replayed real RAVE runs)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from dataset_helpers import make_lmdb_dataset
from replay_helpers import (
    fixtures_available,
    kill_group,
    start_replay_experiment,
    wait_until,
)

from rave_gui.backend.process import runner
from rave_gui.backend.process.logtail import tail_lines
from rave_gui.backend.process.supervisor import MARK_INTERVAL_S
from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.backend.runs.cards import CARD_TERMS, card_names
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.ui.pages.training_page import TrainingPage
from rave_gui.ui.widgets.log_panel import LogPanel
from rave_gui.ui.widgets.metric_cards import BAD_COLOR, GOOD_COLOR, MetricCards

FIXTURES = Path("/work/shared/fixtures/rave")
needs_fixtures = pytest.mark.skipif(
    not fixtures_available(), reason="the captured RAVE runs (shared/fixtures/rave) are not here"
)
STAMP = re.compile(r"^\d\d:\d\d:\d\d  ")


def _times(lines: list[str]) -> list[int | None]:
    """Seconds of the day of each exported line's time (None: no time)."""
    out: list[int | None] = []
    for line in lines:
        m = STAMP.match(line)
        h, mi, sec = (int(x) for x in line[:8].split(":")) if m else (0, 0, 0)
        out.append(h * 3600 + mi * 60 + sec if m else None)
    return out


class _NoRuns:
    """The page's controller for tests that start nothing."""

    def active_ids(self) -> list[int]:
        return []


def _page(qtbot, manager, signals, controller=None) -> TrainingPage:
    p = TrainingPage(manager, controller or _NoRuns(), signals)
    p.confirm_actions = False
    qtbot.addWidget(p)
    p.resize(1300, 800)
    p.show()
    qtbot.waitExposed(p)
    return p


# --- metric cards ------------------------------------------------------------------------------
def test_cards_show_the_change_with_arrow_and_colour(qtbot):
    cards = MetricCards()
    qtbot.addWidget(cards)
    cards.resize(900, 100)
    cards.show()
    cards.add_points({"validation": [(10, 0.9), (20, 0.7)], "regularization": [(10, 0.1)]})
    cards.add_points({"regularization": [(20, 0.3)], "beta_factor": [(20, 0.5)]})
    cards.add_points({"multiband_spectral_distance": [(20, 2.0)]})
    cards.add_points({"multiband_spectral_distance": [(30, 2.0)]})
    assert list(cards.cards) == ["validation", "multiband_spectral_distance", "regularization"]
    texts = cards.card_texts()
    assert texts["validation"] == ("0.7000", "▼ -0.2")  # a loss going down: better
    assert cards.cards["validation"].color() == GOOD_COLOR
    assert texts["regularization"] == ("0.3000", "▲ +0.2")  # going up: worse
    assert cards.cards["regularization"].color() == BAD_COLOR
    assert texts["multiband_spectral_distance"] == ("2.0000", "→ +0")  # steady: no colour
    assert cards.cards["multiband_spectral_distance"].color() is None
    # an older point arriving late (a stored read after live points) changes nothing
    cards.add_points({"validation": [(5, 5.0)]})
    assert cards.card_texts()["validation"] == ("0.7000", "▼ -0.2")
    cards.add_points({"validation": [(30, float("nan"))]})
    assert cards.card_texts()["validation"] == ("NaN", "not a number")
    assert cards.cards["validation"].color() == BAD_COLOR
    cards.clear()
    assert not cards.isVisible() and not cards.cards


def test_live_points_show_at_most_once_a_second_and_the_last_wins(qtbot):
    cards = MetricCards()
    qtbot.addWidget(cards)
    cards.resize(900, 100)
    cards.show()
    cards.add_points({"validation": [(10, 0.9)]}, live=True)
    assert cards.card_texts()["validation"] == ("0.9000", "first value")  # the first at once
    height = cards.cards["validation"].height()
    t0 = time.monotonic()
    for step in range(20, 120, 10):  # a burst: shown once, with the last value
        cards.add_points({"validation": [(step, step / 100)]}, live=True)
    assert cards.card_texts()["validation"] == ("0.9000", "first value")
    qtbot.waitUntil(lambda: cards.card_texts()["validation"][0] == "1.1000", timeout=5000)
    assert time.monotonic() - t0 >= 0.5
    assert cards.card_texts()["validation"] == ("1.1000", "▲ +0.1")
    assert cards.cards["validation"].height() == height  # arrows or not: one height
    card = cards.cards["validation"]
    font = card.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    card.setFont(font)  # a bigger font: the height is measured again, the texts kept
    assert card.maximumHeight() > height
    assert cards.card_texts()["validation"] == ("1.1000", "▲ +0.1")


def test_card_series_are_ravés_loss_terms_or_other_trainers_losses():
    if not (FIXTURES / "run_110steps").exists():
        pytest.skip("the captured RAVE runs are not here")
    tags = {p.tag for p in read_scalars(FIXTURES / "run_110steps")}
    names = card_names(tags)
    assert names[0] == "validation"
    assert set(names) <= set(CARD_TERMS) and "beta_factor" not in names
    assert "fidelity_0.95" not in names
    assert card_names(["train_loss", "val_loss", "acc"]) == ["val_loss", "train_loss"]


@needs_fixtures
def test_a_finished_run_shows_its_stored_last_values_as_cards(qtbot, manager, signals, tmp_path):
    exp = manager.experiments.import_record(
        {"name": "long", "max_steps": 110}, status="completed", log_path=str(tmp_path / "x.log")
    )
    points = [
        (p.tag, p.step, p.value, p.wall_time) for p in read_scalars(FIXTURES / "run_110steps")
    ]
    manager.metrics.add_points(exp, points)
    page = _page(qtbot, manager, signals)
    page.set_project(manager.projects.default_id())
    cards = page.panel.metric_cards
    qtbot.waitUntil(lambda: "validation" in cards.cards, timeout=5000)  # read off the GUI thread
    last = {}
    for tag, step, value, _ in points:
        last.setdefault(tag, []).append((step, value))
    val = sorted(last["validation"])
    value, change = cards.card_texts()["validation"]
    assert value == f"{val[-1][1]:.4f}"
    assert change.endswith(f"{val[-1][1] - val[-2][1]:+.3g}")
    colour = GOOD_COLOR if val[-1][1] < val[-2][1] else BAD_COLOR
    assert cards.cards["validation"].color() == colour
    # live points of another run change nothing; of this run, the card
    signals.run_metrics.emit(exp + 1, {"validation": [(999, 0.0)]})
    assert cards.card_texts()["validation"][0] == value
    signals.run_metrics.emit(exp, {"validation": [(999, val[-1][1] + 1.0)]})
    # live points show at most once a second (the stored ones came just now)
    qtbot.waitUntil(
        lambda: cards.card_texts()["validation"] == (f"{val[-1][1] + 1.0:.4f}", "▲ +1"),
        timeout=5000,
    )
    page.shutdown()


# --- the epoch's bar ---------------------------------------------------------------------------
def test_the_epoch_bar_counts_the_batches_of_the_current_epoch(qtbot, manager, signals, tmp_path):
    folder = make_lmdb_dataset(tmp_path / "db", 36)  # 98 % train: 35; batch 2: 17 batches
    ds = manager.datasets.register(manager.projects.default_id(), folder, "drums")
    assert manager.datasets.get(ds).n_examples == 36
    exp = manager.start_training({"name": "live", "max_steps": 1000, "batch": 2, "dataset_id": ds})
    manager.update_experiment_status(exp, "running")
    page = _page(qtbot, manager, signals)
    page.set_project(manager.projects.default_id())
    signals.run_progress.emit(exp, {"step": 40, "max_steps": 1000, "rate": 1.0})
    bar = page.panel.epoch_bar
    assert bar.isVisible()
    assert (bar.value(), bar.maximum()) == (6, 17)  # 40 = 2 × 17 + 6
    assert bar.format() == "epoch 2: batch 6 of 17"
    signals.run_progress.emit(exp, {"step": 51, "max_steps": 1000, "rate": 1.0})
    assert bar.format() == "epoch 3: batch 0 of 17"
    page.shutdown()


# --- the log panel -----------------------------------------------------------------------------
def test_live_lines_carry_their_time_and_the_log_filters_counts_and_saves(qtbot, tmp_path):
    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 300)
    panel.show()
    view = panel.view
    view.set_lines([("read back from the file", "info")])
    assert not view.gutter.isVisible()  # a log read back has no times: no gutter
    before = time.time()
    view.append_lines([("live 1", "info"), ("careful", "warning"), ("broken", "error")])
    view.append_lines([("again", "warning")])
    assert view.gutter.isVisible()
    assert view.level_counts() == {"warning": 2, "error": 1}
    assert panel.level_buttons["warning"].text() == "Warnings (2)"
    assert panel.level_buttons["error"].text() == "Errors (1)"
    lines = view.export_lines()
    assert lines[0] == "read back from the file"
    stamp = time.strftime("%H:%M:%S", time.localtime(before))
    assert all(STAMP.match(line) for line in lines[1:])
    assert lines[1][:8] in (stamp, time.strftime("%H:%M:%S"))

    panel.level_buttons["info"].setChecked(False)  # warnings and errors only
    doc = view.document()
    shown = [doc.findBlockByNumber(i).text() for i in range(doc.blockCount())]
    visible = [t for i, t in enumerate(shown) if doc.findBlockByNumber(i).isVisible()]
    assert visible == ["careful", "broken", "again"]
    view.append_lines([("more info", "info"), ("late error", "error")])
    assert not doc.findBlockByNumber(5).isVisible() and doc.findBlockByNumber(6).isVisible()
    panel.level_buttons["info"].setChecked(True)
    assert all(doc.findBlockByNumber(i).isVisible() for i in range(doc.blockCount()))

    out = tmp_path / "saved.log"
    with qtbot.waitSignal(panel.saved, timeout=5000):
        panel.save_to(str(out))
    saved = out.read_text(encoding="utf-8").splitlines()
    assert saved == view.export_lines() and len(saved) == 7  # every level, filter or not
    assert panel.message.text() == f"Saved to {out}"
    with qtbot.waitSignal(panel.saved, timeout=5000):
        panel.save_to(str(tmp_path / "no such folder" / "x.log"))
    assert "could not be saved" in panel.message.text() and panel.save_button.isEnabled()


def test_counts_follow_the_lines_dropped_at_the_bound(qtbot):
    panel = LogPanel()
    qtbot.addWidget(panel)
    view = panel.view
    view.setMaximumBlockCount(10)
    view.append_lines([("w", "warning")] * 4 + [("e", "error")] * 2)
    view.append_lines([("i", "info")] * 8)  # drops the four warnings
    assert view.line_count() == 10
    assert view.level_counts() == {"warning": 0, "error": 2}
    view.append_lines([("i", "info")])  # and an error
    assert view.level_counts() == {"warning": 0, "error": 1}
    view.clear()
    assert view.level_counts() == {"warning": 0, "error": 0}


# --- one presentation, and a log read to its end (replayed real runs) --------------------------
@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "runs"
    d.mkdir()
    return d


@needs_fixtures
def test_the_log_reads_the_same_live_and_read_back(qtbot, manager, signals, controller, runs_dir):
    run = start_replay_experiment(
        manager, runs_dir, fixture="run_40steps", name="t1", duration=2.0, tick_every=0.1
    )
    try:
        page = _page(qtbot, manager, signals, controller)
        page.set_project(manager.projects.default_id())
        assert page.current_id == run.exp_id
        with qtbot.waitSignal(signals.run_completed, timeout=30_000):
            controller.follow(run.exp_id)
        live = page.log_view.toPlainText()
        live_times = _times(page.log_view.export_lines())
        log_bytes = run.launched.log_path.read_bytes()
        assert b"rave-gui: step=" in log_bytes and b"\r" in log_bytes  # ticks and bars written
        assert "rave-gui: step=" not in live and "it/s" not in live
        assert "`Trainer.fit` stopped: `max_steps=40` reached." in live
        # read back: another run selected, then this one again (as after re-attaching)
        page.panel.load_run(run.exp_id, manager.get_experiment(run.exp_id), True)
        again = page.log_view.toPlainText()
        assert again == live
        # the same times too, within the supervisor's recording interval (and a poll)
        again_times = _times(page.log_view.export_lines())
        assert None not in again_times and len(again_times) == len(live_times)
        lag = [a - b for a, b in zip(again_times, live_times, strict=True) if b is not None]
        assert lag and max(abs(d) for d in lag) <= MARK_INTERVAL_S + 2
        assert [t for t, _ in tail_lines(run.launched.log_path, 5000)] == live.splitlines()
        page.shutdown()
    finally:
        kill_group(run.pgid)


@needs_fixtures
def test_a_run_that_ended_while_the_app_was_closed_shows_its_whole_log(
    qtbot, manager, signals, controller, runs_dir
):
    run = start_replay_experiment(
        manager, runs_dir, fixture="run_110steps", name="long", duration=3.0, tick_every=0.1
    )
    try:
        # the app before it was closed: its follower read the run's start
        follower = RunFollower(manager, run.exp_id)
        assert wait_until(
            lambda: follower.poll() and (manager.follow_state.offset(run.exp_id) or 0) > 2000, 10
        )
        follower.close()
        cut = manager.follow_state.offset(run.exp_id)
        assert wait_until(lambda: not runner.group_alive(run.pgid), 30)  # it ended unwatched
        assert manager.get_experiment(run.exp_id).status == "running"  # nobody noticed yet

        # the app reopened: the run is shown before its end is recorded
        page = _page(qtbot, manager, signals, controller)
        page.set_project(manager.projects.default_id())
        assert page.current_id == run.exp_id
        end_line = "`Trainer.fit` stopped: `max_steps=110` reached."
        assert end_line not in page.log_view.toPlainText()  # only what was read before, so far
        assert run.launched.log_path.stat().st_size > (cut or 0)
        controller.attach_existing()
        qtbot.waitUntil(lambda: page.panel.status_badge.text() == "completed", timeout=15_000)
        log = page.log_view.toPlainText()
        assert end_line in log  # the whole log, without selecting another run and back
        assert log == "\n".join(t for t, _ in tail_lines(run.launched.log_path, 5000))
        page.shutdown()
    finally:
        kill_group(run.pgid)


def test_cards_keep_one_row_dropping_the_least_telling_when_narrow(qtbot):
    cards = MetricCards()
    qtbot.addWidget(cards)
    cards.resize(900, 100)
    cards.show()
    names = ["validation", "multiband_spectral_distance", "fullband_spectral_distance"]
    cards.add_points({n: [(10, 1.0), (20, 0.5)] for n in [*names, "regularization"]})
    assert cards.shown() == [*names, "regularization"]
    height = cards.sizeHint().height()
    cards.resize(3 * 130, 100)  # room for three
    qtbot.waitUntil(lambda: cards.shown() == names)
    assert cards.sizeHint().height() < 1.5 * height  # one row, not two: the plot keeps its height
    assert cards.minimumWidth() < 3 * 130  # it does not hold the panel wide
