"""Audio summaries of event files: an index by byte offset, clips decoded from the file on demand.

RAVE (acids-rave 2.3.1, ``rave/model.py``) ends every validation with
``add_audio("audio_val", y, self.eval_number, sr)``: the event's step is the validation counter
(0, 1, 2, ...), not the global step, so the k-th clip of a file is paired with the k-th
``validation`` scalar of that file (a resumed run writes a new file and restarts its counter).
``y`` is ``torch.cat([x, y], -1)`` of up to 8 validation examples, flattened: for each example
and each channel, ``n_signal`` input samples then ``n_signal`` reconstructed ones
(``x1 y1 x2 y2 ...`` for mono), written as one mono 16-bit WAV.

The index keeps offsets only: where the WAV bytes lie in the event file, never the audio. It
lives in memory and is rebuilt by re-scanning from the files' offsets (a scan seeks past each
audio body, so 500 clips index in a few ms; see bench/bench_audio.py): run folders may be
read-only or on another machine, and a sidecar file could go stale as the run writes on.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RaveGuiError
from .eventproto import parse_event_scalars
from .protobuf import Malformed, encode_varint, len_field, skip, varint
from .tfevents import find_event_files
from .tfrecord import (
    FOOTER_BYTES,
    HEADER_BYTES,
    INCOMPLETE,
    LENGTH_CRCS,
    MAX_RECORD_BYTES,
    OK,
    RECORD_HEADER,
    find_header,
    length_crc,
    verify_record,
)

__all__ = [
    "AUDIO_TAG",
    "DEFAULT_N_SIGNAL",
    "PARTS",
    "AudioClip",
    "AudioError",
    "AudioIndex",
    "ClipAudio",
    "clip_layout",
    "decode_clip",
    "decode_wav",
    "encode_audio_event",
    "encode_wav",
    "read_clip_bytes",
    "spectrogram_db",
    "split_clip",
]

AUDIO_TAG = "audio_val"
VALIDATION_TAG = "validation"
DEFAULT_N_SIGNAL = 131072  # rave train's --n_signal default
PARTS = ("input", "reconstruction")

_SMALL_RECORD = 4096  # scalars are far smaller; audio far larger
_HEAD_BYTES = 4096  # bytes of an audio event read to find its header fields
_CHUNK = 1 << 20
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


class AudioError(RaveGuiError):
    """An audio clip that cannot be read: its file gone or changed, or not a WAV we can decode."""


@dataclass(frozen=True, slots=True)
class AudioClip:
    """Where one audio summary lies in an event file, and what it holds (no audio)."""

    index: int  # position among the run's clips of this tag, in file order
    tag: str
    validation: int  # the event's step: RAVE's validation counter
    step: int | None  # global step: that of the paired validation scalar (None until it is read)
    loss: float | None  # the paired validation loss
    wall_time: float
    path: str  # the event file
    offset: int  # byte offset of the WAV bytes in that file
    length: int  # their length in bytes
    sample_rate: int
    channels: int  # channels of the WAV as written (RAVE flattens to 1)
    frames: int
    examples: int  # validation examples in the clip (see clip_layout)
    n_signal: int  # samples of each part of an example
    model_channels: int = 1  # channels of the model: each example holds that many per part

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "tag": self.tag,
            "validation": self.validation,
            "step": self.step,
            "loss": self.loss,
            "wall_time": self.wall_time,
            "sample_rate": self.sample_rate,
            "frames": self.frames,
            "examples": self.examples,
            "path": self.path,
            "offset": self.offset,
            "length": self.length,
        }


def clip_layout(frames: int, n_signal: int | None = None, channels: int = 1) -> tuple[int, int]:
    """(examples, n_signal) of a flattened clip of ``frames`` samples from a model of
    ``channels`` channels: each example is 2 * channels * n_signal samples. n_signal defaults to
    RAVE's 131072; a clip that is not a whole number of such examples is read as one example
    cut in two halves (the run used another --n_signal than the one given)."""
    channels = max(1, channels)
    for n in (n_signal, DEFAULT_N_SIGNAL):
        if n and frames >= 2 * n * channels and frames % (2 * n * channels) == 0:
            return frames // (2 * n * channels), n
    return 1, frames // (2 * channels)


# --- scanning ---------------------------------------------------------------------------------


def _fields_prefix(buf: bytes, i: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field, wire type, payload start, payload end) of the fields in buf[i:end], where the
    message may run past the end of buf: stops after the first field that does."""
    n = len(buf)
    while i < min(end, n):
        key, i = varint(buf, i)
        wire_type = key & 7
        if wire_type == 2:
            size, i = varint(buf, i)
            j = i + size
        else:
            j = skip(buf, i, wire_type)
        yield key >> 3, wire_type, i, j
        if j > n:
            return
        i = j


