"""audio: audio summaries indexed by offset in event files, decoded on demand, split in examples."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from rave_gui.backend.rave.audio import (
    DEFAULT_N_SIGNAL,
    AudioClip,
    AudioError,
    AudioIndex,
    clip_layout,
    decode_clip,
    decode_wav,
    encode_audio_event,
    encode_wav,
    read_clip_bytes,
    spectrogram_db,
    split_clip,
)
from rave_gui.backend.rave.eventproto import ScalarPoint, encode_scalar_event
from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.backend.rave.tfrecord import frame_record, iter_records

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from replay_helpers import FIXTURES  # noqa: E402

RUN_40 = FIXTURES / "run_40steps"
RUN_110 = FIXTURES / "run_110steps"

needs_fixtures = pytest.mark.skipif(
    not (RUN_110 / "config.gin").exists(), reason="captured RAVE runs not available"
)


def _event_file(folder: Path) -> Path:
    return next(folder.glob("events.out.tfevents.*"))


def _validations(folder: Path) -> list[ScalarPoint]:
    return [p for p in read_scalars(folder) if p.tag == "validation"]


@needs_fixtures
@pytest.mark.parametrize("run", [RUN_40, RUN_110])
def test_real_run_clips_are_paired_with_the_validation_scalars(run: Path) -> None:
    index = AudioIndex(run)
    assert index.update()
    validations = _validations(run)
    assert len(index.clips) == len(validations) >= 2
    for k, (clip, val) in enumerate(zip(index.clips, validations, strict=True)):
        assert clip.index == k
        assert clip.tag == "audio_val"
        assert clip.validation == k  # RAVE's counter, not the global step
        assert clip.step == val.step  # the k-th clip sits at the k-th validation's step
        assert clip.loss == val.value
        assert abs(clip.wall_time - val.wall_time) < 1.0
        # config.gin: SAMPLING_RATE = 44100; the capture's val set holds one example
        assert clip.sample_rate == 44100
        assert clip.frames == 2 * DEFAULT_N_SIGNAL
        assert (clip.examples, clip.n_signal) == (1, DEFAULT_N_SIGNAL)
    # steps grow, and a second update finds nothing new
    assert [c.step for c in index.clips] == sorted(c.step for c in index.clips if c.step)
    assert not index.update()


@needs_fixtures
def test_index_holds_offsets_into_the_file_not_audio() -> None:
    index = AudioIndex(RUN_110)
    index.update()
    data = _event_file(RUN_110).read_bytes()
    for clip in index.clips:
        wav = data[clip.offset : clip.offset + clip.length]
        assert wav.startswith(b"RIFF") and b"WAVE" in wav[:12]
        assert read_clip_bytes(clip) == wav
        # nothing in the index entry is audio: only numbers and short strings
        for f in dataclasses.fields(AudioClip):
            value = getattr(clip, f.name)
            assert not isinstance(value, bytes | bytearray | np.ndarray)
            assert len(str(value)) < 300


@needs_fixtures
def test_real_clip_decodes_and_splits_into_input_and_reconstruction() -> None:
    index = AudioIndex(RUN_40)
    index.update()
    clip = index.clips[-1]
    audio = decode_clip(clip)
    rate, whole = decode_wav(read_clip_bytes(clip))
    assert audio.sample_rate == rate == 44100
    assert len(audio.inputs) == len(audio.reconstructions) == 1
    x, y = audio.part(0, "input"), audio.part(0, "reconstruction")
    assert x.shape == y.shape == (DEFAULT_N_SIGNAL, 1)
    assert np.array_equal(np.concatenate([x, y]), whole)  # x1 y1, in that order
    assert not np.array_equal(x, y)
    # both halves are sound, not silence
    assert np.abs(x).max() > 0.05 and np.abs(y).max() > 0.01
    # the WAV RAVE wrote is 16-bit: encoding the decoded samples gives it back
    assert decode_wav(encode_wav(whole, rate))[1].tolist() == whole.tolist()
    with pytest.raises(AudioError, match="holds 1 example"):
        audio.part(1, "input")
    with pytest.raises(AudioError, match="input, reconstruction"):
        audio.part(0, "output")


@needs_fixtures
def test_file_being_written_shows_each_clip_once_whole(tmp_path: Path) -> None:
    data = _event_file(RUN_110).read_bytes()
    final = AudioIndex(RUN_110)
    final.update()
    growing = tmp_path / _event_file(RUN_110).name
    index = AudioIndex(growing)
    seen: list[int] = []
    with open(growing, "wb") as f:
        for cut in range(0, len(data), 97_001):  # cuts fall inside headers and audio bodies
            f.write(data[cut : cut + 97_001])
            f.flush()
            index.update()
            whole_records, _ = iter_records(data[: cut + 97_001])
            audio_records = [r for r in whole_records if b"audio_val" in r[:80]]
            assert len(index.clips) == len(audio_records)  # no half-written clip
            for clip in index.clips:
                assert read_clip_bytes(clip)  # each one listed can be read whole
            seen.append(len(index.clips))
    assert seen[0] == 0 and seen[-1] == len(final.clips) and seen == sorted(seen)
    strip = [dataclasses.replace(c, path="") for c in index.clips]
    assert strip == [dataclasses.replace(c, path="") for c in final.clips]


@needs_fixtures
def test_truncated_record_waits_and_a_shortened_file_is_indexed_again(tmp_path: Path) -> None:
    data = _event_file(RUN_40).read_bytes()
    full = AudioIndex(RUN_40)
    full.update()
    second = full.clips[1]
    path = tmp_path / "events.out.tfevents.1.x"
    cut = second.offset + 1000  # inside the second clip's WAV bytes
    path.write_bytes(data[:cut])
    index = AudioIndex(path)
    index.update()
    assert [c.validation for c in index.clips] == [0]
    assert index.clips[0].step == full.clips[0].step
    with open(path, "ab") as f:  # the writer finishes the record
        f.write(data[cut:])
    assert index.update()
    assert [c.step for c in index.clips] == [c.step for c in full.clips]
    # the file shrinks (rewritten): the index forgets what is gone
    path.write_bytes(data[:cut])
    assert index.update()
    assert len(index.clips) == 1
    # a clip read after its file changed under it: a clear error, not garbage
    first = index.clips[0]
    path.write_bytes(data[:1000])
    with pytest.raises(AudioError, match="truncated or rewritten"):
        read_clip_bytes(first)


def _clip_record(validation: int, samples: np.ndarray, wall: float, rate: int = 8000) -> bytes:
    wav = encode_wav(samples, rate)
    return frame_record(
        encode_audio_event("audio_val", validation, wall, wav, rate, samples.shape[0])
    )


def _scalar_record(tag: str, step: int, value: float, wall: float) -> bytes:
    return frame_record(encode_scalar_event(ScalarPoint(tag, step, value, wall)))


def test_damaged_bytes_are_skipped_and_later_clips_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 1000
    path = tmp_path / "events.out.tfevents.2.x"
    parts = []
    for k in range(3):
        parts.append(_clip_record(k, rng.uniform(-0.5, 0.5, 2 * n).astype(np.float32), k))
        parts.append(_scalar_record("validation", 100 * (k + 1), 1.0 / (k + 1), k + 0.5))
    parts.insert(2, b"\xff" * 5000)  # garbage between the first and second validations
    path.write_bytes(b"".join(parts))
    index = AudioIndex(path, n_signal=n)
    index.update()
    assert [(c.validation, c.step) for c in index.clips] == [(0, 100), (1, 200), (2, 300)]
    assert [c.examples for c in index.clips] == [1, 1, 1]


def test_split_follows_rave_layout_for_examples_and_channels() -> None:
    n, examples, channels = 16, 3, 2
    # sample value encodes (example, channel, part, t) as RAVE's reshape(-1) lays them out
    grid = np.zeros((examples, channels, 2, n), dtype=np.float32)
    for e in range(examples):
        for c in range(channels):
            for p in range(2):
                grid[e, c, p] = 1000 * e + 100 * c + 10 * p + np.arange(n) / 100
    inputs, recons = split_clip(grid.reshape(-1), examples, n, channels)
    assert len(inputs) == len(recons) == examples
    for e in range(examples):
        assert inputs[e].shape == (n, channels)
        for c in range(channels):
            assert np.array_equal(inputs[e][:, c], grid[e, c, 0])
            assert np.array_equal(recons[e][:, c], grid[e, c, 1])
    with pytest.raises(AudioError, match="fewer than"):
        split_clip(grid.reshape(-1)[:-1], examples, n, channels)


def test_clip_layout_derives_examples_from_the_length() -> None:
    assert clip_layout(8 * 2 * DEFAULT_N_SIGNAL) == (8, DEFAULT_N_SIGNAL)
    assert clip_layout(3 * 2 * 4096, 4096) == (3, 4096)
    assert clip_layout(2 * 2 * 2 * 4096, 4096, channels=2) == (2, 4096)
    # a run with another n_signal than the one given: one example, two halves
    assert clip_layout(2 * 1000) == (1, 1000)


def test_resumed_run_pairs_clips_within_each_version(tmp_path: Path) -> None:
    n = 500
    tone = np.sin(np.arange(2 * n) / 5).astype(np.float32) * 0.3
    for version, steps in ((0, (10, 20)), (1, (30,))):
        folder = tmp_path / "run" / f"version_{version}"
        folder.mkdir(parents=True)
        records = []
        for k, step in enumerate(steps):  # each process counts its validations from 0
            records.append(_clip_record(k, tone, step))
            records.append(_scalar_record("validation", step, step / 10, step + 0.1))
        (folder / f"events.out.tfevents.{version}.x").write_bytes(b"".join(records))
    index = AudioIndex(tmp_path / "run", n_signal=n)
    index.update()
    assert [(c.index, c.validation, c.step) for c in index.clips] == [
        (0, 0, 10),
        (1, 1, 20),
        (2, 0, 30),
    ]
    audio = decode_clip(index.clips[2])
    assert np.allclose(audio.inputs[0][:, 0], tone[:n], atol=1e-4)
    assert np.allclose(audio.reconstructions[0][:, 0], tone[n:], atol=1e-4)


def test_clip_before_its_validation_scalar_has_no_step_yet(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.3.x"
    path.write_bytes(_clip_record(0, np.zeros(200, np.float32), 1.0))
    index = AudioIndex(path, n_signal=100)
    index.update()
    assert index.clips[0].step is None
    with open(path, "ab") as f:
        f.write(_scalar_record("validation", 42, 3.5, 1.1))
    assert index.update()
    assert (index.clips[0].step, index.clips[0].loss) == (42, 3.5)


def test_missing_file_or_folder_gives_no_clips(tmp_path: Path) -> None:
    index = AudioIndex(tmp_path / "nothing")
    assert not index.update()
    assert index.clips == []
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert not AudioIndex(tmp_path).update()


def test_spectrogram_puts_a_tone_in_its_frequency_bin() -> None:
    rate, n_fft = 8000, 256
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    spec = spectrogram_db(tone, n_fft=n_fft, hop=128)
    assert spec.shape == (n_fft // 2 + 1, 1 + (rate - n_fft) // 128)
    peak = int(np.argmax(spec.mean(axis=1)))
    assert peak == round(1000 / (rate / n_fft))  # 1 kHz at 31.25 Hz per bin
    assert spectrogram_db(np.zeros((10, 2), np.float32), n_fft=64).max() == -90.0
