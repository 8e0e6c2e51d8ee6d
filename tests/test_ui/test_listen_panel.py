"""ListenPanel: a run's validation clips, input against reconstruction, with pytest-qt."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from rave_gui.backend.rave.audio import (
    DEFAULT_N_SIGNAL,
    AudioIndex,
    decode_clip,
    decode_wav,
)
from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.backend.system.units import format_value
from rave_gui.core.worker import wait_for_background
from rave_gui.ui.widgets.listen_panel import NO_DEVICE, ListenPanel

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from replay_helpers import FIXTURES  # noqa: E402

RUN = FIXTURES / "run_110steps"
pytestmark = pytest.mark.skipif(not RUN.exists(), reason="captured RAVE runs not available")


@pytest.fixture
def panel(qtbot):
    p = ListenPanel()
    qtbot.addWidget(p)
    p.resize(900, 420)
    p.show()
    yield p
    p.shutdown()
    wait_for_background()


def _loaded(qtbot, panel: ListenPanel, clips: int) -> None:
    qtbot.waitUntil(lambda: panel.clip_list.count() == clips, timeout=5000)
    qtbot.waitUntil(lambda: panel.audio is not None and panel._decoding is None, timeout=5000)


def test_lists_each_validation_with_its_step_and_loss(qtbot, panel) -> None:
    panel.set_run(str(RUN), 1, live=False)
    validations = [p for p in read_scalars(RUN) if p.tag == "validation"]
    _loaded(qtbot, panel, len(validations))
    texts = [panel.clip_list.item(i).text() for i in range(panel.clip_list.count())]
    for text, val in zip(texts, validations, strict=True):
        assert text == f"step {val.step}\nloss {format_value(val.value)}"
    # the latest validation is shown first, as one example in two parts
    assert panel.clip_list.currentRow() == len(validations) - 1
    assert panel.audio is not None and panel.audio.clip.step == validations[-1].step
    assert panel.example_combo.count() == 1
    assert panel.step_slider.maximum() == len(validations) - 1
    assert panel.step_slider.value() == len(validations) - 1
    assert len(panel.figure.axes) == 4  # waveform over spectrogram, for input and reconstruction


def test_step_slider_and_list_choose_the_same_clip(qtbot, panel) -> None:
    panel.set_run(str(RUN), 1, live=False)
    _loaded(qtbot, panel, 6)
    panel.step_slider.setValue(2)
    qtbot.waitUntil(lambda: panel.audio is not None and panel.audio.clip.index == 2)
    assert panel.clip_list.currentRow() == 2
    assert "50" in panel.step_label.text()
    panel.clip_list.setCurrentRow(4)
    qtbot.waitUntil(lambda: panel.audio is not None and panel.audio.clip.index == 4)
    assert panel.step_slider.value() == 4
    expected = decode_clip(AudioIndex.for_run(RUN, 1).clips[4])
    assert np.array_equal(panel.current_samples(), expected.inputs[0])


def test_ab_switch_chooses_input_or_reconstruction(qtbot, panel) -> None:
    panel.set_run(str(RUN), 1, live=False)
    _loaded(qtbot, panel, 6)
    assert panel.part == "input" and panel.a_button.isChecked()
    x = panel.current_samples()
    qtbot.mouseClick(panel.b_button, Qt.MouseButton.LeftButton)
    assert panel.part == "reconstruction" and not panel.a_button.isChecked()
    y = panel.current_samples()
    assert x is not None and y is not None
    assert x.shape == y.shape == (DEFAULT_N_SIGNAL, 1)
    assert not np.array_equal(x, y)
    # the active part is drawn in the highlight colour
    titles = [ax.get_title() for ax in panel.figure.axes if ax.get_title()]
    assert titles == ["A · input", "B · reconstruction"]


def test_without_an_audio_device_play_says_so_and_the_rest_works(
    qtbot, panel, tmp_path, monkeypatch
) -> None:
    panel.set_run(str(RUN), 1, live=False)
    _loaded(qtbot, panel, 6)
    monkeypatch.setattr(panel, "_device", False)
    assert panel.play() is False
    assert panel.message.text() == NO_DEVICE
    assert not panel.play_button.isEnabled()
    assert not panel.playing
    # saving, the slider and A/B still work
    panel.set_part("reconstruction")
    target = tmp_path / "y.wav"
    panel.save_wav(target)
    rate, samples = decode_wav(target.read_bytes())
    assert rate == 44100
    assert np.array_equal(samples, panel.current_samples())
    panel.step_slider.setValue(0)
    qtbot.waitUntil(lambda: panel.audio is not None and panel.audio.clip.index == 0)


def test_new_clips_appear_while_the_run_trains(qtbot, panel, tmp_path) -> None:
    src = next(RUN.glob("events.out.tfevents.*")).read_bytes()
    full = AudioIndex(RUN)
    full.update()
    cut = full.clips[2].offset + 10  # two clips written, the third being written
    version = tmp_path / "run" / "version_0"
    version.mkdir(parents=True)
    event_file = version / "events.out.tfevents.1.x"
    event_file.write_bytes(src[:cut])
    panel._poll.setInterval(100)
    panel.set_run(str(tmp_path / "run"), 1, live=True)
    _loaded(qtbot, panel, 2)
    assert panel._poll.isActive()
    with open(event_file, "ab") as f:
        f.write(src[cut:])
    _loaded(qtbot, panel, 6)
    qtbot.waitUntil(lambda: panel.audio is not None and panel.audio.clip.index == 5)
    assert panel.clip_list.currentRow() == 5  # the newest, since the newest was shown
    panel.set_run(str(tmp_path / "run"), 1, live=False)  # the run ended
    assert not panel._poll.isActive()


def test_play_follows_the_machine_audio_device(qtbot, panel) -> None:
    from PyQt6.QtMultimedia import QMediaDevices

    panel.set_run(str(RUN), 1, live=False)
    _loaded(qtbot, panel, 6)
    if not QMediaDevices.audioOutputs():  # this machine: offscreen, no sound card
        assert panel.message.text() == NO_DEVICE
        assert not panel.play_button.isEnabled()
        assert panel.play() is False
    else:
        assert panel.play() is True
        qtbot.waitUntil(lambda: panel.playing, timeout=3000)
        assert panel.play_button.text() == "Stop"
        panel.set_part("reconstruction")  # A/B while playing: it plays on
        qtbot.waitUntil(lambda: panel.playing, timeout=3000)
        panel.stop()
        assert not panel.playing


def test_run_without_folder_or_audio_says_so(qtbot, panel, tmp_path) -> None:
    panel.set_run(None, None, live=True)
    assert "no run folder" in panel.message.text()
    assert not panel.save_button.isEnabled()
    panel.set_run(str(tmp_path), 1, live=False)
    qtbot.waitUntil(lambda: "No validation audio yet" in panel.message.text())
    assert panel.clip_list.count() == 0


def test_screenshot(qtbot, panel, tmp_path) -> None:
    panel.set_run(str(RUN), 1, live=False)
    _loaded(qtbot, panel, 6)
    panel.set_part("reconstruction")
    qtbot.wait(50)
    out = Path(os.environ.get("RAVE_GUI_SHOTS", tmp_path)) / "listen-panel.png"
    assert panel.grab().save(str(out))
    assert out.stat().st_size > 10_000


def _artists(panel: ListenPanel) -> list[object]:
    fig = panel.figure
    return [fig, *fig.axes, *fig.texts] + [
        a for ax in fig.axes for a in (*ax.lines, *ax.images, *ax.collections, *ax.texts)
    ]


def test_a_new_clip_updates_the_same_axes_and_artists_in_place(qtbot, panel) -> None:
    panel.set_run(str(RUN), 1, live=False)
    _loaded(qtbot, panel, 6)
    qtbot.wait(50)
    before = _artists(panel)
    lines = [line.get_ydata().copy() for line in panel.view.lines]
    images = [im.get_array().copy() for im in panel.view.images]
    draws = panel.view.draws
    full: list[int] = []
    panel.canvas.mpl_connect("draw_event", lambda _e: full.append(1))
    panel.clip_list.setCurrentRow(1)
    qtbot.waitUntil(lambda: panel.audio is not None and panel.audio.clip.index == 1)
    qtbot.waitUntil(lambda: panel.view.draws > draws)
    qtbot.wait(50)
    after = _artists(panel)
    assert len(after) == len(before)
    assert all(a is b for a, b in zip(after, before, strict=True))  # nothing new, none cleared
    # one draw for the click: the data alone over the kept axes (same size, limits, colours)
    assert panel.view.draws == draws + 1 and not full
    # the same artists hold the new clip: the envelope and the spectrograms changed
    for line, old in zip(panel.view.lines, lines, strict=True):
        assert not np.array_equal(line.get_ydata(), old)
    for image, old in zip(panel.view.images, images, strict=True):
        assert not np.array_equal(image.get_array(), old)
    # reduced to the axes' pixels: a min and a max per pixel column, an image no larger
    spec_ax = panel.view.specs[0]
    width, height = spec_ax.bbox.width, spec_ax.bbox.height
    samples = panel.current_samples()
    line = panel.view.lines[0]
    assert len(line.get_ydata()) <= 2 * width + 2 < samples.shape[0]
    assert line.get_ydata().max() == pytest.approx(float(samples.max()))  # the peaks are kept
    rows, cols = panel.view.images[0].get_array().shape
    assert rows <= height + 1 and cols <= width + 1
    panel.set_part("reconstruction")  # A/B recolours the same artists: one full draw
    qtbot.waitUntil(lambda: bool(full))
    assert all(a is b for a, b in zip(_artists(panel), before, strict=True))
    assert panel.view.draws == draws + 2


def test_while_playing_a_new_clip_sounds_before_it_is_drawn(qtbot, panel, monkeypatch) -> None:
    from PyQt6.QtMultimedia import QMediaPlayer

    panel.set_run(str(RUN), 1, live=False)
    _loaded(qtbot, panel, 6)
    qtbot.wait(50)
    # As on a machine with a sound card, but silent: the panel's own player, without an audio
    # output, plays in real time (on CI there is no device to play to).
    monkeypatch.setattr(panel, "_device", True)
    player = panel._make_player()
    player.setAudioOutput(None)
    player.setLoops(QMediaPlayer.Loops.Infinite)  # plays on however slow the machine
    panel._player = player
    assert panel.play() is True
    qtbot.waitUntil(lambda: panel.playing, timeout=5000)
    assert panel.play_button.text() == "Stop"
    order: list[str] = []
    play, show_clip = panel.play, panel.view.show_clip

    draws = panel.view.draws

    def recorded_play(position_ms: int = 0) -> bool:
        order.append(f"play clip {panel.audio.clip.index}, {panel.view.draws - draws} drawn")
        return play(position_ms)

    def recorded_show(*args, **kwargs) -> None:
        order.append("picture updated")
        show_clip(*args, **kwargs)

    monkeypatch.setattr(panel, "play", recorded_play)
    monkeypatch.setattr(panel.view, "show_clip", recorded_show)
    panel.step_slider.setValue(2)  # the slider moved while playing
    qtbot.waitUntil(lambda: panel.view.draws > draws)
    assert order == ["play clip 2, 0 drawn", "picture updated"]
    assert panel.view.draws == draws + 1
    assert panel._player.source().toLocalFile().endswith("clip2-ex0-input.wav")
    qtbot.waitUntil(lambda: panel.playing, timeout=5000)  # the new clip plays on
    panel.stop()
    assert not panel.playing and panel.play_button.text() == "Play"
