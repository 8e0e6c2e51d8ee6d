"""PreprocessThread and ExportThread: progress, the stall that `rave preprocess` never ends,
cancelling, and no process left behind (stand-in commands that print what RAVE prints)."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from rave_gui.backend.procinfo import group_members
from rave_gui.core.jobs import CANCELLED, ExportThread, PreprocessThread

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))


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


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("No valid file found in ['/data/nothere']. Aborting", "found no audio file"),
        ("(TypeError('cannot unpack non-iterable NoneType object'),)", "failed to decode a file"),
    ],
)
def test_a_stalled_preprocess_is_stopped_with_its_workers(qtbot, tmp_path, line, reason) -> None:
    thread = PreprocessThread(_script(tmp_path, HANG_AFTER.format(line=line)), tmp_path / "log")
    with qtbot.waitSignal(thread.finished, timeout=30_000) as blocker:
        thread.start()
    thread.wait(10_000)
    ok, message = blocker.args
    assert not ok
    assert reason in message and "stopped" in message
    assert thread.pid is not None and _wait_gone(thread.pid)


def test_progress_is_the_share_of_expected_chunks(qtbot, tmp_path) -> None:
    body = """
    import sys, time
    for n in (0, 9, 18, 36):
        sys.stderr.write(f"\\rdataset length: 0:0{n // 10}:00: : {n}it [00:01, 9.00it/s]")
        sys.stderr.flush()
        time.sleep(0.3)
    sys.stderr.write("\\n")
    """
    thread = PreprocessThread(_script(tmp_path, body), tmp_path / "log", expected_chunks=36)
    seen: list[tuple[int, str]] = []
    thread.progress.connect(lambda p, t: seen.append((p, t)))
    with qtbot.waitSignal(thread.finished, timeout=30_000) as blocker:
        thread.start()
    thread.wait(10_000)
    assert blocker.args == [True, "done"]
    assert seen[-1][0] == 100
    assert seen[-1][1].startswith("36 chunks of 36 · dataset length")
    assert all(0 <= p <= 100 for p, _t in seen)


def test_cancel_stops_the_whole_group(qtbot, tmp_path) -> None:
    thread = PreprocessThread(
        _script(tmp_path, HANG_AFTER.format(line="dataset length: 0:00:00: : 1it [00:00]")),
        tmp_path / "log",
    )
    with qtbot.waitSignal(thread.finished, timeout=30_000) as blocker:
        thread.start()
        qtbot.waitUntil(lambda: thread.pid is not None and len(group_members(thread.pid)) >= 3)
        thread.cancel()
    thread.wait(10_000)
    assert blocker.args == [False, CANCELLED]
    assert _wait_gone(thread.pid)


def test_export_thread_keeps_the_log_and_the_outcome(qtbot, tmp_path) -> None:
    from fake_rave import make_run, write_fake_rave

    from rave_gui.backend.export import ExportPlan, export_argv

    folder = make_run(tmp_path / "runs")
    rave = write_fake_rave(tmp_path / "bin")
    out = tmp_path / "out"
    plan = ExportPlan(
        experiment_id=1,
        checkpoint={"path": str(folder / "version_0" / "checkpoints" / "best.ckpt")},
        streaming=False,
        output_dir=out,
        name="m",
        argv=export_argv(folder, False, out, name="m", rave=str(rave)),
        staging=tmp_path / "staging",
        output_file=out / "m.ts",
    )
    thread = ExportThread(plan)
    with qtbot.waitSignal(thread.finished, timeout=30_000) as blocker:
        thread.start()
    thread.wait(10_000)
    assert blocker.args == [True, "done"]
    assert thread.outcome is not None and thread.outcome.kind == "exported"
    assert thread.outcome.text == str(out / "m.ts")
    assert any("model found" in line for line in thread.log_lines)
