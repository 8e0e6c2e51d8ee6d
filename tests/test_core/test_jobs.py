"""PreprocessJob and ExportJob: progress, the stall that `rave preprocess` never ends, the
dataset registered and the model recorded, cancelling, and no process left behind (stand-in
commands that print what RAVE prints, tests/helpers/fake_rave.py)."""

from __future__ import annotations

import sys
import textwrap
import time
import wave
from pathlib import Path

import pytest

from rave_gui.backend.jobs.preprocess import PreprocessMonitor, PreprocessRequest
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process.procinfo import group_members
from rave_gui.core.jobs import CANCELLED, ExportJob, PreprocessJob

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from fake_rave import make_run, write_fake_rave  # noqa: E402


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "fake_preprocess.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


# A stand-in that hangs like `rave preprocess`: a "pool worker" child and a parent waiting.
HANG_AFTER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
time.sleep(0.3)
sys.stdout.write({line!r} + "\\n")
sys.stdout.flush()
sys.stderr.write("0it [00:00, ?it/s]")
sys.stderr.flush()
time.sleep(600)
"""


def _wait_gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def tm(tmp_path: Path):
    m = TrainingManager(tmp_path / "db.sqlite3")
    yield m
    m.close()


def _wav(path: Path, seconds: float, sr: int = 44100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(b"\0\0" * round(seconds * sr))
    return path


def _preprocess_job(tm, command: list[str], out: Path, **kwargs) -> PreprocessJob:
    request = PreprocessRequest([str(out.parent / "audio")], str(out))
    return PreprocessJob(
        tm, tm.projects.default_id(), command, request, log_folder=out.parent / "log", **kwargs
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("No valid file found in ['/data/nothere']. Aborting", "found no audio file"),
        ("(TypeError('cannot unpack non-iterable NoneType object'),)", "failed to decode a file"),
    ],
)
def test_a_stalled_preprocess_is_stopped_with_its_workers(
    qtbot, tm, tmp_path, line, reason
) -> None:
    command = _script(tmp_path, HANG_AFTER.format(line=line))
    job = _preprocess_job(tm, command, tmp_path / "db")
    with qtbot.waitSignal(job.ended, timeout=30_000) as blocker:
        job.start()
    job.wait(10_000)
    ok, message = blocker.args
    assert not ok
    assert reason in message and "stopped" in message
    assert job.pid is not None and _wait_gone(job.pid)
    assert tm.datasets.all() == []


def test_a_preprocess_job_shows_progress_and_registers_the_dataset(qtbot, tm, tmp_path) -> None:
    rave = write_fake_rave(tmp_path / "bin")
    for i, seconds in enumerate((12.0, 18.0, 24.0)):  # 2 + 3 + 4 chunks of 5.94 s
        _wav(tmp_path / "audio" / f"take{i}.wav", seconds)
    out = tmp_path / "db"
    command = [str(rave), "preprocess", "--input_path", str(tmp_path / "audio")]
    command += ["--output_path", str(out), "--channels", "1", "--sampling_rate", "44100"]
    monitor = PreprocessMonitor(9, chunk_s=2 * 131072 / 44100)
    job = _preprocess_job(tm, command, out, name="takes", monitor=monitor)
    seen: list[tuple[int, str]] = []
    lines: list[tuple[str, str]] = []
    job.progress.connect(lambda p, t: seen.append((p, t)))
    job.lines_received.connect(lines.extend)
    with qtbot.waitSignal(job.ended, timeout=30_000) as blocker:
        job.start()
    job.wait(10_000)
    assert blocker.args == [True, "done"]
    assert seen[-1][0] == 100 and seen[-1][1].startswith("9 chunks of 9 · dataset length")
    assert all(0 <= p <= 100 for p, _t in seen)
    assert not any("dataset length" in t for t, _level in lines)  # bars: progress, not lines
    (ds,) = tm.datasets.all()
    assert ds.id == job.result.dataset_id
    assert ds.name == "takes" and ds.path == str(out)
    assert ds.n_examples == 9 and ds.sample_rate == 44100


def test_cancel_stops_the_whole_group_and_leaves_nothing(qtbot, tm, tmp_path) -> None:
    command = _script(tmp_path, HANG_AFTER.format(line="dataset length: 0:00:00: : 1it [00:00]"))
    out = tmp_path / "db"
    job = _preprocess_job(tm, command, out)
    with qtbot.waitSignal(job.ended, timeout=30_000) as blocker:
        job.start()
        qtbot.waitUntil(lambda: job.pid is not None and len(group_members(job.pid)) >= 3)
        job.cancel()
    job.wait(10_000)
    assert blocker.args == [False, CANCELLED]
    assert job.result is not None and job.result.cancelled
    assert _wait_gone(job.pid)
    assert tm.datasets.all() == [] and not out.exists()


def _completed_run(tm: TrainingManager, root: Path) -> int:
    exp = tm.start_training({"name": "cello"})
    tm.experiments.update(exp, run_dir=str(root))
    make_run(root)
    tm.update_experiment_status(exp, "running")
    tm.update_experiment_status(exp, "completed")
    return exp


def test_an_export_job_plans_runs_and_records_the_model(qtbot, tm, tmp_path) -> None:
    exp = _completed_run(tm, tmp_path / "runs" / "1-cello")
    rave = write_fake_rave(tmp_path / "bin")
    out = tmp_path / "out"
    job = ExportJob(tm, exp, "best", output_dir=out, name="m", rave_executable=str(rave))
    plans: list = []
    lines: list[tuple[str, str]] = []
    job.planned.connect(plans.append)
    job.lines_received.connect(lines.extend)
    with qtbot.waitSignal(job.ended, timeout=30_000) as blocker:
        job.start()
    job.wait(10_000)
    assert blocker.args == [True, "Exported m.ts (10.0 kB)."]
    assert plans == [job.plan] and job.plan.argv[:2] == [str(rave), "export"]
    assert any("all good ! model exported to" in t for t, _level in lines)
    (model,) = tm.artifacts.exported_models(exp)
    assert model == job.model and model.path == str(out / "m.ts")
    assert not job.plan.staging.exists()


def test_an_export_job_refused_by_its_preflight_says_why(qtbot, tm, tmp_path) -> None:
    exp = _completed_run(tm, tmp_path / "runs" / "1-cello")
    rave = write_fake_rave(tmp_path / "bin")
    job = ExportJob(
        tm, exp, "best", output_dir=tmp_path / "o", name="bad name!", rave_executable=str(rave)
    )
    with qtbot.waitSignal(job.ended, timeout=30_000) as blocker:
        job.start()
    job.wait(10_000)
    assert blocker.args[0] is False and "may hold only letters" in blocker.args[1]
    assert job.pid is None  # nothing was started


def test_a_cancelled_export_leaves_no_process_no_staging_and_no_model(qtbot, tm, tmp_path) -> None:
    exp = _completed_run(tm, tmp_path / "runs" / "1-cello")
    rave = write_fake_rave(tmp_path / "bin", "hang")
    job = ExportJob(tm, exp, "best", output_dir=tmp_path / "o", rave_executable=str(rave))
    with qtbot.waitSignal(job.ended, timeout=30_000) as blocker:
        job.start()
        qtbot.waitUntil(lambda: job.pid is not None, timeout=10_000)
        job.cancel()
    job.wait(10_000)
    assert blocker.args == [False, CANCELLED]
    assert _wait_gone(job.pid)
    assert not job.plan.staging.exists()
    assert tm.artifacts.exported_models(exp) == []
