"""Reconstruct a WAV file through a RAVE model (a TorchScript ``.ts`` or a ``.ckpt``).

Run with the Python of the ``rave`` installation (torch never loads in the app)::

    <rave python> reconstructor.py --model M.ts|M.ckpt --input IN.wav --output OUT.wav

Standard library plus torch; prints ``rave-gui: reconstruct ...`` progress lines on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import wave
from pathlib import Path
from typing import Any

LINE_PREFIX = "rave-gui:"

RECONSTRUCT_PAD = 4096  # inputs are padded to a multiple of this (RAVE's compression ratios)


def _say(text: str) -> None:
    sys.stdout.write(f"{LINE_PREFIX} reconstruct {text}\n")
    sys.stdout.flush()


def _read_wav(path: str) -> tuple[int, Any]:
    """(rate, float32 samples shaped (frames, channels)) of a PCM WAV file."""

    import numpy as np

    with wave.open(path, "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise ValueError(f"{8 * width}-bit WAV files are not supported: use 16-bit PCM")
    return rate, x.reshape(-1, channels)


def _write_wav(path: str, samples: Any, rate: int) -> None:

    import numpy as np

    pcm = np.clip(np.round(np.nan_to_num(samples) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())


def _load_model(model: str, config: str | None) -> tuple[Any, int | None, int | None]:
    """(callable model, its sample rate, its channels) of an exported ``.ts`` model or a
    training checkpoint rebuilt from its run's ``config.gin`` (as ``rave export`` does)."""
    import torch

    if model.endswith(".ts"):
        m = torch.jit.load(model, map_location="cpu")
        rate = getattr(m, "sr", None) or getattr(m, "sampling_rate", None)
        channels = getattr(m, "n_channels", None)
    else:
        if config is None:
            for parent in list(Path(model).parents)[:4]:
                if (parent / "config.gin").is_file():
                    config = str(parent / "config.gin")
                    break
        if config is None:
            raise ValueError(f"no config.gin found near {model}: pass --config")
        gin = importlib.import_module("gin")
        rave = importlib.import_module("rave")
        gin.parse_config_file(config)
        m = rave.RAVE()
        checkpoint = torch.load(model, map_location="cpu")
        m.load_state_dict(checkpoint["state_dict"], strict=False)
        m.eval()
        rate, channels = getattr(m, "sr", None), getattr(m, "n_channels", None)
    return m, (int(rate) if rate else None), (int(channels) if channels else None)


def reconstruct(argv: list[str]) -> int:
    """``reconstruct --model M --input IN.wav --output OUT.wav [--config GIN]``: IN through a
    RAVE model (encode then decode), written as a 16-bit WAV at IN's rate and length. Input the
    model cannot take (another sample rate, a channel count it cannot be mapped to) ends with
    ``rave-gui: error: ...`` on stderr and exit code 2; progress lines go to stdout."""

    parser = argparse.ArgumentParser(prog="reconstructor.py")
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--config")
    a = parser.parse_args(argv)

    def fail(message: str) -> int:
        sys.stderr.write(f"{LINE_PREFIX} error: {message}\n")
        sys.stderr.flush()
        return 2

    try:
        rate, x = _read_wav(a.input)
    except (OSError, EOFError, ValueError) as exc:
        return fail(f"cannot read {a.input} as a WAV file: {exc}")
    _say(f"loading {Path(a.model).name}")
    try:
        model, model_rate, model_channels = _load_model(a.model, a.config)
    except Exception as exc:
        return fail(f"cannot load the model {a.model}: {exc}")
    if model_rate and model_rate != rate:
        return fail(
            f"{Path(a.input).name} is at {rate} Hz but the model works at {model_rate} Hz: "
            f"resample it first (e.g. ffmpeg -i IN.wav -ar {model_rate} OUT.wav)"
        )
    if model_channels and x.shape[1] != model_channels:
        if x.shape[1] == 1:
            x = x.repeat(model_channels, axis=1)
        elif model_channels == 1:
            _say(f"mixing {x.shape[1]} channels down to the model's 1")
            x = x.mean(axis=1, keepdims=True)
        else:
            return fail(
                f"{Path(a.input).name} has {x.shape[1]} channels and the model "
                f"{model_channels}: convert it first"
            )
    import numpy as np
    import torch

    frames = x.shape[0]
    padded = -(-max(frames, 1) // RECONSTRUCT_PAD) * RECONSTRUCT_PAD
    batch = torch.from_numpy(np.pad(x, ((0, padded - frames), (0, 0))).T.copy())[None]
    _say(f"reconstructing {frames / rate:.1f} s")
    with torch.no_grad():
        y = model(batch)
    out = y[0].detach().cpu().numpy().T[:frames]
    try:
        _write_wav(a.output, out, rate)
    except OSError as exc:
        return fail(f"cannot write {a.output}: {exc}")
    _say(f"wrote {a.output}")
    return 0


def _drop_own_folder_from_path() -> None:
    """Keep this script's folder (modules named like RAVE's dependencies) off the path."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]


if __name__ == "__main__":
    _drop_own_folder_from_path()
    sys.exit(reconstruct(sys.argv[1:]))
