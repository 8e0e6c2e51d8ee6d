"""Starting commands detached from the app (own process group, log file) and signalling them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProcessError
from ..rave.runfolder import check_identity
from .procinfo import group_members, is_alive, process_start_time, signal_group

LOG_NAME = "train.log"
STATUS_NAME = "supervisor.json"

# Popen objects of supervisors this process started, so they are reaped (no zombies).
_children: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class Launched:
    pid: int  # the supervisor's pid, also the process group id
    start_time: float
    log_path: Path
    status_path: Path


def reap() -> None:
    """Collect supervisors of this process that have exited."""
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


def launch(
    argv: list[str],
    folder: str | os.PathLike[str],
    *,
    log_name: str = LOG_NAME,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    progress_interval: float = 1.0,
    run_uid: str | None = None,
    on_exit: list[str] | None = None,
) -> Launched:
    """Start ``argv`` under a supervisor in a new session, output appended to a log file in
    ``folder``. The process outlives this one; follow it through the log and status files.

    ``run_uid``: the training run the folder was created for (see runfolder); a folder that
    belongs to another run is refused (ProcessError), so no run's status file is ever removed
    by another's start. Without it, only a folder that no training run owns is accepted.
    ``on_exit``: a command the supervisor starts, detached, once ``argv`` ended and the status
    file says so (its output goes to ``supervisor.err``)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ProcessError(f"Cannot create the run folder {folder}: {err.strerror}") from err
    check_identity(folder, run_uid)
    log_path = folder / log_name
    status_path = folder / (Path(log_name).stem + "." + STATUS_NAME)
    status_path.unlink(missing_ok=True)  # a stale status of this folder's own run
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONUNBUFFERED"] = "1"
    pkg_root = str(Path(__file__).resolve().parents[3])
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (pkg_root, full_env.get("PYTHONPATH", "")) if p
    )
    cmd = [
        sys.executable, "-m", "rave_gui.backend.process.supervisor",
        "--log", str(log_path), "--status", str(status_path),
        "--progress-interval", str(progress_interval),
        *(["--on-exit", json.dumps(on_exit)] if on_exit else []), "--", *argv,
    ]  # fmt: skip
    reap()
    try:
        with open(folder / "supervisor.err", "ab") as err_file:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err_file,
                cwd=cwd,
                env=full_env,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as err:
        raise ProcessError(f"Cannot start {argv[0]}: {err.strerror}") from err
    _children[proc.pid] = proc
    start = process_start_time(proc.pid) or time.time()
    return Launched(proc.pid, start, log_path, status_path)


def read_status(path: str | os.PathLike[str] | None) -> dict | None:
    """The supervisor's status file (None if absent or unreadable)."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def group_alive(pgid: int) -> bool:
    reap()
    return bool(group_members(pgid)) or is_alive(pgid)


def pause(pgid: int) -> bool:
    return signal_group(pgid, "SIGSTOP")


def resume(pgid: int) -> bool:
    return signal_group(pgid, "SIGCONT")


def wait_group(pgid: int, timeout: float, interval: float = 0.1) -> bool:
    """Wait until no process of the group is left; True if it emptied in time."""
    deadline = time.monotonic() + timeout
    while True:
        reap()
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_group(
    pgid: int,
    *,
    interrupt_timeout: float = 30.0,
    term_timeout: float = 10.0,
    interrupted: bool = False,
) -> str:
    """Stop a process group gracefully: SIGINT, then SIGTERM, then SIGKILL, each after its
    timeout; waits until nothing of the group is left. Returns the last signal needed.
    ``interrupted``: the SIGINT was sent already (a second one would hurry the shutdown)."""
    if not interrupted:
        signal_group(pgid, "SIGINT")
    signal_group(pgid, "SIGCONT")  # a paused group must run to handle the interrupt
    if wait_group(pgid, interrupt_timeout):
        return "SIGINT"
    signal_group(pgid, "SIGTERM")
    if wait_group(pgid, term_timeout):
        return "SIGTERM"
    signal_group(pgid, "SIGKILL")
    wait_group(pgid, 10.0)
    return "SIGKILL"
