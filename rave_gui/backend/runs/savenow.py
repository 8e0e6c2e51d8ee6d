"""Save a checkpoint now: SIGUSR1 to the launcher inside a running `rave train` process.

The launcher (``rave/trainwatch.py``) saves a checkpoint at the next batch boundary into the
run's ``version_N/checkpoints`` folder as ``manual-epoch=E-step=S.ckpt`` and prints
``rave-gui: checkpoint saved PATH step=S``; the checkpoint list picks it up like RAVE's own.

Only the launcher process gets the signal: SIGUSR1 terminates a process that does not handle it
(the supervisor, RAVE's data-loader workers, a `rave train` started without the launcher).
"""

from __future__ import annotations

import signal

import psutil

from ..errors import ProcessError
from ..manager import TrainingManager
from ..process.procinfo import is_same_process
from ..status import Action, require_action

LAUNCHER_NAME = "launcher.py"


def launcher_process(pid: int) -> int | None:
    """The pid of the launcher's training process: ``pid`` itself or one of its descendants
    (a run's recorded pid is its supervisor's), None when there is none."""
    try:
        root = psutil.Process(pid)
        candidates = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    for proc in candidates:
        try:
            cmd = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        names = [c.replace("\\", "/").rsplit("/", 1)[-1] for c in cmd[:3]]
        if LAUNCHER_NAME in names and "train" in cmd[1:4]:
            return proc.pid
    return None


def request_checkpoint(manager: TrainingManager, experiment_id: int) -> int:
    """Ask a running run to save a checkpoint at its next batch; returns the signalled pid.
    ValidationError when the run is not running; ProcessError when its process is gone or
    was not started through the launcher (it would not survive the signal)."""
    exp = manager.get_experiment(experiment_id)
    require_action(exp, Action.SAVE_CHECKPOINT)
    if exp.pid is None or not is_same_process(exp.pid, exp.process_start_time):
        raise ProcessError(f"The process of {exp.name!r} is no longer running.")
    sigusr1 = getattr(signal, "SIGUSR1", None)
    target = launcher_process(exp.pid)
    if target is None or sigusr1 is None:
        raise ProcessError(
            f"{exp.name!r} was not started through rave-gui's launcher: it cannot save a "
            "checkpoint on request (RAVE saves one at each validation)."
        )
    try:
        psutil.Process(target).send_signal(sigusr1)
    except psutil.NoSuchProcess:
        raise ProcessError(f"The process of {exp.name!r} is no longer running.") from None
    except psutil.AccessDenied as err:
        raise ProcessError(f"Not allowed to signal the process of {exp.name!r}: {err}") from err
    return target


__all__ = ["launcher_process", "request_checkpoint"]
