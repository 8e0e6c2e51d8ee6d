"""NewTrainingWizard: each page refuses bad input with the reason shown, and Finish starts a
real run through the RunController (or shows why it cannot)."""

from __future__ import annotations

import itertools
import shlex
from pathlib import Path

import pytest
from dataset_helpers import make_lmdb_dataset
from PyQt6.QtWidgets import QWizard

from rave_gui.backend.errors import ValidationError
from rave_gui.backend.rave.command import (
    TrainSettings,
    first_phase_steps,
    learning_rate_at,
    suggest_config,
)
from rave_gui.backend.status import ACTIVE, FINAL
from rave_gui.ui.wizard.new_training import NewTrainingWizard

NEXT = QWizard.WizardButton.NextButton
FINISH = QWizard.WizardButton.FinishButton


@pytest.fixture
def project_id(manager) -> int:
    return manager.projects.default_id()


@pytest.fixture
def wizard(qtbot, manager, controller, project_id):
    wiz = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wiz)
    wiz.show()
    return wiz


def _to_config_page(qtbot, wiz: NewTrainingWizard) -> None:
    assert wiz.button(NEXT).isEnabled()
    wiz.next()
    assert wiz.currentPage() is wiz.config_page
    qtbot.waitUntil(lambda: wiz.install is not None, timeout=60_000)


def _to_params_page(qtbot, wiz: NewTrainingWizard) -> None:
    _to_config_page(qtbot, wiz)
    assert wiz.button(NEXT).isEnabled()
    wiz.next()
    assert wiz.currentPage() is wiz.params_page


def test_dataset_page_without_datasets_cannot_continue(wizard):
    page = wizard.dataset_page
    assert wizard.currentPage() is page
    assert not wizard.button(NEXT).isEnabled()
    assert not page.isComplete()
    assert "no dataset yet" in page.error_label.error()


def test_registering_a_dataset_from_the_wizard_selects_it(qtbot, wizard, fake_dataset):
    page = wizard.dataset_page
    dialog = page.register_dataset()
    dialog.set_path(str(fake_dataset))
    assert "44,100 Hz" in dialog.info_label.text()
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    assert page.dataset() is not None
    assert page.dataset().path == str(fake_dataset.resolve())
    assert page.error_label.error() == ""
    assert wizard.button(NEXT).isEnabled()
    assert "3 min 28 s" in page.info_label.text()


def test_a_dataset_folder_gone_since_registration_is_refused(
    manager, project_id, wizard, tmp_path, dataset_factory
):
    folder = dataset_factory(tmp_path / "gone")
    manager.datasets.register(project_id, folder)
    wizard.dataset_page.reload()
    (folder / "metadata.yaml").unlink()
    assert wizard.button(NEXT).isEnabled()
    wizard.next()
    assert wizard.currentPage() is wizard.dataset_page
    assert "metadata.yaml" in wizard.dataset_page.error_label.error()


def test_config_page_lists_the_installed_configs(qtbot, manager, project_id, wizard, fake_dataset):
    manager.datasets.register(project_id, fake_dataset)
    wizard.dataset_page.reload()
    _to_config_page(qtbot, wizard)
    page = wizard.config_page
    # No example count known: the suggestion follows the device (v2_small on a CPU).
    suggested, why = suggest_config(None, wizard.params_page.gpu())
    assert page.base_config() == suggested
    assert page.suggest_label.error() == f"Suggested: {suggested}. {why}"
    page.set_base_config("v2")
    bases = [page.base_list.item(i).text() for i in range(page.base_list.count())]
    assert any(t.startswith("v2_small  —  ") for t in bases)
    page.set_modifier("causal")
    page.set_modifier("noise")
    assert page.configs() == ["v2", "causal", "noise"]
    assert wizard.button(NEXT).isEnabled()
    page.base_list.clearSelection()
    assert not wizard.button(NEXT).isEnabled()
    assert "base configuration" in page.base_error.error()


