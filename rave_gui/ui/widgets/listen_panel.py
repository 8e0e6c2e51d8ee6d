"""ListenPanel: a run's validation audio, each example's input against its reconstruction."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PyQt6.QtCore import QSignalBlocker, Qt, QTemporaryDir, QTimer, QUrl
from PyQt6.QtGui import QPalette, QShowEvent
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.rave.audio import (
    PARTS,
    AudioClip,
    AudioIndex,
    ClipAudio,
    decode_clip,
    encode_wav,
    spectrogram_db,
)
from ...backend.system.units import format_value
from ...core.worker import run_in_background
from .listen_figure import PART_LABELS, Colors
from .own_sound import OwnSoundDialog, load_own_sound

if TYPE_CHECKING:
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    from .listen_figure import ListenFigure

NO_DEVICE = "No audio output device: playback is off (everything else works)."


def _decode(clip: AudioClip) -> tuple[ClipAudio, list[tuple[np.ndarray, np.ndarray]]]:
    """Off the GUI thread: the clip decoded and split, and each example's two spectrograms."""
    audio = decode_clip(clip)
    specs = [
        (spectrogram_db(x), spectrogram_db(y))
        for x, y in zip(audio.inputs, audio.reconstructions, strict=True)
    ]
    return audio, specs


class ExampleAB:
    """The example chooser and the A/B (input/reconstruction) buttons of a listening widget:
    one run's ListenPanel and the comparison's CompareListen."""

    example_combo: QComboBox
    a_button: QPushButton
    b_button: QPushButton
    ab_group: QButtonGroup

    def _make_example_ab(self, owner: QWidget, part: str) -> None:
        """The chooser and the buttons, ``part`` chosen (their signals not connected yet)."""
        self.example_combo = QComboBox()
        self.a_button = QPushButton(PART_LABELS["input"])
        self.b_button = QPushButton(PART_LABELS["reconstruction"])
        self.ab_group = QButtonGroup(owner)
        for i, b in enumerate((self.a_button, self.b_button)):
            b.setCheckable(True)
            self.ab_group.addButton(b, i)
        self.set_part(part)

    @property
    def example(self) -> int:
        return max(0, self.example_combo.currentIndex())

    @property
    def part(self) -> str:
        return PARTS[max(0, self.ab_group.checkedId())]

    def set_part(self, part: str) -> None:
        (self.a_button if part == "input" else self.b_button).setChecked(True)


