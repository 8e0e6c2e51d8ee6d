"""ETA to the adversarial phase and to max steps, from the run's config.gin and its speed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from rave_gui.backend.rave.command import first_phase_steps, run_config_gin, run_eta

FIXTURES = Path(os.environ.get("RAVE_GUI_FIXTURES", "/work/shared/fixtures/rave"))


def test_eta_to_the_phase_change_and_to_max_steps():
    # 10 steps/s, at step 100k of a 1M-step phase 1 and 3M max steps
    eta = run_eta(100_000, 3_000_000, 1_000_000, 10.0)
    assert eta.phase_change == pytest.approx(90_000.0)
    assert eta.finish == pytest.approx(290_000.0)
    assert eta.phase_text(100_000, 1_000_000) == "adversarial phase in ~1 d 01 h"
    short = run_eta(988_600, 3_000_000, 1_000_000, 1.0)  # 11,400 s = 3 h 10 min
    assert short.phase_text(988_600, 1_000_000) == "adversarial phase in ~3 h 10 min"


def test_eta_when_past_unknown_or_never_reached():
    past = run_eta(1_200_000, 3_000_000, 1_000_000, 10.0)
    assert past.phase_change is None and past.finish == pytest.approx(180_000.0)
    assert past.phase_text(1_200_000, 1_000_000) == "adversarial phase since step 1,000,000"
    # a phase 1 as long as the run: the adversarial phase never comes
    never = run_eta(100, 1_000_000, 1_000_000, 10.0)
    assert never.phase_change is None and never.phase_text(100, 1_000_000) is None
    # no speed yet, or no config: nothing to say
    assert run_eta(100, 1000, 500, None) == run_eta(100, 1000, 500, 0.0)
    assert run_eta(100, 1000, 500, None).finish is None
    assert run_eta(100, 3_000_000, None, 5.0).phase_text(100, None) is None
    assert run_eta(None, None, 500, 5.0).phase_change == pytest.approx(100.0)


def test_the_phase_length_is_read_from_the_run_folders_config_gin(tmp_path):
    gin = FIXTURES / "run_110steps" / "config.gin"
    if not gin.exists():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    assert run_config_gin(tmp_path) is None  # RAVE has not written it yet
    assert run_config_gin(None) is None
    # a rave-gui run folder: RAVE writes NAME_HASH/config.gin in it
    old = tmp_path / "run_aaaa" / "config.gin"
    old.parent.mkdir()
    old.write_text("PHASE_1_DURATION = 5\nmodel.RAVE.phase_1_duration = %PHASE_1_DURATION\n")
    past = time.time() - 100
    os.utime(old, (past, past))
    new = tmp_path / "run_bbbb" / "config.gin"
    new.parent.mkdir()
    shutil.copy(gin, new)
    assert run_config_gin(tmp_path) == new  # the newest
    assert first_phase_steps([str(new)]) == 1_000_000
    # an imported RAVE folder holds it directly
    assert run_config_gin(gin.parent) == gin