def test_config_page_shows_a_missing_rave_and_cannot_continue(
    qtbot, manager, controller, project_id, fake_dataset, tmp_path
):
    from dataclasses import replace

    controller.set_settings(replace(controller.settings, rave_executable=str(tmp_path / "nope")))
    manager.datasets.register(project_id, fake_dataset)
    wiz = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()
    page = wiz.config_page
    qtbot.waitUntil(lambda: page.retry_button.isVisibleTo(wiz), timeout=30_000)
    assert "was not found" in page.status_label.error()
    assert "Settings" in page.status_label.error()
    assert not wiz.button(NEXT).isEnabled()


def test_parameters_page_checks_each_field(qtbot, manager, project_id, wizard, fake_dataset):
    manager.datasets.register(project_id, fake_dataset)
    manager.start_training({"name": "taken", "project_id": project_id})
    wizard.dataset_page.reload()
    _to_params_page(qtbot, wizard)
    p = wizard.params_page
    # Defaults: a free name and RAVE's usual values.
    assert p.name_edit.text() == f"strings-{suggest_config(None, p.gpu())[0]}"
    assert p.max_steps_spin.value() == 500_000
    assert p.batch_spin.value() == 8
    assert p.val_every_spin.value() == 10_000
    assert p.save_every() is None
    assert p.gpu() == -1 or p.device_combo.count() > 1
    assert wizard.button(NEXT).isEnabled()

    p.name_edit.setText("")
    assert "empty" in p.name_error.error()
    assert not wizard.button(NEXT).isEnabled()
    p.name_edit.setText("taken")
    assert "already exists" in p.name_error.error()
    assert not wizard.button(NEXT).isEnabled()
    p.name_edit.setText("a/b")
    assert "'/'" in p.name_error.error()
    p.name_edit.setText("fresh")
    assert p.name_error.error() == ""
    assert wizard.button(NEXT).isEnabled()

    p.ema_edit.setText("1.5")
    assert "between 0 and 1" in p.ema_error.error()
    assert not wizard.button(NEXT).isEnabled()
    p.ema_edit.setText("abc")
    assert "not a number" in p.ema_error.error()
    p.ema_edit.setText("0.999")
    assert p.ema_error.error() == ""
    assert p.ema() == 0.999

    p.overrides_edit.setPlainText("model.RAVE.sampling_rate = 48000\n\nnot a binding")
    assert p.overrides_error.error().startswith("Line 3:")
    assert not wizard.button(NEXT).isEnabled()
    p.overrides_edit.setPlainText("model.RAVE.sampling_rate = 48000")
    assert p.overrides_error.error() == ""

    p.val_every_spin.setValue(600_000)
    assert "never happens" in p.val_error.error()
    with pytest.raises(ValidationError) as refused:  # the backend's own check, word for word
        TrainSettings("x", "", max_steps=p.max_steps_spin.value(), val_every=600_000).validate()
    assert p.val_error.error() == str(refused.value)
    assert p.steps_error.error() == ""  # said once, beside the value to change
    p.val_every_spin.setValue(10_000)
    assert wizard.button(NEXT).isEnabled()


def test_parameters_page_explains_the_learning_rate(
    qtbot, manager, project_id, wizard, fake_dataset
):
    manager.datasets.register(project_id, fake_dataset)
    wizard.dataset_page.reload()
    _to_params_page(qtbot, wizard)
    note = wizard.params_page.lr_label.text()
    assert "no learning-rate option" in note
    assert "1,000,000 steps" in note  # v2's first phase
    assert "inside that phase" in note  # 500,000 < 1,000,000
    wizard.params_page.overrides_edit.setPlainText("PHASE_1_DURATION = 200000")
    assert "200,000 steps" in wizard.params_page.lr_label.text()


def test_first_phase_follows_includes_and_overrides(controller):
    install = controller.install()
    path = {c.name: c.path for c in install.configs}
    assert first_phase_steps([path["v2"]]) == 1_000_000
    assert first_phase_steps([path["v2_small"]]) == 1_000_000
    assert first_phase_steps([path["discrete"]]) == 200_000
    assert first_phase_steps([path["v2"], path["wasserstein"]]) == 200_000
    assert first_phase_steps([path["v2"]], ["model.RAVE.phase_1_duration = 1234"]) == 1234
    assert learning_rate_at(0, 1000) == pytest.approx(1e-3)
    assert learning_rate_at(1000, 1000) == pytest.approx(1e-4)
    assert learning_rate_at(500, 1000) == pytest.approx(5.5e-4)


