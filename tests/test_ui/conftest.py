"""Fixtures for the widget tests: a real database, controller and window in tmp_path, and
QSettings kept away from the user's real configuration."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from PyQt6.QtCore import QSettings

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.system.settings import Settings
from rave_gui.core.signals import AppSignals

RAVE = Path(sys.executable).with_name("rave")


@pytest.fixture(autouse=True)
def _private_qsettings(tmp_path: Path) -> Iterator[Path]:
    """The window's QSettings (geometry, last page) go to a folder of this test only."""
    folder = tmp_path / "qsettings"
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[TrainingManager]:
    tm = TrainingManager(tmp_path / "rave-gui.sqlite3")
    yield tm
    tm.close()


@pytest.fixture
def signals() -> AppSignals:
    return AppSignals()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(rave_executable=str(RAVE), runs_dir=str(tmp_path / "runs"))


@pytest.fixture
def controller(manager: TrainingManager, signals: AppSignals, settings: Settings):
    """A real RunController; every run it started is stopped and its threads joined."""
    from rave_gui.core.controller import RunController

    ctl = RunController(manager, signals, settings)
    yield ctl
    ctl.shutdown(True)


@pytest.fixture
def window(qtbot, manager, controller, signals, settings):
    from rave_gui.ui.main_window import MainWindow

    win = MainWindow(manager, controller, signals, settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.isVisible():
        # Runs still active are stopped by the controller fixture: no dialog here.
        win.ask_close_choice = lambda n_active: "keep"  # type: ignore[method-assign]
        win.close()


def make_dataset(
    folder: Path, *, sr: int = 44100, channels: int = 1, seconds: float = 208.05
) -> Path:
    """A folder that passes dataset validation (metadata.yaml and an empty data.mdb: no
    audio inside)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"channels": channels, "lazy": False, "n_seconds": seconds, "sr": sr}
    (folder / "metadata.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    (folder / "data.mdb").touch()
    return folder


@pytest.fixture
def dataset_factory():
    """make_dataset, for tests that need several dataset folders."""
    return make_dataset


@pytest.fixture
def fake_dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "datasets" / "strings")


@pytest.fixture(scope="session")
def real_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real preprocessed dataset (two synthetic 14 s files through `rave preprocess`)."""
    if not RAVE.exists():
        pytest.skip("the RAVE command line (acids-rave) is not installed in this environment")
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("rave preprocess needs ffmpeg and ffprobe")
    from rave_gui.backend.jobs.demo import synthesize_audio

    root = tmp_path_factory.mktemp("ui_rave_dataset")
    synthesize_audio(root / "audio", n_files=2, seconds=14.0, sample_rate=44100, channels=1)
    db = root / "tiny"
    proc = subprocess.run(
        [str(RAVE), "preprocess", "--input_path", str(root / "audio"),
         "--output_path", str(db), "--channels", "1"],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return db
