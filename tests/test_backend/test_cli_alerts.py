"""`rave-gui runs alerts ID` and the alerts (and a failed run's diagnosis) in `runs show`."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.eventproto import ScalarPoint
from rave_gui.backend.rave.tfevents import write_scalar_events
from rave_gui.backend.runs.engine import import_run
from rave_gui.backend.runs.health import ADVICE

HELPERS = Path(__file__).resolve().parent
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from test_cli import fails, rave_gui_cli  # noqa: E402


def _store(tmp_path: Path) -> tuple[str, int, int]:
    """An imported run whose validation turns NaN at step 1500 (a real evaluation of the
    rules stores the alert) and a failed run that ran out of GPU memory."""
    run = tmp_path / "nan_d744cc98b7" / "version_0"
    run.mkdir(parents=True)
    pts = [ScalarPoint("validation", s, 10.0 / s, 1e9 + s) for s in (500, 1000)]
    pts.append(ScalarPoint("validation", 1500, math.nan, 1e9 + 1500))
    write_scalar_events(run / "events.out.tfevents.1.h.1.0", pts)
    db = tmp_path / "store.sqlite3"
    tm = TrainingManager(db)
    try:
        nan_run = import_run(tm, run.parent)
        failed = tm.start_training({"name": "oom"})
        tm.update_experiment_status(
            failed, "failed", error="torch.OutOfMemoryError: CUDA out of memory. Tried 2 GiB"
        )
    finally:
        tm.close()
    return str(db), nan_run, failed


def test_runs_alerts_and_show_list_each_alert_with_its_advice(tmp_path: Path) -> None:
    db, nan_run, failed = _store(tmp_path)
    proc = rave_gui_cli("runs", "alerts", str(nan_run), "--db", db, "--json")
    assert proc.returncode == 0, proc.stderr
    alerts = json.loads(proc.stdout)
    assert alerts == [
        {
            "kind": "nan",
            "severity": "error",
            "step": 1500,
            "message": "validation is NaN at step 1500.",
            "advice": ADVICE["nan"],
        }
    ]
    text = rave_gui_cli("runs", "alerts", str(nan_run), "--db", db).stdout
    assert "step 1500  error    nan: validation is NaN at step 1500." in text
    assert f"what to do: {ADVICE['nan']}" in text

    shown = json.loads(rave_gui_cli("runs", "show", str(nan_run), "--db", db, "--json").stdout)
    assert shown["alerts"] == alerts
    assert shown["diagnosis"] is None  # not a failed run
    assert (
        "latest: nan: validation is NaN"
        in rave_gui_cli("runs", "show", str(nan_run), "--db", db).stdout
    )

    assert rave_gui_cli("runs", "alerts", str(failed), "--db", db).stdout == "No alerts.\n"
    shown = json.loads(rave_gui_cli("runs", "show", str(failed), "--db", db, "--json").stdout)
    assert shown["alerts"] == []
    assert shown["diagnosis"]["kind"] == "cuda_oom"
    assert "smaller --batch" in shown["diagnosis"]["advice"]
    text = rave_gui_cli("runs", "show", str(failed), "--db", db).stdout
    assert "diagnosis:   The GPU ran out of memory." in text

    fails(rave_gui_cli("runs", "alerts", "999", "--db", db), "999")
