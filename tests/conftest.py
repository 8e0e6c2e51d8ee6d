"""Test settings shared by every test: offscreen Qt, a private data folder, no stray threads."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "QtAgg")

import pytest


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Nothing a test does touches the user's real database or settings."""
    data = tmp_path_factory.mktemp("rave-gui-data")
    monkeypatch.setenv("RAVE_GUI_DATA", str(data))
    monkeypatch.delenv("RAVE_GUI_DB", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(data / "config"))
    yield