def test_confirmation_shows_every_choice_and_the_exact_command(
    qtbot, manager, project_id, wizard, fake_dataset, settings
):
    manager.datasets.register(project_id, fake_dataset)
    wizard.dataset_page.reload()
    _to_params_page(qtbot, wizard)
    wizard.config_page.set_base_config("v2")
    wizard.config_page.set_modifier("causal")
    p = wizard.params_page
    p.name_edit.setText("my run")
    p.max_steps_spin.setValue(2000)
    p.val_every_spin.setValue(500)
    p.save_every_spin.setValue(1000)
    p.ema_edit.setText("0.99")
    p.overrides_edit.setPlainText("model.RAVE.sampling_rate = 44100")
    wizard.next()
    assert wizard.currentPage() is wizard.confirm_page
    argv = shlex.split(wizard.confirm_page.command_box.toPlainText())
    assert argv[2] == "train"
    pairs = list(itertools.pairwise(argv))
    for pair in [
        ("--config", "v2"),
        ("--config", "causal"),
        ("--db_path", str(fake_dataset.resolve())),
        ("--name", "my run"),
        ("--max_steps", "2000"),
        ("--val_every", "500"),
        ("--save_every", "1000"),
        ("--batch", "8"),
        ("--channels", "1"),
        ("--gpu", "-1"),
        ("--ema", "0.99"),
        ("--override", "model.RAVE.sampling_rate = 44100"),
    ]:
        assert pair in pairs, " ".join(argv)
    out = argv[argv.index("--out_path") + 1]
    assert Path(out).parent == Path(settings.runs_dir)
    # the id and the random part are given when the run is recorded (see runfolder)
    assert Path(out).name == "<id>-my_run-<random>"
    labels = [
        wizard.confirm_page.summary.itemAt(i).widget().text()
        for i in range(wizard.confirm_page.summary.count())
        if wizard.confirm_page.summary.itemAt(i).widget() is not None
    ]
    assert "causal" in labels
    assert "2,000" in labels
    assert wizard.button(FINISH).isEnabled()


def test_finish_shows_a_preflight_refusal_and_stays_open(
    qtbot, manager, controller, project_id, fake_dataset, tmp_path
):
    from dataclasses import replace

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    controller.set_settings(replace(controller.settings, runs_dir=str(blocker / "runs")))
    manager.datasets.register(project_id, fake_dataset)
    wiz = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wiz)
    wiz.show()
    _to_params_page(qtbot, wiz)
    wiz.next()
    wiz.button(FINISH).click()
    assert wiz.isVisible()
    assert wiz.currentPage() is wiz.confirm_page
    error = wiz.confirm_page.error_label.error()
    assert error.startswith("The run was not started")
    assert "not writable" in error
    assert manager.list_experiments(project_id) == []


def test_finished_wizard_starts_a_real_run(qtbot, manager, controller, project_id, real_dataset):
    dataset_id = manager.datasets.register(project_id, real_dataset)
    wiz = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wiz)
    wiz.show()
    assert wiz.dataset_page.dataset_id() == dataset_id
    _to_params_page(qtbot, wiz)
    wiz.config_page.set_base_config("v2_small")
    p = wiz.params_page
    p.name_edit.setText("ui-run")
    p.max_steps_spin.setValue(20)
    p.val_every_spin.setValue(10)
    p.batch_spin.setValue(2)
    p.workers_spin.setValue(0)
    p.device_combo.setCurrentIndex(0)  # CPU
    wiz.next()
    with qtbot.waitSignal(wiz.training_started, timeout=60_000) as started:
        wiz.button(FINISH).click()
    exp_id = started.args[0]
    assert not wiz.isVisible()
    exp = manager.get_experiment(exp_id)
    assert exp.name == "ui-run"
    assert exp.dataset_id == dataset_id
    assert exp.config["configs"] == ["v2_small"]
    assert exp.config["max_steps"] == 20
    assert exp.status in ACTIVE
    qtbot.waitUntil(lambda: manager.get_experiment(exp_id).status != "queued", timeout=30_000)
    assert manager.get_experiment(exp_id).command[2:4] == ["train", "--config"]
    controller.stop(exp_id)
    qtbot.waitUntil(lambda: manager.get_experiment(exp_id).status in FINAL, timeout=60_000)


