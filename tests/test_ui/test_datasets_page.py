"""The Datasets page: register (validated), rename and remove the project's datasets."""

from __future__ import annotations

import pytest

from rave_gui.ui.pages.datasets_page import DatasetsPage, RemoveDatasetBox


@pytest.fixture
def project_id(manager) -> int:
    return manager.projects.default_id()


@pytest.fixture
def page(qtbot, manager, signals, project_id):
    p = DatasetsPage(manager, signals)
    qtbot.addWidget(p)
    p.set_project(project_id)
    p.show()
    return p


def _cells(page: DatasetsPage, row: int = 0) -> list[str]:
    return [page.proxy.index(row, c).data() for c in range(page.proxy.columnCount())]


def test_empty_state_explains_and_offers_registration(page):
    assert page.is_empty_state()
    assert "No datasets in Default" in page.empty_title.text()
    assert page.empty_register_button.isVisible()


def test_register_a_dataset_shows_its_contents(qtbot, page, manager, project_id, fake_dataset):
    dialog = page.register_dataset()
    assert not dialog.ok_button.isEnabled()
    dialog.set_path(str(fake_dataset))
    assert dialog.path_error.error() == ""
    assert dialog.info_label.text().startswith("44,100 Hz · 1 channel · 3 min 28 s")
    assert dialog.name_edit.text() == "strings"
    dialog.ok_button.click()
    assert not page.is_empty_state()
    qtbot.waitUntil(lambda: _cells(page)[2] != "–")  # the size is measured off the GUI thread
    name, path, size, sr, channels, duration, examples, n_exp = _cells(page)
    assert (name, sr, channels, duration, examples, n_exp) == (
        "strings", "44,100 Hz", "1", "3 min 28 s", "–", "0",
    )  # fmt: skip
    assert path == str(fake_dataset.resolve())
    assert size == f"{(fake_dataset / 'metadata.yaml').stat().st_size} B"
    assert manager.datasets.all(project_id)[0].name == "strings"


def test_a_real_preprocessed_dataset_counts_its_examples(page, real_dataset):
    dialog = page.register_dataset(str(real_dataset))
    assert "examples" in dialog.info_label.text()
    dialog.ok_button.click()
    assert int(_cells(page)[6]) > 0


def _incomplete_metadata(folder):
    (folder / "meta").mkdir()
    (folder / "meta" / "metadata.yaml").write_text("sr: 44100\n")
    return folder / "meta"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing", "does not exist"),
        (lambda d: d, "no metadata.yaml"),
        (_incomplete_metadata, "lacks channels, n_seconds"),
    ],
)
def test_invalid_folders_are_explained(page, tmp_path, make, message):
    folder = make(tmp_path)
    dialog = page.register_dataset()
    dialog.set_path(str(folder))
    assert message in dialog.path_error.error()
    assert not dialog.ok_button.isEnabled()


def test_generic_folder_names_get_a_better_suggestion(page, tmp_path, dataset_factory):
    folder = dataset_factory(tmp_path / "cello" / "db")
    dialog = page.register_dataset(str(folder))
    assert dialog.name_edit.text() == "cello-db"


def test_registering_the_same_folder_twice_is_refused(page, manager, project_id, fake_dataset):
    manager.datasets.register(project_id, fake_dataset)
    page.refresh()
    dialog = page.register_dataset(str(fake_dataset))
    dialog.name_edit.setText("other name")
    dialog.ok_button.click()
    assert dialog.isVisible()
    assert "already registered" in dialog.error_label.error()


def test_rename_a_dataset(page, manager, project_id, fake_dataset):
    ds = manager.datasets.register(project_id, fake_dataset)
    page.refresh()
    page.select_dataset(ds)
    dialog = page.rename_selected()
    dialog.name_edit.setText("violins")
    dialog.ok_button.click()
    assert manager.datasets.get(ds).name == "violins"
    assert _cells(page)[0] == "violins"


def test_remove_an_unused_dataset(page, manager, project_id, fake_dataset):
    ds = manager.datasets.register(project_id, fake_dataset)
    page.refresh()
    page.select_dataset(ds)
    box = page.remove_selected()
    assert "stays on disk" in box.informativeText()
    assert box.accept_button.text() == "Remove registration"
    box.accept_button.click()
    assert manager.datasets.all(project_id) == []
    assert page.is_empty_state()
    assert fake_dataset.exists()


def test_removing_a_used_dataset_detaches_only_if_agreed(page, manager, project_id, fake_dataset):
    ds = manager.datasets.register(project_id, fake_dataset)
    exp = manager.start_training({"name": "r", "project_id": project_id, "dataset_id": ds})
    manager.stop_training(exp)
    page.refresh()
    page.select_dataset(ds)
    box = page.remove_selected()
    assert "1 experiment uses it" in box.informativeText()
    assert box.accept_button.text() == "Remove and detach"
    box.button(box.StandardButton.Cancel).click()
    assert manager.get_experiment(exp).dataset_id == ds
    page.select_dataset(ds)
    page.remove_selected().accept_button.click()
    assert manager.get_experiment(exp).dataset_id is None
    assert manager.get_experiment(exp).name == "r"


