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
    env, *argv = shlex.split(wizard.confirm_page.command_box.toPlainText())
    assert env == f"RAVE_GUI_LOG_EVERY_N_STEPS={p.log_every()}"  # the launcher reads it
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


def _ended_run(manager, project_id: int, name: str, steps: int, seconds: float) -> int:
    """A completed v2_small run on the CPU at batch 5 that made ``steps`` in ``seconds``."""
    exp = manager.start_training(
        {"name": name, "project_id": project_id, "configs": ["v2_small"], "gpu": -1, "batch": 5}
    )
    manager.update_experiment_status(exp, "running")
    manager.update_experiment_status(exp, "completed")
    manager.metrics.add_points(
        exp, [("loss", 0, 1.0, 5000.0), ("loss", steps, 0.5, 5000 + seconds)]
    )
    return exp


def _labels(page) -> str:
    return "\n".join(
        page.summary.itemAt(i).widget().text()
        for i in range(page.summary.count())
        if page.summary.itemAt(i).widget() is not None
    )


def test_logging_interval_follows_the_run_until_set_and_estimates_are_confirmed(
    qtbot, manager, project_id, wizard, tmp_path
):
    from rave_gui.backend.rave.log_interval import default_log_every

    manager.datasets.register(project_id, make_lmdb_dataset(tmp_path / "small", 16, seconds=90.0))
    wizard.dataset_page.reload()
    _to_config_page(qtbot, wizard)
    _ended_run(manager, project_id, "earlier", steps=200, seconds=100)  # 2 steps/s
    wizard.config_page.set_base_config("v2_small")
    wizard.next()
    p = wizard.params_page
    p.device_combo.setCurrentIndex(0)  # CPU
    p.batch_spin.setValue(5)  # 15 training examples: 3 batches an epoch
    p.val_every_spin.setValue(20)
    p.max_steps_spin.setValue(1000)
    assert p.log_every() == default_log_every(1000, 3) == 3  # no more than an epoch's batches
    assert p.log_note.error().startswith("Training losses are logged every 3 steps: the first at")
    p.max_steps_spin.setValue(40)
    assert p.log_every() == 2  # a twentieth of a short run
    p.log_every_spin.setValue(10)  # the user's own: kept
    p.max_steps_spin.setValue(600)
    assert p.log_every() == 10
    p.log_every_spin.setValue(0)
    assert p.log_every() == 1  # the field's minimum: 0 cannot even be typed
    p.log_every_spin.setValue(10)
    wizard.next()
    confirm = wizard.confirm_page
    text = _labels(confirm)
    assert "10 steps" in text
    assert confirm.estimate_rows["Duration"].startswith(
        "about 5 min 00 s for 600 steps at 2 steps/s"
    )
    assert confirm.estimate_rows["Disk"].startswith("about 240.0 MB: 2 checkpoint(s) kept")
    assert confirm.estimate_rows["Duration"] in text and confirm.estimate_rows["Disk"] in text
    assert confirm.command_box.toPlainText().startswith("RAVE_GUI_LOG_EVERY_N_STEPS=10 ")
    assert wizard.config()["log_every"] == 10


def test_duration_is_unknown_without_a_measured_run(qtbot, manager, project_id, wizard, tmp_path):
    manager.datasets.register(project_id, make_lmdb_dataset(tmp_path / "small", 16, seconds=90.0))
    wizard.dataset_page.reload()
    _to_params_page(qtbot, wizard)
    wizard.params_page.batch_spin.setValue(5)
    wizard.params_page.val_every_spin.setValue(20)
    wizard.params_page.max_steps_spin.setValue(100)
    wizard.next()
    assert wizard.confirm_page.estimate_rows["Duration"].startswith("unknown: no finished run of")


def test_the_next_wizard_starts_from_the_last_choices(
    qtbot, manager, controller, project_id, tmp_path
):
    from rave_gui.backend.system.settings import load_settings

    manager.datasets.register(project_id, make_lmdb_dataset(tmp_path / "big", 120, seconds=700.0))
    first = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(first)
    first.show()
    _to_params_page(qtbot, first)
    first.config_page.set_base_config("v2_small")
    first.config_page.set_modifier("causal")
    p = first.params_page
    p.device_combo.setCurrentIndex(0)
    for spin, value in (
        (p.max_steps_spin, 3000),
        (p.batch_spin, 4),
        (p.val_every_spin, 250),
        (p.save_every_spin, 1000),
        (p.log_every_spin, 25),
        (p.workers_spin, 1),
    ):
        spin.setValue(value)
    first.remember()  # what a successful start does
    assert load_settings().last_training["log_every"] == 25  # in the settings file
    first.close()

    wiz = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wiz)
    wiz.show()
    _to_config_page(qtbot, wiz)
    assert wiz.config_page.configs() == ["v2_small", "causal"]
    assert wiz.config_page.suggest_label.error().startswith("Your last run's: v2_small + causal.")
    wiz.next()
    q = wiz.params_page
    got = [s.value() for s in (q.max_steps_spin, q.batch_spin, q.val_every_spin)]
    assert got == [3000, 4, 250]
    assert (q.save_every(), q.log_every(), q.workers_spin.value(), q.gpu()) == (1000, 25, 1, -1)
    q.max_steps_spin.setValue(50)
    assert q.log_every() == 25  # last time's own interval is not replaced by the default
