"""Process identity and signals: is pid P still the process we started, signal its group."""

from __future__ import annotations

import os
import signal

import psutil

from ..errors import ProcessError

# Start times are compared with this tolerance (psutil derives them from boot time + ticks).
START_TIME_TOLERANCE_S = 1.0


def process_start_time(pid: int) -> float | None:
    """The process's start time (seconds since the epoch), None if there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def is_alive(pid: int) -> bool:
    try:
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def is_same_process(pid: int | None, start_time: float | None) -> bool:
    """True when ``pid`` is alive and started at ``start_time`` (so not a reused pid)."""
    if not pid or start_time is None:
        return False
    started = process_start_time(pid)
    if started is None or abs(started - start_time) > START_TIME_TOLERANCE_S:
        return False
    return is_alive(pid)


def is_paused(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def signal_group(pgid: int, sig: str | int) -> bool:
    """Send a signal (name or number) to the process group led by ``pgid`` (or to that process
    alone when it leads no group). False if nothing is left to signal."""
    signum = getattr(signal, sig) if isinstance(sig, str) else sig
    try:
        group = os.getpgid(pgid)
    except ProcessLookupError:
        group = pgid  # the leader is gone; members of its group may remain
    try:
        if group == pgid:
            os.killpg(pgid, signum)
        else:  # a process started elsewhere that leads no group of its own
            os.kill(pgid, signum)
        return True
    except ProcessLookupError:
        return False
    except PermissionError as err:
        raise ProcessError(f"Not allowed to signal process group {pgid}: {err}") from err


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in a process group."""
    out = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out
