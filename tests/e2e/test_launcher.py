"""End-to-end: a short real RAVE training through launcher.py, and its --probe."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rave_gui.backend.jobs.demo import synthesize_audio

pytestmark = pytest.mark.e2e

LAUNCHER = Path(__file__).resolve().parents[2] / "rave_gui" / "backend" / "rave" / "launcher.py"
# The Python of the RAVE installation to test; by default the one running the tests.
PYTHON_ENV = "RAVE_GUI_TEST_RAVE_PYTHON"
MAX_STEPS = 30
LOG_EVERY = 10  # through RAVE_GUI_LOG_EVERY_N_STEPS; RAVE's own interval (50) is > MAX_STEPS
TRAIN_TAGS = ("fullband_spectral_distance", "multiband_spectral_distance", "beta_factor")

READ_EVENTS = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))
"""


def _probe(python: str) -> tuple[dict[str, Any], float]:
    start = time.monotonic()
    proc = subprocess.run(
        [python, str(LAUNCHER), "--probe"], capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0]), elapsed


@pytest.fixture(scope="session")
def rave_python() -> str:
    python = os.environ.get(PYTHON_ENV) or sys.executable
    try:
        info, _ = _probe(python)
    except Exception as exc:  # no such interpreter, or a broken one
        pytest.skip(f"cannot probe a RAVE installation with {python}: {exc}")
    if not info.get("rave_version"):
        pytest.skip(f"rave (acids-rave) is not installed for {python} (set ${PYTHON_ENV})")
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("rave preprocess needs ffmpeg and ffprobe on PATH")
    return python


@pytest.fixture(scope="session")
def rave_db(rave_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One preprocessed dataset for the session: 12 synthetic 20 s mono files (36 chunks)."""
    root = tmp_path_factory.mktemp("rave_data")
    synthesize_audio(root / "audio", n_files=12, seconds=20.0, sample_rate=44100, channels=1)
    db = root / "db"
    proc = subprocess.run(
        [
            rave_python, str(LAUNCHER), "preprocess",
            "--input_path", str(root / "audio"), "--output_path", str(db), "--channels", "1",
        ],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (db / "metadata.yaml").is_file()
    return db


@pytest.fixture(scope="session")
def training(rave_python: str, rave_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A short v2_small training on the CPU through the launcher, and what it left behind."""
    out = tmp_path_factory.mktemp("rave_runs")
    env = dict(os.environ, PYTHONUNBUFFERED="1", RAVE_GUI_LOG_EVERY_N_STEPS=str(LOG_EVERY))
    cmd = [
        rave_python, str(LAUNCHER), "train",
        "--config", "v2_small", "--db_path", str(rave_db), "--out_path", str(out),
        "--name", "e2e", "--max_steps", str(MAX_STEPS), "--val_every", "1000",
        "--batch", "2", "--workers", "0", "--gpu", "-1", "--channels", "1",
    ]  # fmt: skip
    with open(out / "stdout.txt", "wb") as so, open(out / "stderr.txt", "wb") as se:
        rc = subprocess.run(cmd, stdout=so, stderr=se, env=env, cwd=out, timeout=540).returncode
    stdout = (out / "stdout.txt").read_text(errors="replace")
    stderr = (out / "stderr.txt").read_text(errors="replace")
    events = sorted(out.glob("e2e_*/version_*/events.out.tfevents.*"))
    scalars: dict[str, list[list[float]]] = {}
    if events:
        proc = subprocess.run(
            [rave_python, "-c", READ_EVENTS, str(events[0])],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        scalars = json.loads(proc.stdout)
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "events": events, "scalars": scalars}


def _steps(scalars: dict, tag: str) -> list[int]:
    return [int(step) for step, _ in scalars.get(tag, [])]


def test_training_runs_like_rave_train(training: dict) -> None:
    assert training["rc"] == 0, training["stderr"][-3000:]
    assert f"`Trainer.fit` stopped: `max_steps={MAX_STEPS}` reached." in training["stderr"]
    assert len(training["events"]) == 1
    assert "learning-rate logging failed" not in training["stderr"]


def test_lr_points_align_with_training_scalars(training: dict) -> None:
    scalars = training["scalars"]
    lr_gen = _steps(scalars, "lr_generator")
    lr_dis = _steps(scalars, "lr_discriminator")
    assert lr_gen, f"no lr_generator in the event file; tags: {sorted(scalars)}"
    assert lr_gen == lr_dis
    # Lightning 1.9 logs at _batches_that_stepped: steps 9, 19, 29 for an interval of 10.
    expected = list(range(LOG_EVERY - 1, MAX_STEPS, LOG_EVERY))
    for tag in TRAIN_TAGS:
        assert _steps(scalars, tag) == expected, tag
    # The same steps, plus the first batch.
    assert lr_gen == [0, *expected]


def test_lr_values(training: dict) -> None:
    gen = [v for _, v in training["scalars"]["lr_generator"]]
    dis = [v for _, v in training["scalars"]["lr_discriminator"]]
    # RAVE: Adam 1e-3 with LinearLR decay over phase 1 for the generator, 1e-4 fixed for the
    # discriminator.
    assert gen[0] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(gen))
    assert 0.9e-3 < gen[-1] < 1e-3
    assert dis == pytest.approx([1e-4] * len(dis))


def test_lr_lines_on_stdout(training: dict) -> None:
    lines = [
        part[part.index("rave-gui:") :]
        for chunk in training["stdout"].split("\n")
        for part in chunk.split("\r")
        if "rave-gui:" in part and "lr_generator=" in part  # not the live step lines
    ]
    steps = [int(line.split("step=")[1].split()[0]) for line in lines]
    assert steps == _steps(training["scalars"], "lr_generator")
    assert lines[0] == "rave-gui: step=0 lr_generator=0.001 lr_discriminator=0.0001"


def test_live_step_lines_on_stdout(training: dict) -> None:
    ticks = [
        int(part.split("step=")[1])
        for chunk in training["stdout"].split("\n")
        for part in chunk.split("\r")
        if part.startswith("rave-gui: step=") and " " not in part.split("step=")[1]
    ]
    assert ticks and ticks == sorted(ticks)


def test_probe(rave_python: str) -> None:
    info, elapsed = _probe(rave_python)
    assert elapsed < 10
    assert info["ok"] is True, info["errors"]
    assert info["rave_version"] == "2.3.1"
    assert info["torch_version"] and info["lightning_version"]
    assert Path(info["python"]).exists()
    names = {c["name"]: c for c in info["configs"]}
    for name in ("v1", "v2", "v2_small", "v3", "discrete", "causal", "noise", "snake"):
        assert Path(names[name]["path"]).is_file(), name
    assert names["v2_small"]["kind"] == "base"
    assert names["causal"]["kind"] == "modifier"
    train_flags = {f["name"]: f for f in info["flags"]["train"]}
    assert train_flags["name"]["required"] is True
    assert train_flags["config"]["default"] == ["v2.gin"]
    assert train_flags["config"]["multi"] is True
    assert train_flags["max_steps"]["default"] == 6000000
    assert train_flags["gpu"]["type"] == "integer"
    assert {"run", "streaming"} <= {f["name"] for f in info["flags"]["export"]}