def _audio_head(head: bytes, record_offset: int, tag_wanted: str | None) -> dict | None:
    """The audio fields of the Event whose first bytes are ``head`` (the record's data starting
    at file offset ``record_offset``); None if it holds no audio summary."""
    wall = 0.0
    step = 0
    try:
        for field, wt, s, e in _fields_prefix(head, 0, 1 << 62):
            if field == 1 and wt == 1:
                wall = _F64.unpack_from(head, s)[0]
            elif field == 2 and wt == 0:
                step = varint(head, s)[0]
            elif field == 5 and wt == 2:
                for f2, w2, vs, ve in _fields_prefix(head, s, e):
                    if f2 != 1 or w2 != 2:
                        continue
                    tag = b""
                    for f3, w3, ts, te in _fields_prefix(head, vs, ve):
                        if f3 == 1 and w3 == 2:
                            tag = head[ts:te]
                        elif f3 == 6 and w3 == 2:
                            name = tag.decode("utf-8", "replace")
                            if tag_wanted is not None and name != tag_wanted:
                                break
                            info: dict = {"tag": name, "wall_time": wall, "validation": step}
                            for f4, w4, a, b in _fields_prefix(head, ts, te):
                                if f4 == 1 and w4 == 5:
                                    info["sample_rate"] = _F32.unpack_from(head, a)[0]
                                elif f4 == 2 and w4 == 0:
                                    info["channels"] = varint(head, a)[0]
                                elif f4 == 3 and w4 == 0:
                                    info["frames"] = varint(head, a)[0]
                                elif f4 == 4 and w4 == 2:
                                    info["offset"] = record_offset + a
                                    info["length"] = b - a
                                    return info
                            return None
    except (Malformed, IndexError, struct.error):
        return None
    return None


@dataclass
class _FileState:
    path: Path
    offset: int = 0
    clips: list[dict] = dataclasses.field(default_factory=list)  # raw clip fields, file order
    validations: list[tuple[int, float]] = dataclasses.field(default_factory=list)


