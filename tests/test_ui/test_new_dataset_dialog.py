"""New dataset from audio: what the folders hold before starting, pre-flight refusals, a real
`rave preprocess` with progress and registration, the empty dataset, and cancelling."""

from __future__ import annotations

import shutil
import sys
import wave
from pathlib import Path

import pytest

from rave_gui.backend.jobs import preflight as pf
from rave_gui.backend.jobs import preprocess as pp
from rave_gui.backend.process.procinfo import group_members
from rave_gui.backend.system.paths import data_dir
from rave_gui.ui.dialogs import new_dataset as nd
from rave_gui.ui.dialogs.new_dataset import NewDatasetDialog

RAVE = Path(sys.executable).with_name("rave")


def _wav(path: Path, seconds: float, sr: int = 44100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        # A quiet ramp, not silence: nothing in RAVE depends on it, but it is audio.
        frame = bytes(range(0, 256, 37))[:2]
        w.writeframes(frame * round(seconds * sr))
    return path


@pytest.fixture
def rave_exe() -> str:
    if not RAVE.exists():
        pytest.skip("the RAVE command line (acids-rave) is not installed in this environment")
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("rave preprocess needs ffmpeg and ffprobe")
    return str(RAVE)


@pytest.fixture
def project_id(manager) -> int:
    return manager.projects.default_id()


@pytest.fixture
def open_dialog(qtbot, manager, project_id):
    dialogs: list[NewDatasetDialog] = []

    def make(folders: list[Path], **kw) -> NewDatasetDialog:
        d = NewDatasetDialog(
            manager, project_id, str(RAVE), folders=[str(f) for f in folders], **kw
        )
        qtbot.addWidget(d)
        d.show()
        dialogs.append(d)
        qtbot.waitUntil(lambda: d.scan is not None, timeout=20_000)
        return d

    yield make
    for d in dialogs:
        try:
            d.shutdown()
        except RuntimeError:  # already deleted
            pass


def test_files_and_total_duration_are_shown_before_starting(open_dialog, tmp_path) -> None:
    for i in range(3):
        _wav(tmp_path / "cello" / "audio" / f"take{i}.wav", 14.0)
    (tmp_path / "cello" / "audio" / "notes.txt").write_text("bowing")
    dialog = open_dialog([tmp_path / "cello" / "audio"])
    assert dialog.scan_label.text() == "3 audio files · 42 s in all"
    assert dialog.name_edit.text() == "cello"  # "audio" says nothing: its parent's name
    assert dialog.output_edit.text() == str(data_dir() / "datasets" / "cello")
    assert "about 6 examples of 5.94 s" in dialog.estimate_label.text()
    assert "1 file(s) of other types will be ignored" in dialog.warning_label.error()
    assert dialog.problem_label.error() == ""
    assert dialog.start_button.isEnabled() == bool(shutil.which("ffmpeg"))
    dialog.rate_combo.setCurrentText("22050")  # chunks of 11.9 s: one per file
    assert "about 3 examples of 11.89 s" in dialog.estimate_label.text()


def test_a_folder_of_non_audio_files_is_refused_before_starting(open_dialog, tmp_path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.txt", "b.pdf", "c.jpg"):
        (docs / name).write_text("x")
    dialog = open_dialog([docs])
    assert f"{docs} holds no audio file RAVE reads" in dialog.problem_label.error()
    assert not dialog.start_button.isEnabled()
    assert dialog.start() is None


def test_files_all_shorter_than_a_chunk_are_refused_with_the_length_needed(
    open_dialog, tmp_path
) -> None:
    for i in range(4):
        _wav(tmp_path / "hits" / f"hit{i}.wav", 1.5)
    dialog = open_dialog([tmp_path / "hits"])
    error = dialog.problem_label.error()
    assert "Every file is shorter than 5.94 s" in error
    assert "at least 5.9 s each" in error
    assert not dialog.start_button.isEnabled()


def test_a_taken_name_is_refused(open_dialog, manager, project_id, tmp_path, dataset_factory):
    manager.datasets.register(project_id, dataset_factory(tmp_path / "x"), "cello")
    _wav(tmp_path / "cello" / "a.wav", 20.0)
    dialog = open_dialog([tmp_path / "cello"])
    assert "already has a dataset named 'cello'" in dialog.problem_label.error()
    assert not dialog.start_button.isEnabled()
    dialog.name_edit.setText("cello 2")
    assert dialog.start_button.isEnabled() == bool(shutil.which("ffmpeg"))


def test_real_preprocess_registers_what_metadata_yaml_says(
    qtbot, open_dialog, manager, project_id, tmp_path, rave_exe
) -> None:
    for i in range(2):
        _wav(tmp_path / "strings" / f"s{i}.wav", 14.0)
    dialog = open_dialog([tmp_path / "strings"])
    percents: list[int] = []
    registered: list[int] = []
    dialog.registered.connect(registered.append)
    with qtbot.waitSignal(dialog.preprocess_finished, timeout=180_000) as blocker:
        thread = dialog.start()
        assert thread is not None and dialog.is_running()
        thread.progress.connect(lambda p, _t: percents.append(p))
        assert not dialog.start_button.isEnabled()
        assert dialog.cancel_button.text() == "Cancel preprocessing"
    assert blocker.args == [True, "done"], dialog.result_message
    (ds,) = manager.datasets.all(project_id)
    assert registered == [ds.id]
    assert ds.name == "strings"
    assert (ds.sample_rate, ds.channels, ds.n_examples) == (44100, 1, 4)
    assert ds.duration_s == pytest.approx(3 * pp.chunk_seconds(44100))  # RAVE's n_seconds
    assert Path(ds.path) == data_dir() / "datasets" / "strings"
    assert percents and percents[-1] == 100
    assert not dialog.isVisible()


def test_an_empty_dataset_is_explained_and_not_registered(
    qtbot, open_dialog, manager, project_id, tmp_path, rave_exe, monkeypatch
) -> None:
    for i in range(3):
        _wav(tmp_path / "short" / f"x{i}.wav", 3.0)
    # Get past the pre-flight (which refuses these files) to see what RAVE itself does.
    monkeypatch.setattr(nd, "preflight", lambda req, scan: pf.PreflightReport(expected_chunks=1))
    dialog = open_dialog([tmp_path / "short"])
    with qtbot.waitSignal(dialog.preprocess_finished, timeout=180_000) as blocker:
        dialog.start()
    ok, message = blocker.args
    assert not ok
    assert "empty dataset" in message and "n_seconds: 0" in message
    assert "at least 5.9 s each" in message
    assert dialog.error_label.error() == message
    assert manager.datasets.all(project_id) == []
    assert not (data_dir() / "datasets" / "short").exists()  # nothing unusable left behind
    assert dialog.isVisible()


def test_cancel_stops_preprocess_and_registers_nothing(
    qtbot, open_dialog, manager, project_id, tmp_path, rave_exe
) -> None:
    for i in range(8):
        _wav(tmp_path / "long" / f"l{i}.wav", 60.0)
    dialog = open_dialog([tmp_path / "long"])
    with qtbot.waitSignal(dialog.preprocess_finished, timeout=120_000) as blocker:
        thread = dialog.start()
        qtbot.waitUntil(lambda: thread.pid is not None, timeout=10_000)
        dialog.cancel_button.click()
    assert blocker.args == [False, "Cancelled: nothing was registered."]
    assert manager.datasets.all(project_id) == []
    assert group_members(thread.pid) == []
    assert not (data_dir() / "datasets" / "long").exists()
