"""Benchmark of the audio index (backend/rave/audio): index 500 clips, decode + split one clip.

The event file is written as a long RAVE run writes it: every 10,000 steps a validation (the
``validation`` loss, four ``fidelity_*``, ``epoch``, then an ``audio_val`` clip of 8 examples,
each 2 x 131,072 samples at 44.1 kHz: 4 MB), between them 10 training scalars every 50 steps.
The clips' sample bytes are left as holes (a sparse file: 2 GB on paper, little on disk) and
their data CRCs are not computed (pure-Python CRC32C of 2 GB takes minutes); the index neither
reads those bytes nor checks data CRCs, so what it does is what it does on a real file.
Goals (issue 12): the index under 1 s; decode + split of a 6 s clip well under 150 ms.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rave_gui.backend.rave.audio import (  # noqa: E402
    AudioIndex,
    decode_clip,
    encode_audio_event,
    encode_wav,
    spectrogram_db,
)
from rave_gui.backend.rave.eventproto import ScalarPoint, encode_scalar_event  # noqa: E402
from rave_gui.backend.rave.tfrecord import RECORD_HEADER, frame_record, length_crc  # noqa: E402

TRAIN_TAGS = (
    "fullband_spectral_distance",
    "multiband_spectral_distance",
    "regularization",
    "beta_factor",
    "adversarial",
    "feature_matching",
    "loss_dis",
    "pred_real",
    "pred_fake",
    "epoch",
)
VAL_TAGS = ("validation", "fidelity_0.8", "fidelity_0.9", "fidelity_0.95", "fidelity_0.99")
N_SIGNAL = 131072
RATE = 44100


def write_run(path: Path, clips: int, examples: int, val_every: int = 10_000) -> int:
    """A sparse event file with ``clips`` validations; returns its size."""
    frames = examples * 2 * N_SIGNAL
    wav_header = encode_wav(np.zeros(1, np.float32), RATE)[:44]
    wav_header = wav_header[:40] + struct.pack("<I", frames * 2)
    wav_header = wav_header[:4] + struct.pack("<I", 36 + frames * 2) + wav_header[8:]
    step = 0
    with open(path, "wb") as f:
        for k in range(clips):
            batch = []
            for s in range(step + 50, step + val_every + 1, 50):
                for tag in TRAIN_TAGS:
                    ev = encode_scalar_event(ScalarPoint(tag, s, 0.5, 1e9 + s))
                    batch.append(frame_record(ev))
            step += val_every
            f.write(b"".join(batch))
            # the audio record: its head written, its samples a hole, its CRC left zero
            wav = wav_header + b"\0" * (frames * 2)
            event = encode_audio_event("audio_val", k, 1e9 + step, wav, RATE, frames)
            cut = event.index(wav_header) + len(wav_header)
            f.write(RECORD_HEADER.pack(len(event), length_crc(len(event))) + event[:cut])
            f.seek(frames * 2, os.SEEK_CUR)
            f.write(event[cut + frames * 2 :] + b"\0\0\0\0")
            vals = [ScalarPoint(t, step, 0.9, 1e9 + step + 0.1) for t in VAL_TAGS]
            f.write(b"".join(frame_record(encode_scalar_event(p)) for p in vals))
        return f.tell()


def timed(label: str, fn, repeat: int = 5):  # type: ignore[no-untyped-def]
    best = float("inf")
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    print(f"{label}: {best * 1000:.1f} ms (best of {repeat})")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=500)
    ap.add_argument("--examples", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.out.tfevents.1.bench"
        size = write_run(path, args.clips, args.examples)
        on_disk = os.stat(path).st_blocks * 512
        print(
            f"file: {args.clips} clips of {args.examples} examples, {size / 1e9:.2f} GB "
            f"({on_disk / 1e6:.0f} MB on disk)"
        )

        def index() -> AudioIndex:
            ix = AudioIndex(path)
            ix.update()
            return ix

        ix = timed(f"index {args.clips} clips", index)
        assert len(ix.clips) == args.clips and ix.clips[-1].step == args.clips * 10_000
        timed("update with nothing new", ix.update, repeat=20)

    fixture = Path(
        os.environ.get("RAVE_GUI_FIXTURES") or ROOT.parents[1] / "shared" / "fixtures" / "rave"
    )
    real = AudioIndex(fixture / "run_110steps")
    real.update()
    if not real.clips:
        print("(captured run not found: set RAVE_GUI_FIXTURES for the decode figure)")
        return
    clip = real.clips[-1]
    audio = timed(
        f"decode + split a {clip.seconds:.1f} s clip (real, 1 example)",
        lambda: decode_clip(clip),
        20,
    )
    assert audio.inputs[0].shape == (N_SIGNAL, 1)

    def decode_and_spectrograms():  # what the Listen panel does off the GUI thread on a click
        a = decode_clip(clip)
        return [
            (spectrogram_db(x), spectrogram_db(y))
            for x, y in zip(a.inputs, a.reconstructions, strict=True)
        ]

    timed(
        "decode + split + both spectrograms (the Listen panel's click)", decode_and_spectrograms, 20
    )
    part = audio.reconstructions[0]
    timed("encode the part to play as WAV", lambda: encode_wav(part, audio.sample_rate), 20)


if __name__ == "__main__":
    main()