class AudioIndex:
    """The audio clips of one event file or of every event file under a run folder.

    ``update()`` reads only what was added since the last call (offsets per file), so it is
    called again and again while a run trains; a record still being written waits for the next
    call. ``clips`` lists what is known, in file order; a clip's ``step`` stays None until the
    matching ``validation`` scalar has been read.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        tag: str | None = AUDIO_TAG,
        n_signal: int | None = None,
        channels: int = 1,
    ) -> None:
        self.root = Path(root)
        self.tag = tag
        self.n_signal = n_signal
        self.model_channels = max(1, int(channels or 1))
        self._files: dict[str, _FileState] = {}
        self.clips: list[AudioClip] = []

    @classmethod
    def for_run(cls, run_dir: str | os.PathLike[str] | None, channels: int | None) -> AudioIndex:
        """The index of a run's folder (its experiment's ``run_dir`` and configured channels),
        read once; an AudioError if the run has no folder (yet) or it is gone."""
        if not run_dir:
            raise AudioError("This run has no run folder yet: it has written no audio.")
        if not Path(run_dir).exists():
            raise AudioError(f"The run folder {run_dir} is gone: its audio cannot be read.")
        index = cls(run_dir, channels=channels or 1)
        index.update()
        return index

    def clip(self, index: int) -> AudioClip:
        """The clip at ``index``, with a message that says which exist otherwise."""
        if not 0 <= index < len(self.clips):
            held = f"clips 0 to {len(self.clips) - 1}" if self.clips else "no audio clips"
            raise AudioError(f"There is no clip {index}: the run holds {held}.")
        return self.clips[index]

    def _paths(self) -> list[Path]:
        if self.root.is_file():
            return [self.root]
        return find_event_files(self.root)

    def update(self) -> bool:
        """Read what the files gained; True if the list of clips changed."""
        changed = False
        for path in self._paths():
            state = self._files.get(str(path))
            if state is None:
                state = self._files[str(path)] = _FileState(path)
            changed |= self._scan(state)
        if changed:
            self.clips = self._build()
        return changed

    def _build(self) -> list[AudioClip]:
        out: list[AudioClip] = []
        for state in self._files.values():
            for k, raw in enumerate(state.clips):
                step: int | None = None
                loss: float | None = None
                if raw["tag"] != AUDIO_TAG:
                    step = raw["validation"]
                elif k < len(state.validations):
                    step, loss = state.validations[k]
                examples, n_signal = clip_layout(raw["frames"], self.n_signal, self.model_channels)
                out.append(
                    AudioClip(
                        index=len(out),
                        tag=raw["tag"],
                        validation=raw["validation"],
                        step=step,
                        loss=loss,
                        wall_time=raw["wall_time"],
                        path=str(state.path),
                        offset=raw["offset"],
                        length=raw["length"],
                        sample_rate=round(raw.get("sample_rate", 0.0)),
                        channels=int(raw.get("channels", 1)) or 1,
                        frames=raw["frames"],
                        examples=examples,
                        n_signal=n_signal,
                        model_channels=self.model_channels,
                    )
                )
        return out

    def _scan(self, state: _FileState) -> bool:
        """Index the whole records of one file after its offset; True if anything was found."""
        try:
            f = open(state.path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError:
            return False
        found = False
        with f:
            size = os.fstat(f.fileno()).st_size
            if size < state.offset:  # truncated or rewritten: index it again
                found = bool(state.clips or state.validations)
                state.offset, state.clips, state.validations = 0, [], []
            base = state.offset
            tag_bytes = (self.tag or "").encode()
            buf = b""
            i = 0
            unpack = RECORD_HEADER.unpack_from
            crc_get = LENGTH_CRCS.get
            while True:
                if i + HEADER_BYTES > len(buf):
                    base, buf, i = base + i, b"", 0
                    if base + HEADER_BYTES > size:
                        break
                    f.seek(base)
                    buf = f.read(min(_CHUNK, size - base))
                    if len(buf) < HEADER_BYTES:
                        break
                # fast path: whole small records of other tags, passed over by their headers
                n = len(buf)
                find = buf.find
                while i + HEADER_BYTES <= n:
                    length, lcrc = unpack(buf, i)
                    e = i + HEADER_BYTES + length + FOOTER_BYTES
                    if length > _SMALL_RECORD or e > n or crc_get(length) != lcrc:
                        break
                    if find(b"validation", i, e) >= 0 or find(tag_bytes, i, e) >= 0:
                        break
                    i = e
                if i + HEADER_BYTES > n:
                    continue
                length, lcrc = unpack(buf, i)
                if length > MAX_RECORD_BYTES or length_crc(length) != lcrc:
                    skipped = self._resync(f, base + i, size)
                    if skipped is None:
                        break  # nothing checks out yet: wait for more data
                    base, buf, i = skipped, b"", 0
                    continue
                end = i + HEADER_BYTES + length + FOOTER_BYTES
                if base + end > size:
                    break  # incomplete: wait for the rest
                start = base + i + HEADER_BYTES
                if length <= _SMALL_RECORD:
                    if end > len(buf):
                        base, buf, i = base + i, b"", 0
                        continue
                    head = buf[i + HEADER_BYTES : i + HEADER_BYTES + length]
                    if b"validation" in head:
                        for p in parse_event_scalars(head):
                            if p.tag == VALIDATION_TAG:
                                state.validations.append((p.step, p.value))
                                found = True
                        head = b""
                    elif tag_bytes not in head:
                        head = b""  # a scalar of another tag
                else:
                    head = buf[i + HEADER_BYTES : i + HEADER_BYTES + min(length, _HEAD_BYTES)]
                    if len(head) < min(length, _HEAD_BYTES):
                        f.seek(start)
                        head = f.read(min(length, _HEAD_BYTES))
                if head:
                    info = _audio_head(head, start, self.tag)
                    if (
                        info is not None
                        and "frames" in info
                        and "offset" in info
                        and info["offset"] + info["length"] <= start + length
                    ):
                        state.clips.append(info)
                        found = True
                i = end
            state.offset = base + i
        return found

    @staticmethod
    def _resync(f: io.BufferedReader, pos: int, size: int) -> int | None:
        """The offset of the next whole record that checks out (length and data CRC) after
        damaged bytes at pos; None when none does yet (the rest may still be written)."""
        start = 1
        while pos + start < size:
            f.seek(pos)
            window = f.read(min(max(8 * _CHUNK, start + 2 * _SMALL_RECORD), size - pos))
            at_end = pos + len(window) >= size
            p = find_header(window, start)
            while p + HEADER_BYTES <= len(window):
                state = verify_record(window, p)
                if state == OK:
                    return pos + p
                if state == INCOMPLETE:
                    break
                p = find_header(window, p + 1)
            if at_end:
                return None
            if p + HEADER_BYTES <= len(window):  # a record bigger than the window: read it
                length = RECORD_HEADER.unpack_from(window, p)[0]
                pos, start = pos + p, 0
                f.seek(pos)
                window = f.read(min(HEADER_BYTES + length + FOOTER_BYTES, size - pos))
                if verify_record(window, 0) == OK:
                    return pos
                start = 1
            else:
                pos, start = pos + max(1, p - HEADER_BYTES), 1
        return None


# --- decoding ---------------------------------------------------------------------------------


def read_clip_bytes(clip: AudioClip) -> bytes:
    """The WAV file RAVE logged for a clip, read from its event file."""
    try:
        with open(clip.path, "rb") as f:
            f.seek(clip.offset)
            data = f.read(clip.length)
    except OSError as err:
        raise AudioError(f"Cannot read clip {clip.index} from {clip.path}: {err}") from err
    if len(data) != clip.length or not data.startswith(b"RIFF"):
        raise AudioError(
            f"Clip {clip.index} is no longer where it was in {Path(clip.path).name} (the event "
            "file was truncated or rewritten): index the run again."
        )
    return data


def decode_wav(data: bytes) -> tuple[int, np.ndarray]:
    """(sample rate, float32 samples in [-1, 1] shaped (frames, channels)) of PCM WAV bytes."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as err:
        raise AudioError(f"Not a PCM WAV clip: {err}") from err
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        samples = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise AudioError(f"WAV clips of {8 * width}-bit samples are not supported")
    return rate, samples.reshape(-1, channels)


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes of float samples shaped (frames,) or (frames, channels)."""
    arr = np.asarray(samples, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    pcm = np.clip(np.round(np.nan_to_num(arr) * 32768.0), -32768, 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(arr.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return out.getvalue()


@dataclass(frozen=True)
class ClipAudio:
    """A decoded clip split into its examples: inputs[e] and reconstructions[e] are float32
    arrays shaped (n_signal, channels)."""

    clip: AudioClip
    sample_rate: int
    inputs: list[np.ndarray]
    reconstructions: list[np.ndarray]

    def part(self, example: int, part: str) -> np.ndarray:
        if part not in PARTS:
            raise AudioError(f"Part must be one of {', '.join(PARTS)}, not {part!r}")
        if not 0 <= example < len(self.inputs):
            raise AudioError(
                f"Clip {self.clip.index} holds {len(self.inputs)} example(s): "
                f"there is no example {example}"
            )
        return (self.inputs if part == "input" else self.reconstructions)[example]


def split_clip(
    samples: np.ndarray, examples: int, n_signal: int, channels: int = 1
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(inputs, reconstructions) of a flattened clip: example e, channel c, part p (0 input,
    1 reconstruction) starts at sample ((e * channels + c) * 2 + p) * n_signal."""
    flat = np.asarray(samples).reshape(-1)
    need = examples * channels * 2 * n_signal
    if flat.size < need:
        raise AudioError(
            f"The clip has {flat.size} samples, fewer than {examples} example(s) of "
            f"{channels} channel(s) x 2 x {n_signal}"
        )
    grid = flat[:need].reshape(examples, channels, 2, n_signal)
    inputs = [np.ascontiguousarray(grid[e, :, 0, :].T) for e in range(examples)]
    recons = [np.ascontiguousarray(grid[e, :, 1, :].T) for e in range(examples)]
    return inputs, recons


