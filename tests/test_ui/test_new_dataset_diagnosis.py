"""The New dataset dialog tells a failed preprocess's diagnosis (title and advice), here from
the real captured output of `rave preprocess` on a folder with no audio, replayed."""

from __future__ import annotations

import sys
from pathlib import Path

from rave_gui.backend.jobs import preflight as pf
from rave_gui.backend.rave.diagnose import SIGNATURES
from rave_gui.ui.dialogs import new_dataset as nd
from rave_gui.ui.dialogs.new_dataset import NewDatasetDialog

CAPTURED = Path(__file__).resolve().parents[1] / "fixtures" / "rave_failures"
REPLAY = """#!{python}
import sys, time
sys.stderr.write(open({log!r}, encoding="utf-8").read())
sys.stderr.flush()
time.sleep(600)  # the real one hangs after "No valid file found"
"""


def test_a_failed_preprocess_shows_its_diagnosis(qtbot, manager, tmp_path, monkeypatch) -> None:
    rave = tmp_path / "bin" / "rave"
    rave.parent.mkdir()
    rave.write_text(
        REPLAY.format(python=sys.executable, log=str(CAPTURED / "preprocess_no_audio.log"))
    )
    rave.chmod(0o755)
    (tmp_path / "audio").mkdir()
    monkeypatch.setattr(nd, "preflight", lambda req, scan: pf.PreflightReport(expected_chunks=1))
    project = manager.projects.default_id()
    dialog = NewDatasetDialog(manager, project, str(rave), folders=[str(tmp_path / "audio")])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.scan is not None, timeout=20_000)
    try:
        with qtbot.waitSignal(dialog.preprocess_finished, timeout=60_000) as blocker:
            dialog.start()
        ok, text = blocker.args
        sig = next(s for s in SIGNATURES if s.kind == "no_audio_found")
        assert not ok
        assert text.startswith(f"{sig.title}. {sig.advice}")
        assert "it was stopped (it would wait forever)" in text
        assert dialog.error_label.error() == text
        assert manager.datasets.all(project) == []
    finally:
        dialog.shutdown()