def test_the_number_fields_stop_where_pre_flight_does(wizard):
    from rave_gui.backend.rave.command import MAX_BATCH, MAX_STEPS, MAX_WORKERS, TrainSettings

    p = wizard.params_page
    maxima = {
        "max_steps": p.max_steps_spin.maximum(),
        "val_every": p.val_every_spin.maximum(),
        "save_every": p.save_every_spin.maximum(),
        "batch": p.batch_spin.maximum(),
        "workers": p.workers_spin.maximum(),
    }
    assert maxima == {
        "max_steps": MAX_STEPS,
        "val_every": MAX_STEPS,
        "save_every": MAX_STEPS,
        "batch": MAX_BATCH,
        "workers": MAX_WORKERS,
    }
    TrainSettings(name="x", dataset_path="/data/db", **maxima).validate()  # all accepted


def test_a_small_dataset_gets_v2_small_a_fitting_batch_and_real_validation_steps(
    qtbot, manager, project_id, wizard, tmp_path
):
    from PyQt6.QtGui import QGuiApplication

    manager.datasets.register(project_id, make_lmdb_dataset(tmp_path / "small", 16, seconds=90.0))
    wizard.dataset_page.reload()
    assert wizard.dataset_page.dataset().n_examples == 16
    _to_config_page(qtbot, wizard)
    c = wizard.config_page
    assert c.base_config() == "v2_small"  # v2 fails on 50 examples or fewer
    assert "v2 needs more than 50" in c.suggest_label.error()
    assert c.warning_label.error() == ""
    c.set_base_config("v2")
    assert "v2 fails at its first validation" in c.warning_label.error()
    assert wizard.button(NEXT).isEnabled()  # a warning, the user may know better
    wizard.next()
    p = wizard.params_page
    p.max_steps_spin.setValue(100)
    p.val_every_spin.setValue(20)
    p.batch_spin.setValue(16)  # 16 examples: 15 train, 1 validates
    assert p.batch_error.error() == (
        "Batch 16 is larger than the 15 training examples of this dataset (16 examples, 1 kept "
        "for validation): use a batch of at most 15."
    )
    assert not wizard.button(NEXT).isEnabled()
    assert p.val_note.error() == ""
    p.batch_spin.setValue(5)  # 3 batches an epoch: "every 20" is every 6 epochs, 18 steps
    assert p.batch_error.error() == ""
    assert p.val_note.error() == (
        "Validation at steps 17, 35, 53, 71, 89 (RAVE rounds to every 6 epoch(s) of 3 batches)."
    )
    p.max_steps_spin.setValue(0)
    assert p.steps_error.error().startswith("max_steps must be a whole number from 1")
    assert p.max_steps_spin.value() == 0  # refused with a message, not reverted
    assert not wizard.button(NEXT).isEnabled()
    p.max_steps_spin.setValue(100)
    assert wizard.button(NEXT).isEnabled()
    wizard.next()
    confirm = wizard.confirm_page
    assert wizard.currentPage() is confirm
    assert "v2 fails at its first validation" in confirm.warning_label.error()
    labels = [
        confirm.summary.itemAt(i).widget().text()
        for i in range(confirm.summary.count())
        if confirm.summary.itemAt(i).widget() is not None
    ]
    assert "20 steps\nValidation at steps 17, 35, 53, 71, 89" in "\n".join(labels)
    QGuiApplication.clipboard().setText("")
    confirm.copy_button.click()
    assert QGuiApplication.clipboard().text() == confirm.command_box.toPlainText() != ""
    assert confirm.copy_button.text() == "Copied"
