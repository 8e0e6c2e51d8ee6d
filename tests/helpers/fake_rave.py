"""Stand-ins for the `rave` console script in fast tests: real processes that print what the
real command prints (captured from acids-rave 2.3.1), without torch."""

from __future__ import annotations

import sys
from pathlib import Path

_EXPORT = """#!{python}
import os, sys, time
args = sys.argv[1:]
assert args[0] == "export", args
opts, streaming, i = {{}}, False, 1
while i < len(args):
    if args[i] == "--streaming":
        streaming, i = True, i + 1
        continue
    opts[args[i]], i = args[i + 1], i + 2
run = opts["--run"]
ckpts = sorted(os.path.join(d, f) for d, _, fs in os.walk(run) for f in fs if f.endswith(".ckpt"))
has_config = os.path.exists(os.path.join(run, "config.gin"))
sys.stderr.write("I1123 00:00:20.000000 1 export.py:487] building rave\\n")
sys.stderr.write(f"I1123 00:00:21.000000 1 export.py:505] model found : {{ckpts[-1]}}\\n")
sys.stderr.flush()
time.sleep({delay})
{failure}
name = opts.get("--name", "model") + ("_streaming" if streaming else "") + ".ts"
out = os.path.join(opts["--output"], name)
os.makedirs(opts["--output"], exist_ok=True)
with open(out, "wb") as f:
    f.write(b"PK" * 5000)
with open(os.path.join(opts["--output"], "seen.txt"), "w") as f:
    f.write("\\n".join(ckpts) + ("\\nconfig.gin" if has_config else ""))
sys.stderr.write(f"I1123 00:00:27.961735 1 export.py:598] all good ! model exported to {{out}}\\n")
"""

FAILURES = {
    "ok": "",
    "nn_tilde": "raise ModuleNotFoundError(\"No module named 'nn_tilde'\")",
    "mismatch": (
        'sys.stderr.write(\'Traceback (most recent call last):\\n  File "export.py", line 512, '
        "in main\\n    pretrained.load_state_dict(\\nRuntimeError: Error(s) in loading "
        "state_dict for RAVE:\\n\\tsize mismatch for encoder.net.0.weight_v: copying a param "
        "with shape torch.Size([48, 16, 7]) from checkpoint, the shape in current model is "
        "torch.Size([96, 16, 7]).\\n'); sys.exit(1)"
    ),
    "hang": "time.sleep(3600)",
}


def write_fake_rave(folder: Path, behaviour: str = "ok", delay: float = 0.0) -> Path:
    """A `rave` script for `rave export` that succeeds, or fails the way the real one does."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rave"
    failure = FAILURES[behaviour]
    path.write_text(_EXPORT.format(python=sys.executable, delay=delay, failure=failure))
    path.chmod(0o755)
    return path


def make_run(root: Path, name: str = "t1", steps: tuple[int, ...] = (10, 20)) -> Path:
    """A run folder laid out as `rave train` writes it, with small checkpoint files:
    NAME_HASH/config.gin, NAME_HASH/version_0/checkpoints/{best,epoch-epoch=NNNN}.ckpt."""
    folder = root / f"{name}_d744cc98b7"
    ckpts = folder / "version_0" / "checkpoints"
    ckpts.mkdir(parents=True)
    (folder / "config.gin").write_text("include 'v2_small.gin'\n")
    for epoch, _step in enumerate(steps):
        (ckpts / f"epoch-epoch={epoch:04d}.ckpt").write_bytes(b"c" * (1000 + epoch))
    (ckpts / "best.ckpt").write_bytes(b"b" * 999)
    return folder
