"""`rave-gui reconstruct`: a WAV file through a TorchScript model, run by the launcher in RAVE's
Python (a real child process with torch; the model is a real scripted module with RAVE's
interface: forward(x[b, c, t]) -> y[b, c, t], ``sr`` and ``n_channels`` attributes)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from torch_models import RAVE, has_torch, make_half_model

from rave_gui.backend.errors import PreflightError
from rave_gui.backend.jobs.reconstruct import check_reconstruct
from rave_gui.backend.rave.audio import decode_wav, encode_wav
from rave_gui.cli import main

needs_torch = pytest.mark.skipif(not has_torch(), reason="no RAVE installation with torch")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_half_model(tmp_path_factory.mktemp("model"))


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    path.write_bytes(encode_wav(samples, rate))
    return path


@needs_torch
def test_reconstruct_writes_the_model_output(model, tmp_path, capsys) -> None:
    t = np.arange(8000 * 3) / 8000
    tone = (0.6 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    src = _wav(tmp_path / "in.wav", tone, 8000)
    out = tmp_path / "out.wav"
    code = main(["reconstruct", "--model", str(model), "--input", str(src), "-o", str(out),
                 "--rave", str(RAVE)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"wrote {out}" in captured.out
    assert "rave-gui: reconstruct reconstructing 3.0 s" in captured.err  # progress lines
    rate, y = decode_wav(out.read_bytes())
    assert rate == 8000 and y.shape == (tone.size, 1)  # same rate and length as the input
    assert np.allclose(y[:, 0], tone * 0.5, atol=2 / 32768)


@needs_torch
def test_wrong_sample_rate_says_to_resample(model, tmp_path, capsys) -> None:
    src = _wav(tmp_path / "in.wav", np.zeros(1000, np.float32), 16000)
    code = main(["reconstruct", "--model", str(model), "--input", str(src),
                 "-o", str(tmp_path / "o.wav"), "--rave", str(RAVE)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "rave-gui: error: In.wav is at 16000 Hz but the model works at 8000 Hz" in err
    assert "resample" in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()


@needs_torch
def test_stereo_input_is_mixed_down_for_a_mono_model(model, tmp_path, capsys) -> None:
    left = np.full(4000, 0.4, np.float32)
    src = _wav(tmp_path / "st.wav", np.stack([left, -left / 2], axis=1), 8000)
    out = tmp_path / "o.wav"
    code = main(["reconstruct", "--model", str(model), "--input", str(src), "-o", str(out),
                 "--rave", str(RAVE)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    _, y = decode_wav(out.read_bytes())
    assert y.shape == (4000, 1) and np.allclose(y, (0.4 - 0.2) / 2 * 0.5, atol=2 / 32768)


def test_bad_files_are_refused_before_torch_loads(tmp_path) -> None:
    src = _wav(tmp_path / "in.wav", np.zeros(10, np.float32), 8000)
    with pytest.raises(PreflightError, match="not a RAVE model"):
        check_reconstruct(tmp_path / "m.pt", src, tmp_path / "o.wav")
    with pytest.raises(PreflightError, match="does not exist"):
        check_reconstruct(tmp_path / "m.ts", src, tmp_path / "o.wav")
    (tmp_path / "m.ts").write_bytes(b"x")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(PreflightError, match="not a PCM WAV file"):
        check_reconstruct(tmp_path / "m.ts", tmp_path / "text.wav", tmp_path / "o.wav")
    with pytest.raises(PreflightError, match="overwrite the input"):
        check_reconstruct(tmp_path / "m.ts", src, src)


def test_a_reconstruction_past_its_timeout_is_stopped(tmp_path, monkeypatch) -> None:
    from rave_gui.backend.errors import CancelledError
    from rave_gui.backend.jobs import reconstruct as rc

    src = _wav(tmp_path / "in.wav", np.zeros(10, np.float32), 8000)
    (tmp_path / "m.ts").write_bytes(b"x")
    # a child that says nothing and never ends, in place of the launcher
    monkeypatch.setattr(
        rc, "reconstruct_argv", lambda *a: [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    with pytest.raises(CancelledError, match=r"more than 0\.5 s"):
        rc.reconstruct(str(RAVE), tmp_path / "m.ts", src, tmp_path / "o.wav", timeout=0.5)


def _run_folder(tmp_path: Path) -> Path:
    """A run folder as RAVE writes it: config.gin (44.1 kHz) and a checkpoint under it."""
    run = tmp_path / "cello_d744cc98b7"
    (run / "version_0" / "checkpoints").mkdir(parents=True)
    (run / "config.gin").write_text("SAMPLING_RATE = 44100\nN_BAND = 16\n")
    (run / "version_0" / "checkpoints" / "best.ckpt").write_bytes(b"ckpt")
    return run


def test_a_checkpoint_refuses_another_sample_rate_before_torch_loads(tmp_path) -> None:
    from rave_gui.backend.jobs.reconstruct import model_sample_rate, run_models

    run = _run_folder(tmp_path)
    ckpt = run / "version_0" / "checkpoints" / "best.ckpt"
    assert model_sample_rate(ckpt) == 44100
    assert model_sample_rate(tmp_path / "m.ts") is None  # only torch can read a .ts
    (run / "exports").mkdir()
    ts = run / "exports" / "cello.ts"
    ts.write_bytes(b"ts")
    assert set(run_models(run)) == {ckpt, ts} and run_models(tmp_path / "none") == []
    src = _wav(tmp_path / "voice.wav", np.zeros(100, np.float32), 48000)
    with pytest.raises(PreflightError) as err:
        check_reconstruct(ckpt, src, tmp_path / "o.wav")
    assert str(err.value) == (
        "voice.wav is at 48000 Hz but the model works at 44100 Hz: resample it first "
        "(e.g. ffmpeg -i voice.wav -ar 44100 voice-44k.wav)."
    )
    check_reconstruct(ckpt, _wav(tmp_path / "ok.wav", np.zeros(9, np.float32), 44100), src)


def test_a_cancelled_reconstruction_is_stopped(tmp_path, monkeypatch) -> None:
    import time

    from rave_gui.backend.errors import CancelledError
    from rave_gui.backend.jobs import reconstruct as rc

    src = _wav(tmp_path / "in.wav", np.zeros(10, np.float32), 8000)
    (tmp_path / "m.ts").write_bytes(b"x")
    monkeypatch.setattr(
        rc, "reconstruct_argv", lambda *a: [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    asked = time.monotonic() + 0.3
    started = time.monotonic()
    with pytest.raises(CancelledError, match="Cancelled"):
        rc.reconstruct(
            str(RAVE), tmp_path / "m.ts", src, tmp_path / "o.wav",
            cancelled=lambda: time.monotonic() > asked,
        )  # fmt: skip
    assert time.monotonic() - started < 5