def test_a_dataset_of_an_active_run_is_kept(page, manager, project_id, fake_dataset):
    ds = manager.datasets.register(project_id, fake_dataset)
    exp = manager.start_training({"name": "r", "project_id": project_id, "dataset_id": ds})
    page.refresh()
    page.select_dataset(ds)
    box = page.remove_selected()
    # Refused before any confirmation: the box says why and offers OK only.
    assert not isinstance(box, RemoveDatasetBox)
    assert box.informativeText() == manager.datasets.delete_refusal(ds)
    assert "used by an active run" in box.informativeText()
    assert [b.text().replace("&", "") for b in box.buttons()] == ["OK"]
    box.button(box.StandardButton.Ok).click()
    assert manager.datasets.get(ds).name == "strings"
    manager.stop_training(exp)
    assert isinstance(page.remove_selected(), RemoveDatasetBox)  # asked again once it ended


# --- new datasets from audio, the demo, deleting files ----------------------------------------


def test_empty_state_leads_to_three_ways_of_getting_a_dataset(page):
    buttons = (page.empty_new_button, page.empty_register_button, page.demo_button)
    assert [b.text() for b in buttons] == [
        "Add audio…",
        "Register a preprocessed folder…",
        "Try with a demo dataset",
    ]
    assert all(b.isVisible() and b.isEnabled() for b in buttons)
    dialog = page.new_dataset()
    assert dialog is not None and dialog.windowTitle() == "New dataset from audio"
    dialog.reject()


def test_the_demo_makes_preprocesses_and_registers_a_dataset(qtbot, page, manager, project_id):
    import sys
    from pathlib import Path

    from rave_gui.backend.system.paths import data_dir

    if not Path(sys.executable).with_name("rave").exists():
        pytest.skip("the RAVE command line (acids-rave) is not installed in this environment")
    page.settings = None  # the default settings find the rave next to this Python
    page.demo_button.click()
    assert page.demo_running and not page.demo_button.isEnabled()
    qtbot.waitUntil(lambda: page.new_dataset_dialog is not None, timeout=120_000)
    dialog = page.new_dataset_dialog
    assert dialog.folders() == [str(data_dir() / "demo" / "audio")]
    shown: list[int] = []  # the real progress, between 0 and 100 (not 0 until the end)
    dialog.progress_bar.valueChanged.connect(shown.append)
    with qtbot.waitSignal(dialog.registered, timeout=180_000):
        pass
    (ds,) = manager.datasets.all(project_id)
    assert ds.name == "demo"
    assert (ds.n_examples, ds.channels, ds.sample_rate) == (36, 1, 44100)
    # the real progress reached the bar (its steps between 0 and 100 are seen unless a loaded
    # machine delivers RAVE's stderr in one piece; the parsing is tested on captured output)
    assert shown and shown[-1] == 100 and set(shown) - {0}, shown
    # the dialog closes itself: the page says what was made
    assert page.message.text() == "Dataset 'demo' is ready: 36 examples, 3 min 28 s of audio."
    assert len(list((data_dir() / "demo" / "audio").glob("demo_*.wav"))) == 12
    assert not page.is_empty_state()
    # Trying again does not make it twice.
    page.try_demo()
    assert "already in this project" in page.message.text()
    # Another project gets the same files registered at once, without preprocessing again.
    other = manager.projects.create("Other")
    page.set_project(other)
    page.try_demo()
    assert [d.name for d in manager.datasets.all(other)] == ["demo"]


def test_deleting_a_dataset_can_remove_its_files_only(
    qtbot, page, manager, project_id, tmp_path, dataset_factory
):
    folder = dataset_factory(tmp_path / "violin")
    (folder / "data.mdb").write_bytes(b"\0" * 4096)
    (folder / "lock.mdb").write_bytes(b"\0" * 64)
    (folder / "source-notes.txt").write_text("recorded in room B")
    ds = manager.datasets.register(project_id, folder)
    page.refresh()
    page.select_dataset(ds)
    box = page.remove_selected()
    assert "stays on disk, or its dataset files" in box.informativeText()
    assert box.delete_files_button.isEnabled()
    box.delete_files_button.click()
    qtbot.waitUntil(lambda: "files deleted" in page.message.text(), timeout=10_000)
    assert manager.datasets.all(project_id) == []
    assert sorted(p.name for p in folder.iterdir()) == ["source-notes.txt"]
    assert "files deleted (1 other item(s) in the folder kept)" in page.message.text()
    assert page.proxy.rowCount() == 0 and page.removing == 0


def test_files_shared_with_another_project_are_never_deleted(
    page, manager, project_id, fake_dataset
):
    other = manager.projects.create("Other")
    manager.datasets.register(other, fake_dataset)
    ds = manager.datasets.register(project_id, fake_dataset)
    page.refresh()
    page.select_dataset(ds)
    box = page.remove_selected()
    assert not box.delete_files_button.isEnabled()
    assert "another project uses the same folder" in box.informativeText()
    box.accept_button.click()
    assert (fake_dataset / "metadata.yaml").exists()
