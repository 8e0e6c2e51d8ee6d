"""Failed preprocesses and exports are diagnosed (rave/diagnose.py): the real captured outputs
in tests/fixtures/rave_failures, read by `diagnose`, replayed through run_preprocess (which
stops the hang that follows) and through run_export (whose ExportError carries the diagnosis
and says its title and advice)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rave_gui.backend.jobs import export as ex
from rave_gui.backend.jobs import preprocess as pp
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.diagnose import diagnose_log
from rave_gui.backend.status import COMPLETED, RUNNING

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from fake_rave import make_run  # noqa: E402

CAPTURED = Path(__file__).resolve().parents[1] / "fixtures" / "rave_failures"
EXPORT_LOG = CAPTURED / "export_damaged_checkpoint.log"
PREPROCESS_LOG = CAPTURED / "preprocess_no_audio.log"

# A `rave` that prints a captured output and then does what the real one did: exit 1, or hang.
REPLAY = """#!{python}
import sys, time
sys.stderr.write(open({log!r}, encoding="utf-8").read())
sys.stderr.flush()
if {hang}:
    time.sleep(600)
sys.exit(1)
"""


def _replaying_rave(folder: Path, log: Path, hang: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rave"
    path.write_text(REPLAY.format(python=sys.executable, log=str(log), hang=hang))
    path.chmod(0o755)
    return path


@pytest.fixture
def tm(tmp_path: Path):
    m = TrainingManager(tmp_path / "db.sqlite3")
    yield m
    m.close()


def test_the_captured_failures_are_diagnosed() -> None:
    export = diagnose_log(EXPORT_LOG)
    assert export is not None and export.kind == "checkpoint_damaged"
    assert export.evidence == "Unsupported operand 226"
    preprocess = diagnose_log(PREPROCESS_LOG)
    assert preprocess is not None and preprocess.kind == "no_audio_found"
    assert preprocess.evidence.startswith("No valid file found in ['/data/no_such_audio']")


def test_a_failed_export_carries_its_diagnosis(tm: TrainingManager, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "1-cello"
    make_run(run_dir)
    exp = tm.start_training({"name": "cello"})
    tm.experiments.update(exp, run_dir=str(run_dir))
    tm.update_experiment_status(exp, RUNNING)
    tm.update_experiment_status(exp, COMPLETED)
    rave = _replaying_rave(tmp_path / "bin", EXPORT_LOG, hang=False)
    plan = ex.plan_export(tm, exp, "best", output_dir=tmp_path / "m", rave_executable=str(rave))
    with pytest.raises(ex.ExportError) as err:
        ex.run_export(tm, plan, timeout=60)
    found = err.value.diagnosis
    assert found is not None and found.kind == "checkpoint_damaged"
    message = str(err.value)
    assert message.startswith("The checkpoint file is damaged or incomplete")
    assert found.advice in message
    assert "Traceback" not in message
    assert tm.artifacts.exported_models(exp) == []


def test_a_failed_preprocess_carries_its_diagnosis(tmp_path: Path) -> None:
    rave = _replaying_rave(tmp_path / "bin", PREPROCESS_LOG, hang=True)
    (tmp_path / "audio").mkdir()
    request = pp.PreprocessRequest([str(tmp_path / "audio")], str(tmp_path / "db"))
    result = pp.run_preprocess(
        pp.launch_command(pp.preprocess_argv(str(rave), request)),
        request,
        log_folder=tmp_path / "log",
        timeout=60,
    )
    assert not result.ok and not result.cancelled
    assert "it was stopped (it would wait forever)" in result.message
    assert result.diagnosis is not None and result.diagnosis.kind == "no_audio_found"
    assert result.elapsed_s < 30  # stopped on the line, not at the timeout
    text = result.failure_text()
    assert text == f"{result.diagnosis.title}. {result.diagnosis.advice}\n{result.message}"


def test_a_cancelled_preprocess_is_not_diagnosed(tmp_path: Path) -> None:
    rave = _replaying_rave(tmp_path / "bin", PREPROCESS_LOG, hang=True)
    request = pp.PreprocessRequest([str(tmp_path / "audio")], str(tmp_path / "db"))
    result = pp.run_preprocess(
        pp.launch_command(pp.preprocess_argv(str(rave), request)),
        request,
        log_folder=tmp_path / "log",
        cancelled=lambda: True,
        timeout=60,
    )
    assert result.cancelled and result.message == pp.PREPROCESS_CANCELLED
    assert result.diagnosis is None