def decode_clip(clip: AudioClip) -> ClipAudio:
    """Read a clip from its event file, decode it and split it into examples."""
    rate, samples = decode_wav(read_clip_bytes(clip))
    inputs, recons = split_clip(samples, clip.examples, clip.n_signal, clip.model_channels)
    return ClipAudio(clip, rate, inputs, recons)


def encode_audio_event(
    tag: str,
    step: int,
    wall_time: float,
    wav: bytes,
    sample_rate: int,
    frames: int,
    channels: int = 1,
) -> bytes:
    """A serialized Event holding one audio summary, laid out as torch's SummaryWriter writes it
    (for tests and benchmarks; frame it with tfrecord.frame_record)."""
    audio = (
        b"\x0d"
        + _F32.pack(float(sample_rate))
        + b"\x10"
        + encode_varint(channels)
        + b"\x18"
        + encode_varint(frames)
        + len_field(0x22, wav)
        + len_field(0x2A, b"audio/wav")
    )
    value = len_field(0x0A, tag.encode()) + len_field(0x32, audio)
    head = b"\x09" + _F64.pack(wall_time) + (b"\x10" + encode_varint(step) if step else b"")
    return head + len_field(0x2A, len_field(0x0A, value))


def spectrogram_db(
    samples: np.ndarray, n_fft: int = 1024, hop: int = 512, floor_db: float = -90.0
) -> np.ndarray:
    """Magnitude spectrogram in dB (frequency bins x frames, low frequencies first) of mono or
    multi-channel samples (the channels are averaged), Hann window."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft).astype(np.float32), axis=1))
    db = 20.0 * np.log10(np.maximum(spec, 1e-12) / (n_fft / 4))
    return np.maximum(db, floor_db).T.astype(np.float32)
