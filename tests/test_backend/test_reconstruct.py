"""`rave-gui reconstruct`: a WAV file through a TorchScript model, run by the launcher in RAVE's
Python (a real child process with torch; the model is a real scripted module with RAVE's
interface: forward(x[b, c, t]) -> y[b, c, t], ``sr`` and ``n_channels`` attributes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rave_gui.backend.errors import PreflightError
from rave_gui.backend.jobs.reconstruct import check_reconstruct
from rave_gui.backend.rave.audio import decode_wav, encode_wav
from rave_gui.cli import main

RAVE = Path(sys.executable).with_name("rave")

MODEL_SOURCE = """
import sys
import torch


class Half(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sr = 8000
        self.n_channels = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5


torch.jit.save(torch.jit.script(Half()), sys.argv[1])
"""


def _has_torch() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None and RAVE.exists()
    except ValueError:
        return False


needs_torch = pytest.mark.skipif(not _has_torch(), reason="no RAVE installation with torch")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    (folder / "make.py").write_text(MODEL_SOURCE)
    path = folder / "half.ts"
    subprocess.run([sys.executable, str(folder / "make.py"), str(path)], check=True, timeout=120)
    return path


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
