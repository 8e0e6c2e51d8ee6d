"""RunDetailView on a real imported RAVE run, and the wizard prefilled by "Run again"."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QWizard

from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.ui.widgets.run_detail import RunDetailDialog, RunDetailView
from rave_gui.ui.wizard.new_training import NewTrainingWizard

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rave"
NEXT = QWizard.WizardButton.NextButton


@pytest.fixture
def imported(manager, tmp_path: Path) -> int:
    """The real 110-step capture as `rave train` lays out its folder, imported."""
    from rave_gui.backend.runs.engine import import_run

    src = FIXTURES / "run_110steps"
    if not src.exists():
        pytest.skip("shared fixtures not present")
    run = tmp_path / "long_d744cc98b7"
    version = run / "version_0"
    (version / "checkpoints").mkdir(parents=True)
    for f in src.glob("events.out.tfevents.*"):
        shutil.copy(f, version / f.name)
    shutil.copy(src / "config.gin", run / "config.gin")
    (version / "checkpoints" / "best.ckpt").write_bytes(b"0" * 4000)
    return import_run(manager, run)


def test_detail_shows_information_statistics_and_the_searchable_config(
    qtbot, manager, imported
) -> None:
    view = RunDetailView(manager, imported)
    qtbot.addWidget(view)
    view.show()
    titles = [view.tabs.tabText(i) for i in range(view.tabs.count())]
    assert titles == ["Information", "Statistics", "Configuration", "Files", "Alerts (0)",
                      "Notes && tags"]  # fmt: skip
    d = view.detail
    assert d is not None
    points = read_scalars(Path(d.info["run_dir"]))
    steps = max(p.step for p in points)
    assert d.statistics["steps"] == steps
    val = [p for p in points if p.tag == "validation"]
    best = min(val, key=lambda p: p.value)
    assert d.statistics["best_validation"] == pytest.approx(best.value)
    assert d.statistics["best_validation_step"] == best.step
    assert d.statistics["mean_speed"] > 0 and d.statistics["checkpoints"] == 1
    assert d.statistics["phase_1_steps"] is not None  # read from the run's own config.gin
    labels = type(view.find_label)
    info_text = " ".join(w.text() for w in view.tabs.widget(0).findChildren(labels))
    assert "long_d744cc98b7" in info_text and view.open_folder_button.isEnabled()
    # what the folder of an imported run cannot tell is said, not a bare dash
    assert info_text.count("not recorded (an imported run") == 2  # its dataset and command
    stats_text = " ".join(w.text() for w in view.tabs.widget(1).findChildren(labels))
    assert f"Steps reached: {steps:,}" in stats_text
    assert f"at step {best.step}" in stats_text and "Mean speed: 1.10 s/step" in stats_text

    gin = (FIXTURES / "run_110steps" / "config.gin").read_text()
    assert view.gin_view.toPlainText() == gin
    word = "PHASE_1_DURATION"
    n = gin.lower().count(word.lower())  # the find is case-insensitive
    assert view.find(word) == n > 1 and view.find_label.text() == f"{n} matches"
    assert view.gin_view.textCursor().selectedText().lower() == word.lower()
    assert view.find("no such text") == 0 and view.find_label.text() == "0 matches"
    params = {
        view.parameters_table.item(r, 0).text(): view.parameters_table.item(r, 1).text()
        for r in range(view.parameters_table.rowCount())
    }
    assert params["imported_from"].endswith("long_d744cc98b7")
    assert view.checkpoints_table.rowCount() == 1


def test_notes_and_tags_are_edited_and_stored(qtbot, manager, imported) -> None:
    dialog = RunDetailDialog(manager, imported)
    qtbot.addWidget(dialog)
    view = dialog.view
    view.notes_edit.setPlainText("warm, a bit noisy")
    view.tags_edit.setText("keeper,  48k , keeper")
    with qtbot.waitSignal(dialog.saved) as saved:
        view.save_button.click()
    assert saved.args == [imported]
    assert manager.history.notes(imported) == "warm, a bit noisy"
    assert manager.history.tags(imported) == ["48k", "keeper"]
    assert view.tags_edit.text() == "48k, keeper" and view.save_label.text() == "Saved."
    view.reload()
    assert view.notes_edit.toPlainText() == "warm, a bit noisy"
    view.tags_edit.setText("x" * 70)
    assert not view.save()
    assert view.save_label.text().startswith("Not saved: A tag has at most")
    assert manager.history.tags(imported) == ["48k", "keeper"]  # nothing changed


def test_detail_of_a_deleted_run_says_so(qtbot, manager) -> None:
    view = RunDetailView(manager, 12345)
    qtbot.addWidget(view)
    assert view.detail is None and view.tabs.count() == 0
    assert "no experiment with id 12345" in view.error_label.text()


def test_run_again_prefills_every_page(qtbot, manager, controller, fake_dataset) -> None:
    project = manager.projects.default_id()
    ds = manager.datasets.register(project, fake_dataset)
    manager.datasets.register(project, _second_dataset(fake_dataset), "another")
    exp = manager.experiments.create(
        {
            "name": "strings-v2",
            "dataset_id": ds,
            "dataset_path": str(fake_dataset),
            "configs": ["v2", "causal"],
            "overrides": ["model.RAVE.n_bands = 8"],
            "max_steps": 123_000,
            "val_every": 3000,
            "save_every": 20_000,
            "batch": 4,
            "workers": 2,
            "ema": 0.999,
            "gpu": -1,
            "log_every": 7,
        }
    )
    # the last choices remembered from another run must not win over the repeated run's own
    controller.set_settings(
        dataclasses.replace(
            controller.settings,
            last_training={"configs": ["v1"], "max_steps": 777, "batch": 2, "log_every": 9},
        )
    )
    manager.experiments.create({"name": "strings-v2-again"})  # taken: the next one is -2
    wiz = NewTrainingWizard(manager, controller, project)
    qtbot.addWidget(wiz)
    wiz.prefill(exp)
    wiz.show()
    assert wiz.dataset_page.dataset_id() == ds  # not the first listed, the run's own
    wiz.next()
    qtbot.waitUntil(lambda: wiz.install is not None, timeout=60_000)
    assert wiz.config_page.configs() == ["v2", "causal"]
    wiz.next()
    p = wiz.params_page
    assert p.name_edit.text() == "strings-v2-again-2"
    s = wiz.train_settings()
    assert (s.max_steps, s.val_every, s.save_every, s.batch, s.workers, s.ema, s.gpu) == (
        123_000, 3000, 20_000, 4, 2, 0.999, -1
    )  # fmt: skip
    assert s.overrides == ["model.RAVE.n_bands = 8"] and s.configs == ["v2", "causal"]
    assert s.log_every == 7
    assert wiz.repeated_from == exp and "again from strings-v2" in wiz.windowTitle()


def _second_dataset(first: Path) -> Path:
    second = first.parent / "other"
    shutil.copytree(first, second)
    return second


def test_run_again_from_the_history_opens_the_wizard_prefilled(qtbot, window, manager) -> None:
    exp = manager.experiments.create({"name": "drums", "batch": 16, "max_steps": 70_000})
    window.set_project(manager.projects.default_id())
    window.training_page.history.table.selectRow(0)
    window.training_page.history.run_again_action.trigger()
    wizards = window.findChildren(NewTrainingWizard)
    assert len(wizards) == 1 and wizards[0].repeated_from == exp
    p = wizards[0].params_page
    assert (p.name_edit.text(), p.batch_spin.value(), p.max_steps_spin.value()) == (
        "drums-again", 16, 70_000
    )  # fmt: skip
    wizards[0].reject()
