"""Try your own sound in the Listen panel: a WAV file through a model of the run, reconstructed
by a real child process with RAVE's Python (torch never loads in the app), then A (the
original) against B (the reconstruction) with the panel's views; wrong files are said."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from torch_models import MODEL_RATE, RAVE, has_torch, make_half_model

from rave_gui.backend.rave.audio import encode_wav
from rave_gui.core.worker import wait_for_background
from rave_gui.ui.widgets.listen_panel import ListenPanel
from rave_gui.ui.widgets.own_sound import OTHER_MODEL

needs_torch = pytest.mark.skipif(not has_torch(), reason="no RAVE installation with torch")


@pytest.fixture
def panel(qtbot):
    p = ListenPanel()
    p.rave_executable = str(RAVE)
    qtbot.addWidget(p)
    p.resize(900, 420)
    p.show()
    yield p
    p.shutdown()
    wait_for_background()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_half_model(tmp_path_factory.mktemp("model"))


def _wav(path, samples, rate):
    path.write_bytes(encode_wav(np.asarray(samples, np.float32), rate))
    return path


def _run_folder(tmp_path):
    run = tmp_path / "cello_d744cc98b7"
    (run / "version_0" / "checkpoints").mkdir(parents=True)
    (run / "config.gin").write_text("SAMPLING_RATE = 44100\n")
    (run / "version_0" / "checkpoints" / "best.ckpt").write_bytes(b"not loaded in this test")
    return run


def test_the_dialog_lists_the_runs_models_and_refuses_another_rate(qtbot, panel, tmp_path):
    run = _run_folder(tmp_path)
    panel.set_run(str(run), 1, live=False)
    dialog = panel.try_own_sound()
    items = [dialog.model_combo.itemText(i) for i in range(dialog.model_combo.count())]
    assert items == ["version_0/checkpoints/best.ckpt", OTHER_MODEL]
    dialog.source_edit.setText(str(_wav(tmp_path / "voice.wav", np.zeros(4800), 48000)))
    assert dialog.start() is None  # refused at once: nothing started, torch never loaded
    assert dialog.error_label.error().startswith(
        "voice.wav is at 48000 Hz but the model works at 44100 Hz: resample it first"
    )
    assert not dialog.progress.isVisible() and dialog.start_button.isEnabled()
    qtbot.keyClicks(dialog.source_edit, "x")  # the error clears when the file is edited
    assert dialog.error_label.error() == ""
    dialog.source_edit.setText(str(tmp_path / "nothing.wav"))
    assert dialog.start() is None and "does not exist" in dialog.error_label.error()
    dialog.reject()


def test_a_run_without_models_says_so(qtbot, panel, tmp_path):
    panel.set_run(str(tmp_path), 1, live=False)
    dialog = panel.try_own_sound()
    assert dialog.model_combo.count() == 1
    assert "no checkpoint or exported model yet" in dialog.status_label.error()
    dialog.source_edit.setText(str(_wav(tmp_path / "a.wav", np.zeros(10), 8000)))
    assert dialog.start() is None and "Choose a model" in dialog.error_label.error()
    dialog.reject()


@needs_torch
def test_your_sound_is_reconstructed_and_played_against_the_original(qtbot, panel, tmp_path, model):
    panel.set_run(str(tmp_path), 1, live=False)
    t = np.arange(MODEL_RATE * 2) / MODEL_RATE
    tone = 0.6 * np.sin(2 * np.pi * 330 * t)
    torch_before = "torch" in sys.modules  # test_trainwatch loads it into this test process
    dialog = panel.try_own_sound()
    dialog.source_edit.setText(str(_wav(tmp_path / "hum.wav", tone, MODEL_RATE)))
    dialog.set_model(str(model))
    lines: list = []
    job = dialog.start()
    assert job is not None and dialog.progress.isVisible() and not dialog.start_button.isEnabled()
    job.lines_received.connect(lines.extend)
    qtbot.waitUntil(lambda: panel.own_sound is not None, timeout=120_000)
    assert torch_before or "torch" not in sys.modules  # the model ran in RAVE's Python
    assert any("reconstructing 2.0 s" in text for text, _level in lines)
    assert panel.own_sound == "Your sound hum.wav through half.ts"
    assert "A is the original, B the reconstruction" in panel.message.text()
    audio = panel.audio
    assert audio is not None and audio.sample_rate == MODEL_RATE
    original = panel.current_samples()
    panel.set_part("reconstruction")
    rebuilt = panel.current_samples()
    assert original.shape == rebuilt.shape == (tone.size, 1)
    assert np.allclose(original[:, 0], tone, atol=2 / 32768)
    assert np.allclose(rebuilt[:, 0], tone * 0.5, atol=2 / 32768)  # the model's output
    assert panel.a_button.isEnabled() and panel.b_button.isEnabled()
    assert panel.step_label.text() == "your sound"
    out = tmp_path / "saved.wav"
    panel.save_wav(out)
    assert out.stat().st_size > tone.size * 2
    assert panel.figure is not None and len(panel.figure.axes) >= 4  # waveforms, spectrograms


@needs_torch
def test_a_wrong_rate_for_an_exported_model_is_said_by_the_model(qtbot, panel, tmp_path, model):
    panel.set_run(str(tmp_path), 1, live=False)
    dialog = panel.try_own_sound()
    dialog.source_edit.setText(str(_wav(tmp_path / "in.wav", np.zeros(1600), 16000)))
    dialog.set_model(str(model))
    job = dialog.start()
    assert job is not None
    with qtbot.waitSignal(job.ended, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: dialog.job is None, timeout=5000)
    assert "In.wav is at 16000 Hz but the model works at 8000 Hz" in dialog.error_label.error()
    assert "resample" in dialog.error_label.error()
    assert dialog.isVisible() and panel.own_sound is None
    dialog.reject()


@needs_torch
def test_cancel_stops_the_reconstruction(qtbot, panel, tmp_path, model):
    panel.set_run(str(tmp_path), 1, live=False)
    dialog = panel.try_own_sound()
    dialog.source_edit.setText(str(_wav(tmp_path / "in.wav", np.zeros(800), MODEL_RATE)))
    dialog.set_model(str(model))
    job = dialog.start()
    assert job is not None
    with qtbot.waitSignal(job.ended, timeout=30_000) as blocker:
        dialog.reject()  # Cancel while it runs: it stops, the dialog stays
    assert blocker.args[0] is False
    qtbot.waitUntil(lambda: dialog.job is None, timeout=5000)
    assert dialog.isVisible() and dialog.error_label.error() == ""
    assert panel.own_sound is None
    dialog.reject()
