"""A real TorchScript model with RAVE's interface for the reconstruct tests (forward(x[b, c, t])
-> y[b, c, t] = x / 2, ``sr`` 8000 and ``n_channels`` 1), made by a child Python with torch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

RAVE = Path(sys.executable).with_name("rave")
MODEL_RATE = 8000

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


def has_torch() -> bool:
    """A RAVE installation with torch is here (the launcher runs the model in it)."""
    try:
        return importlib.util.find_spec("torch") is not None and RAVE.exists()
    except ValueError:
        return False


def make_half_model(folder: Path) -> Path:
    """Write the model to ``folder / half.ts`` (torch loads in a child, never in the test)."""
    (folder / "make.py").write_text(MODEL_SOURCE)
    path = folder / "half.ts"
    subprocess.run([sys.executable, str(folder / "make.py"), str(path)], check=True, timeout=120)
    return path
