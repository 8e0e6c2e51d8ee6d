"""Views of scripts/screenshots.py kept here (that script stays short): a run with alerts and
its Alerts tab, the resume dialog and the try-your-own-sound dialog."""

from __future__ import annotations

from pathlib import Path

# A short run reaches no plateau at the defaults (ten validations): the captured run, six
# validations long, is watched with thresholds scaled to it, so its real series raises the
# alert a long run would (validation stuck near where it started).
SHORT_RUN_THRESHOLDS = {"plateau_validations": 3, "overfit_validations": 2}


def import_watched_run(manager, fixture: Path, folder: Path, project_id: int) -> int | None:
    """The captured 110-step run imported again as "watched", its health checked with
    thresholds for a run that short; the alerts it raises are the importer's own."""
    from rave_gui.backend.runs.engine import import_run
    from rave_gui.backend.runs.health import HealthThresholds

    if not fixture.is_dir():
        return None
    thresholds = HealthThresholds(**SHORT_RUN_THRESHOLDS)
    return import_run(manager, folder, project_id=project_id, name="watched", thresholds=thresholds)


def render_alerts(app, page, exp_id: int, save, theme: str, pump) -> None:
    """The Training page on a run with an alert: the banner, the plot's marker and the
    Alerts tab listing it."""
    page.select_run(exp_id)
    pump(app, 1.5)
    panel = page.panel
    panel.tabs.setCurrentWidget(panel.alert_history)
    pump(app, 0.5)
    save(page.window(), f"alerts-{theme}")
    panel.tabs.setCurrentIndex(0)


def render_resume(app, page, exp_id: int, save, pump) -> None:
    """Resume from a checkpoint: the checkpoints with step and validation loss, max steps
    extended, the command."""
    page.select_run(exp_id)
    pump(app, 0.5)
    dialog = page.resume_selected_from_checkpoint()
    if dialog is None:
        return
    pump(app, 0.5)
    for _ in range(50):  # its checkpoints are read in the background
        if dialog.is_loaded:
            break
        pump(app, 0.1)
    save(dialog, "resume-dialog")
    dialog.reject()
    pump(app, 0.2)


def render_own_sound(app, listen, sound: Path, save, pump) -> None:
    """Try your own sound: a WAV file and one of the run's checkpoints chosen."""
    dialog = listen.try_own_sound()
    dialog.source_edit.setText(str(sound))
    pump(app, 0.3)
    save(dialog, "own-sound-dialog")
    dialog.reject()
    pump(app, 0.2)