class ListenPanel(QWidget, ExampleAB):
    """The validations of one run (step, loss); for the chosen one, each example as input and
    reconstruction (waveform over spectrogram), play/stop, an A/B switch that keeps the
    position, a step slider over the validations and saving as WAV. New clips appear while
    the run trains (the index is read again every few seconds while the run is live)."""

    POLL_MS = 3000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index: AudioIndex | None = None
        self.audio: ClipAudio | None = None
        self._specs: list[tuple[np.ndarray, np.ndarray]] = []
        self._run_key: tuple[str | None, int] | None = None
        self._live = False
        self._generation = 0  # results of an older run or clip are dropped
        self._updating = False
        self._decoding: int | None = None
        self._player: Any = None  # QMediaPlayer, built on first play
        self._audio_output: Any = None
        self._device: bool | None = None
        self._tmp = QTemporaryDir()
        self.run_dir: str | None = None
        self.rave_executable: str | None = None  # None: the saved settings' rave
        self.own_dialog: OwnSoundDialog | None = None
        self.own_sound: str | None = None  # what is shown when it is your own sound
        self._own_count = 0

        self.clip_list = QListWidget()
        self.clip_list.setMinimumWidth(100)
        self.clip_list.currentRowChanged.connect(self._on_row_changed)

        self._make_example_ab(self, "input")
        self.example_combo.currentIndexChanged.connect(self._on_example_changed)
        self.ab_group.idToggled.connect(self._on_ab_toggled)
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(lambda _checked: self.toggle_play())
        self.save_button = QPushButton("Save WAV…")
        self.save_button.clicked.connect(lambda _checked: self._ask_save())
        self.own_button = QPushButton("Your sound…")
        self.own_button.setToolTip(
            "Try your own sound: a WAV file through a checkpoint or an exported model of "
            "this run, played against the original"
        )
        self.own_button.clicked.connect(lambda _checked: self.try_own_sound())
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Example"))
        controls.addWidget(self.example_combo)
        controls.addWidget(self.a_button)
        controls.addWidget(self.b_button)
        controls.addWidget(self.play_button)
        controls.addStretch(1)

        self.step_slider = QSlider(Qt.Orientation.Horizontal)
        self.step_slider.setPageStep(1)
        self.step_slider.valueChanged.connect(self._on_slider)
        self.step_label = QLabel()
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Step"))
        slider_row.addWidget(self.step_slider, 1)
        slider_row.addWidget(self.step_label)
        slider_row.addWidget(self.save_button)
        slider_row.addWidget(self.own_button)

        # the figure (and matplotlib) is built when the panel is first shown, then kept
        self.view: ListenFigure | None = None
        self.figure: Figure | None = None
        self.canvas: FigureCanvasQTAgg | None = None
        self.canvas_holder = QWidget()
        self.canvas_holder.setMinimumSize(240, 120)
        self.canvas_holder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        QVBoxLayout(self.canvas_holder).setContentsMargins(0, 0, 0, 0)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        rl.addLayout(controls)
        rl.addLayout(slider_row)
        rl.addWidget(self.canvas_holder, 1)
        rl.addWidget(self.message)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.clip_list)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([170, 600])
        splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(splitter)

        self._poll = QTimer(self)
        self._poll.setInterval(self.POLL_MS)
        self._poll.timeout.connect(self.refresh)
        self._set_enabled(False)

    # --- the run ---------------------------------------------------------------------------------
    def set_run(self, run_dir: str | None, channels: int | None, live: bool) -> None:
        """Show a run's audio (its folder and the model's channel count); ``live``: it still
        trains, so its folder is read again every few seconds."""
        key = (run_dir, int(channels or 1))
        self._live = live
        if key == self._run_key:
            self._update_polling()
            return
        self.stop()
        self._run_key = key
        self._generation += 1
        self.index = AudioIndex(run_dir, channels=key[1]) if run_dir else None
        self.audio, self._specs = None, []
        self.run_dir, self.own_sound = run_dir, None
        self._updating = False
        self._decoding = None
        self._fill_list()
        self._draw()
        self.message.setText("" if run_dir else "This run has no run folder yet.")
        self.refresh()
        self._update_polling()

    def refresh(self) -> None:
        """Read what the run's event files gained since (off the GUI thread)."""
        if self.index is None or self._updating:
            return
        self._updating = True
        gen, index = self._generation, self.index
        run_in_background(
            index.update,
            lambda changed: self._index_read(gen, bool(changed)),
            lambda err: self._index_failed(gen, err),
        )

    def _index_read(self, gen: int, changed: bool) -> None:
        if gen != self._generation:
            return
        self._updating = False
        if changed:
            self._fill_list()
        elif self.index is not None and not self.index.clips and not self.message.text():
            self.message.setText("No validation audio yet: RAVE writes a clip at each validation.")

    def _index_failed(self, gen: int, err: Exception) -> None:
        if gen == self._generation:
            self._updating = False
            self.message.setText(f"Cannot read the run's audio: {err}")

    def _update_polling(self) -> None:
        if self._live and self.index is not None and self.isVisible():
            self._poll.start()
        else:
            self._poll.stop()

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        if self.canvas is None:
            self._build_canvas()
        self._update_polling()

    def _build_canvas(self) -> None:
        from .listen_figure import ListenFigure

        self.view = ListenFigure()
        self.figure, self.canvas = self.view.figure, self.view.canvas
        layout = self.canvas_holder.layout()
        assert layout is not None
        layout.addWidget(self.canvas)
        self._draw()

    def shutdown(self) -> None:
        self._poll.stop()
        self.stop()
        if self.own_dialog is not None:
            self.own_dialog.shutdown()

    # --- your own sound ------------------------------------------------------------------------
    def try_own_sound(self) -> OwnSoundDialog:
        """Open the dialog that reconstructs a WAV file through one of the run's models;
        the result is shown here, A the original and B the reconstruction."""
        if self.own_dialog is not None:
            self.own_dialog.raise_()
            return self.own_dialog
        folder = Path(self._tmp.path()) / "own"
        dialog = OwnSoundDialog(self.run_dir, folder, self.rave_executable, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.reconstructed.connect(self.show_own_sound)
        dialog.destroyed.connect(lambda _o=None: setattr(self, "own_dialog", None))
        self.own_dialog = dialog
        dialog.open()
        return dialog

    def show_own_sound(self, source: str, output: str, model: str) -> None:
        """Show (and load, off the GUI thread) a sound and its reconstruction as A and B."""
        self.stop()
        self._own_count += 1
        gen, index = self._generation, -self._own_count
        self._decoding = index
        text = f"Your sound {Path(source).name} through {Path(model).name}"
        run_in_background(
            lambda: load_own_sound(source, output, index),
            lambda result: self._own_loaded(gen, index, text, result),
            lambda err: self._index_failed(gen, err),
        )

    def _own_loaded(self, gen: int, index: int, text: str, result: tuple) -> None:
        if gen != self._generation or index != self._decoding:
            return
        self._decoding = None
        self.audio, self._specs = result
        self.own_sound = text
        with QSignalBlocker(self.clip_list), QSignalBlocker(self.example_combo):
            self.clip_list.setCurrentRow(-1)
            self.example_combo.clear()
            self.example_combo.addItem("1")
        self.step_label.setText("your sound")
        self.message.setText(f"{text}: A is the original, B the reconstruction.")
        self._set_enabled(True)
        self._draw()

    # --- list and slider ---------------------------------------------------------------------
    @property
    def clips(self) -> list[AudioClip]:
        return self.index.clips if self.index is not None else []

    def _fill_list(self) -> None:
        clips = self.clips
        row = self.clip_list.currentRow()
        follow_last = row < 0 or row == self.clip_list.count() - 1
        with QSignalBlocker(self.clip_list), QSignalBlocker(self.step_slider):
            self.clip_list.clear()
            for c in clips:
                step = "step ?" if c.step is None else f"step {c.step}"
                loss = format_value(c.loss, missing="-")
                # two short lines: the list stays narrow at the smallest window, nothing cut
                item = QListWidgetItem(f"{step}\nloss {loss}")
                item.setToolTip(
                    f"{step} loss {loss}: validation {c.validation}, {c.examples} example(s), "
                    f"{c.seconds:.1f} s"
                )
                self.clip_list.addItem(item)
            self.step_slider.setRange(0, max(0, len(clips) - 1))
        if clips:
            self.message.setText("" if self.audio_device_available() else NO_DEVICE)
            target = len(clips) - 1 if follow_last else min(row, len(clips) - 1)
            if self.own_sound is not None:  # your sound stays until a validation is chosen
                pass
            elif target != row or self.audio is None:
                self.select_clip(target)
            else:
                with QSignalBlocker(self.clip_list), QSignalBlocker(self.step_slider):
                    self.clip_list.setCurrentRow(target)
                    self.step_slider.setValue(target)
        self._set_enabled(bool(clips))

    def select_clip(self, row: int) -> None:
        """Show (and decode) the clip at ``row`` of the list."""
        with QSignalBlocker(self.clip_list), QSignalBlocker(self.step_slider):
            self.clip_list.setCurrentRow(row)
            self.step_slider.setValue(row)
        self._on_row_changed(row)

    def _on_slider(self, value: int) -> None:
        self.select_clip(value)

    def _on_row_changed(self, row: int) -> None:
        clips = self.clips
        if not 0 <= row < len(clips):
            return
        with QSignalBlocker(self.step_slider):
            self.step_slider.setValue(row)
        clip = clips[row]
        step = "?" if clip.step is None else str(clip.step)
        self.step_label.setText(f"{step}  ({row + 1} of {len(clips)})")
        if self.audio is not None and self.audio.clip == clip:
            return
        self.own_sound = None
        self._decoding = row
        gen = self._generation
        run_in_background(
            lambda: _decode(clip),
            lambda result: self._decoded(gen, row, result),
            lambda err: self._index_failed(gen, err),
        )

    def _decoded(
        self, gen: int, row: int, result: tuple[ClipAudio, list[tuple[np.ndarray, np.ndarray]]]
    ) -> None:
        if gen != self._generation or row != self._decoding:
            return
        self._decoding = None
        was_playing = self.playing
        position = self._player.position() if was_playing else 0
        self.audio, self._specs = result
        example = self.example
        with QSignalBlocker(self.example_combo):
            self.example_combo.clear()
            self.example_combo.addItems([str(e + 1) for e in range(len(self.audio.inputs))])
            self.example_combo.setCurrentIndex(min(example, len(self.audio.inputs) - 1))
        if was_playing:  # the slider moved while playing: the same example, later in training
            self.play(position)  # the sound first: it does not wait for the picture
        self._draw()

    # --- example and A/B ---------------------------------------------------------------------
    def _on_example_changed(self, _index: int) -> None:
        self.stop()
        self._draw()

    def _on_ab_toggled(self, _id: int, checked: bool) -> None:
        if not checked:
            return
        if self.playing:  # A/B: the other part from the same position
            self.play(self._player.position())
        if self.view is not None:  # only the colours change
            self.view.set_part(self.part, self._colors())

    def current_samples(self) -> np.ndarray | None:
        if self.audio is None:
            return None
        return self.audio.part(self.example, self.part)

    # --- playback ----------------------------------------------------------------------------
    def audio_device_available(self) -> bool:
        if self._device is None:
            from PyQt6.QtMultimedia import QMediaDevices

            self._device = bool(QMediaDevices.audioOutputs())
        return self._device

    @property
    def playing(self) -> bool:
        if self._player is None:
            return False
        from PyQt6.QtMultimedia import QMediaPlayer

        return bool(self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState)

    def toggle_play(self) -> None:
        if self.playing:
            self.stop()
        else:
            self.play()

    def play(self, position_ms: int = 0) -> bool:
        """Play the chosen example's chosen part from ``position_ms``; False (and a message)
        when there is nothing to play or no audio device."""
        samples = self.current_samples()
        if samples is None or self.audio is None:
            return False
        if not self.audio_device_available():
            self.message.setText(NO_DEVICE)
            self.play_button.setEnabled(False)
            return False
        if self._player is None:
            self._player = self._make_player()
        path = Path(self._tmp.path()) / (
            f"clip{self.audio.clip.index}-ex{self.example}-{self.part}.wav"
        )
        if not path.exists():
            path.write_bytes(encode_wav(samples, self.audio.sample_rate))
        self._player.setSource(QUrl.fromLocalFile(str(path)))
        self._player.setPosition(position_ms)
        self._player.play()
        self._update_play_button()
        return True

    def _make_player(self) -> Any:
        """The QMediaPlayer the panel plays through, to the machine's default audio output."""
        from PyQt6.QtMultimedia import QAudioOutput, QMediaPlayer

        player = QMediaPlayer(self)
        self._audio_output = QAudioOutput(self)
        player.setAudioOutput(self._audio_output)
        player.playbackStateChanged.connect(lambda _s: self._update_play_button())
        return player

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()
        self._update_play_button()

    def _update_play_button(self) -> None:
        self.play_button.setText("Stop" if self.playing else "Play")

    # --- saving ------------------------------------------------------------------------------
    def save_wav(self, path: str | Path) -> None:
        """Write the chosen example's chosen part as a 16-bit WAV file."""
        samples = self.current_samples()
        if samples is None or self.audio is None:
            raise RaveGuiError("No clip is shown: there is nothing to save.")
        try:
            Path(path).write_bytes(encode_wav(samples, self.audio.sample_rate))
        except OSError as err:
            raise RaveGuiError(f"Cannot write {path}: {err.strerror or err}") from err

    def _ask_save(self) -> None:
        if self.audio is None:
            return
        c = self.audio.clip
        name = f"step{c.step}-example{self.example + 1}-{self.part}.wav"
        if self.own_sound is not None:
            name = f"{Path(c.path).stem}-{self.part}.wav"
        path, _ = QFileDialog.getSaveFileName(self, "Save clip as WAV", name, "WAV (*.wav)")
        if not path:
            return
        try:
            self.save_wav(path)
        except RaveGuiError as err:
            self.message.setText(str(err))
        else:
            self.message.setText(f"Saved {path}")

    # --- drawing -------------------------------------------------------------------------------
    def _set_enabled(self, on: bool) -> None:
        for w in (self.example_combo, self.a_button, self.b_button, self.save_button):
            w.setEnabled(on)
        self.step_slider.setEnabled(on and len(self.clips) > 1)
        self.play_button.setEnabled(on and self._device is not False)

    def _colors(self) -> Colors:
        pal = self.palette()
        role = QPalette.ColorRole
        return Colors(
            bg=pal.color(role.Base).name(),
            fg=pal.color(role.Text).name(),
            grid=pal.color(role.Mid).name(),
            accent=pal.color(role.Highlight).name(),
        )

    def _draw(self) -> None:
        """The figure shows the chosen example (updated in place, drawn once)."""
        view = self.view
        if view is None:
            return
        if self.audio is None:
            text = "Choose a validation on the left." if self.clips else "No validation audio."
            view.show_message(text, self._colors())
            return
        e = min(self.example, len(self.audio.inputs) - 1)
        waves = [self.audio.part(e, part).mean(axis=1) for part in PARTS]
        specs = list(self._specs[e]) if e < len(self._specs) else []
        if len(specs) != len(waves):
            specs = [spectrogram_db(w) for w in waves]
        view.show_clip(waves, specs, self.audio.sample_rate, self.part, self._colors())
