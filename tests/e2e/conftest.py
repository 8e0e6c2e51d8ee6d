"""Fixtures for end-to-end tests with the real RAVE command line (CPU, tiny data)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rave_gui.backend.jobs.demo import synthesize_audio


@pytest.fixture(scope="session")
def rave_executable() -> str:
    exe = Path(sys.executable).with_name("rave")
    if not exe.exists():
        pytest.skip("the RAVE command line (acids-rave) is not installed in this environment")
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("rave preprocess needs ffmpeg and ffprobe")
    return str(exe)


@pytest.fixture(scope="session")
def rave_dataset(rave_executable: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real preprocessed dataset: 12 synthetic 20 s mono files (36 chunks of ~6 s)."""
    root = tmp_path_factory.mktemp("rave_dataset")
    synthesize_audio(root / "audio", n_files=12, seconds=20.0, sample_rate=44100, channels=1)
    db = root / "db"
    proc = subprocess.run(
        [rave_executable, "preprocess", "--input_path", str(root / "audio"),
         "--output_path", str(db), "--channels", "1"],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return db
