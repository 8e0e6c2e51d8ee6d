"""The run status model: statuses, groups, transitions and which action each status allows."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from rave_gui.backend import manager as manager_mod
from rave_gui.backend.errors import InvalidTransitionError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.status import (
    ACTIVE,
    FINAL,
    LIVE,
    Action,
    RunStatus,
    allowed_actions,
    can_transition,
    check_transition,
    refusal,
    require_action,
)

A = Action
# Every status × action, written out: (without a checkpoint, with one).
EXPECTED: dict[str, tuple[set[Action], set[Action]]] = {
    "queued": ({A.STOP, A.DELETE}, {A.STOP, A.DELETE}),
    "running": (
        {A.STOP, A.PAUSE, A.SAVE_CHECKPOINT},
        {A.STOP, A.PAUSE, A.SAVE_CHECKPOINT},
    ),
    "paused": ({A.STOP, A.RESUME}, {A.STOP, A.RESUME}),
    "stopping": (set(), set()),
    "completed": (
        {A.DELETE, A.DELETE_CHECKPOINTS},
        {A.DELETE, A.DELETE_CHECKPOINTS, A.RESUME_FROM_CHECKPOINT, A.EXPORT},
    ),
    "stopped": (
        {A.DELETE, A.DELETE_CHECKPOINTS},
        {A.DELETE, A.DELETE_CHECKPOINTS, A.RESUME_FROM_CHECKPOINT, A.EXPORT},
    ),
    "failed": (
        {A.DELETE, A.DELETE_CHECKPOINTS},
        {A.DELETE, A.DELETE_CHECKPOINTS, A.RESUME_FROM_CHECKPOINT},
    ),
}

# Every legal move; every other pair is refused.
LEGAL = {
    ("queued", "running"), ("queued", "stopped"), ("queued", "failed"),
    ("running", "paused"), ("running", "stopping"), ("running", "completed"),
    ("running", "stopped"), ("running", "failed"),
    ("paused", "running"), ("paused", "stopping"), ("paused", "completed"),
    ("paused", "stopped"), ("paused", "failed"),
    ("stopping", "stopped"), ("stopping", "completed"), ("stopping", "failed"),
}  # fmt: skip
ALL = ("queued", "running", "paused", "stopping", "completed", "stopped", "failed")


def test_the_values_are_the_strings_the_database_and_json_hold():
    assert [s.value for s in RunStatus] == list(ALL)
    assert RunStatus.RUNNING == "running" and f"{RunStatus.PAUSED}" == "paused"
    assert str(RunStatus.FAILED) == "failed"
    assert json.dumps({"status": RunStatus.STOPPED}) == '{"status": "stopped"}'
    assert ", ".join(RunStatus) == ", ".join(ALL)


def test_the_groups():
    assert set(ACTIVE) == {"queued", "running", "paused", "stopping"}
    assert set(LIVE) == {"running", "paused", "stopping"}
    assert set(FINAL) == {"completed", "stopped", "failed"}


def test_the_status_names_live_in_one_module_only():
    # one way to name a status: backend.status (the manager no longer re-exports them)
    for name in ("QUEUED", "STOPPING", "LIVE_STATUSES", "FINAL_STATUSES", "TRANSITIONS"):
        assert not hasattr(manager_mod, name)
    assert RunStatus("paused") is RunStatus.PAUSED and len(RunStatus) == 7


@pytest.mark.parametrize("status", ALL)
@pytest.mark.parametrize("has_checkpoint", [False, True])
def test_every_status_allows_exactly_its_actions(status: str, has_checkpoint: bool):
    expected = EXPECTED[status][has_checkpoint]
    assert allowed_actions(status, has_checkpoint) == expected
    for action in Action:
        reason = refusal(status, action, has_checkpoint)
        assert (reason is None) == (action in expected), (status, action)


@pytest.mark.parametrize("current", ALL)
@pytest.mark.parametrize("new", ALL)
def test_every_transition(current: str, new: str):
    legal = (current, new) in LEGAL
    assert can_transition(current, new) is legal
    if legal:
        check_transition(current, new, "r")
    else:
        with pytest.raises(InvalidTransitionError, match=f"'r' is {current}; it cannot become"):
            check_transition(current, new, "r")


def test_an_unknown_status_is_a_validation_error_naming_the_known_ones():
    with pytest.raises(ValidationError, match="Unknown status 'done'; use one of: queued, "):
        RunStatus.parse("done")
    with pytest.raises(ValidationError, match="Unknown status"):
        allowed_actions("done", True)
    with pytest.raises(ValidationError, match="Unknown status"):
        check_transition("running", "done")


def test_require_action_says_why_in_a_sentence():
    run = SimpleNamespace(name="strings", status="completed")
    require_action(run, Action.RESUME_FROM_CHECKPOINT)  # the checkpoint is not checked here
    with pytest.raises(ValidationError, match="'strings' is completed; only a running run can be"):
        require_action(run, Action.PAUSE)
    with pytest.raises(ValidationError, match="'strings' has no checkpoint to resume from"):
        require_action(run, Action.RESUME_FROM_CHECKPOINT, has_checkpoint=False)
    with pytest.raises(ValidationError, match="'strings' is running: stop it before resuming"):
        require_action(
            SimpleNamespace(name="strings", status="running"), Action.RESUME_FROM_CHECKPOINT
        )
    with pytest.raises(ValidationError, match="'strings' is already stopping"):
        require_action(SimpleNamespace(name="strings", status="stopping"), Action.STOP)


@pytest.fixture
def engine(tmp_path: Path):
    tm = TrainingManager(tmp_path / "db.sqlite3")
    yield Engine(tm)
    tm.close()


@pytest.mark.parametrize(
    ("status", "call", "message"),
    [
        ("completed", "pause", "is completed; only a running run can be paused"),
        ("queued", "pause", "is queued; only a running run can be paused"),
        ("stopped", "resume", "is stopped; only a paused run can be resumed"),
        ("queued", "resume", "is queued; only a paused run can be resumed"),
        ("queued", "resume_from_checkpoint", "is queued: stop it before resuming it"),
    ],
)
def test_the_engine_refuses_what_the_status_does_not_allow(engine, status, call, message):
    tm = engine.manager
    if status == "queued":
        exp = tm.start_training({"name": "r"})
    else:
        exp = tm.experiments.import_record({"name": "r"}, status=status)
    with pytest.raises(ValidationError, match=message):
        getattr(engine, call)(exp)
    assert tm.get_experiment(exp).status == status  # nothing changed
