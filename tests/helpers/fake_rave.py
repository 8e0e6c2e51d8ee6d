"""Stand-ins for the `rave` console script in fast tests: real processes that print what the
real command prints (captured from acids-rave 2.3.1), without torch.

`rave preprocess` here reads PCM .wav files only (no ffmpeg), cuts them into chunks of
2 × --num_signal samples as RAVE does (shorter files and tails dropped), shows RAVE's
"dataset length" bar and writes an LMDB ``data.mdb`` with one record per chunk and RAVE's
``metadata.yaml`` (``n_seconds`` = chunk length × (chunks - 1)). With no file it prints RAVE's
"No valid file found" line and hangs, as the real one does."""

from __future__ import annotations

import sys
from pathlib import Path

_PREPROCESS = r"""
import os, sys, time, wave
args = sys.argv[1:]
if args and args[0] == "preprocess":
    opts, inputs, lazy, i = {}, [], False, 1
    while i < len(args):
        if args[i] == "--lazy":
            lazy, i = True, i + 1
            continue
        if args[i] == "--input_path":
            inputs.append(args[i + 1])
        else:
            opts[args[i]] = args[i + 1]
        i += 2
    sr = int(opts.get("--sampling_rate", 44100))
    chunk = 2 * int(opts.get("--num_signal", 131072))
    files = sorted(
        os.path.join(d, f)
        for p in inputs for d, _, fs in os.walk(p) for f in fs if f.endswith((".wav", ".WAV"))
    )
    if not files:
        print(f"No valid file found in {inputs}. Aborting", flush=True)
        time.sleep(3600)
    n = 0
    sys.stderr.write("0it [00:00, ?it/s]")
    for path in files:
        with wave.open(path, "rb") as w:
            frames = w.getnframes() * sr // w.getframerate()
        for _ in range(frames // chunk):
            n += 1
            h, rest = divmod((n - 1) * chunk / sr, 3600)
            m, sec = divmod(rest, 60)
            sys.stderr.write(
                f"\rdataset length: {int(h)}:{int(m):02d}:{sec:09.6f}: : {n}it [00:00, 13.63it/s]"
            )
            sys.stderr.flush()
            time.sleep(0.02)
    sys.stderr.write("\n")
    out = opts["--output_path"]
    os.makedirs(out, exist_ok=True)
    import lmdb
    env = lmdb.open(out, map_size=1 << 24)
    with env.begin(write=True) as txn:
        for k in range(n):
            txn.put(f"{k:08d}".encode(), b"x" * 64)
    env.close()
    with open(os.path.join(out, "metadata.yaml"), "w") as f:
        f.write(
            f"channels: {opts.get('--channels', 1)}\nlazy: {str(lazy).lower()}\n"
            f"n_seconds: {max(n - 1, 0) * chunk / sr}\nsr: {sr}\n"
        )
    sys.exit(0)
"""

_EXPORT = """
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
    """A `rave` script: `rave preprocess` (see the module docstring) and `rave export`, which
    succeeds or fails the way the real one does (``behaviour``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rave"
    failure = FAILURES[behaviour]
    path.write_text(
        f"#!{sys.executable}\n" + _PREPROCESS + _EXPORT.format(delay=delay, failure=failure)
    )
    path.chmod(0o755)
    return path


def rave_script(tmp_path: Path, python: str) -> Path:
    """A `rave` console script run by ``python`` (as pip writes it), in ``tmp_path``/bin: what
    the app finds RAVE's Python from."""
    script = tmp_path / "bin" / "rave"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!{python}\nimport sys\n", encoding="utf-8")
    script.chmod(0o755)
    return script


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
