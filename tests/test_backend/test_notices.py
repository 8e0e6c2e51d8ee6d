"""The desktop notices' decisions: which endings and alerts notify, and what they say."""

from __future__ import annotations

from rave_gui.backend.runs.health import HealthMonitor
from rave_gui.backend.runs.notices import (
    Notice,
    alert_notice,
    run_ended_notice,
    tray_tooltip,
)


def test_completed_and_failed_runs_notify_a_stopped_one_does_not():
    done = run_ended_notice("drums", "completed", "max_steps=110 reached")
    assert done == Notice("Training complete: drums", "max_steps=110 reached", "info")
    failed = run_ended_notice("drums", "failed", "\nCUDA out of memory\nTraceback ...")
    assert failed == Notice("Training failed: drums", "CUDA out of memory", "error")
    assert run_ended_notice("drums", "failed").message == "The run stopped with an error."
    assert run_ended_notice("drums", "stopped", "stopped by the user") is None
    assert len(run_ended_notice("x", "failed", "y" * 500).message) == 200


def test_only_error_alerts_notify():
    # real alerts from the health rules: a NaN (error) then the adversarial phase (info)
    raised = HealthMonitor().feed(
        {"validation": [(16, 8.6), (50, float("nan"))], "adversarial": [(84, 1.0)]}
    )
    dicts = [
        {
            "kind": a.kind,
            "severity": a.severity,
            "step": a.step,
            "message": a.message,
            "advice": a.advice,
        }
        for a in raised
    ]
    assert [d["severity"] for d in dicts] == ["error", "info"]
    notice = alert_notice("drums", dicts)
    assert notice is not None and notice.level == "error"
    assert notice.title == "Problem in drums"
    assert notice.message.startswith("nan at step 50: ")
    assert dicts[0]["advice"] in notice.message
    assert alert_notice("drums", dicts[1:]) is None  # info only
    assert alert_notice("drums", []) is None
    two = alert_notice("drums", [dicts[0], {**dicts[0], "kind": "divergence", "step": 60}])
    assert two is not None and two.message.startswith("divergence at step 60")
    assert "(and 1 more)" in two.message


def test_tray_tooltip_counts_active_runs():
    assert tray_tooltip(0) == "rave-gui: no active runs"
    assert tray_tooltip(1) == "rave-gui: 1 active run"
    assert tray_tooltip(3) == "rave-gui: 3 active runs"
