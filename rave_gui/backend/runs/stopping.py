"""Ending a followed run's process group from its follower, a poll at a time: a stop asked
is escalated when ignored, and nothing of a run that ended is left behind."""

from __future__ import annotations

import time

from ..process.procinfo import START_TIME_TOLERANCE_S, process_start_time, signal_group

INTERRUPT_TIMEOUT_S = 60.0  # after SIGINT, then SIGTERM
TERM_TIMEOUT_S = 15.0  # after SIGTERM, then SIGKILL


class StopEscalation:
    """A stop was asked (the run got SIGINT): called at each poll while the run lives, sends
    SIGTERM once it ignored the interrupt for INTERRUPT_TIMEOUT_S, then SIGKILL once it
    ignored that for TERM_TIMEOUT_S. Never blocks."""

    def __init__(self) -> None:
        self._sent: dict[str, float] = {}  # signal -> when (monotonic)

    def poll(self, pid: int | None) -> None:
        if not pid:
            return
        now = time.monotonic()
        first = self._sent.setdefault("SIGINT", now)
        if "SIGTERM" not in self._sent and now - first > INTERRUPT_TIMEOUT_S:
            signal_group(pid, "SIGTERM")
            self._sent["SIGTERM"] = now
        elif (
            "SIGTERM" in self._sent
            and "SIGKILL" not in self._sent
            and now - self._sent["SIGTERM"] > TERM_TIMEOUT_S
        ):
            signal_group(pid, "SIGKILL")
            self._sent["SIGKILL"] = now


def pid_reused(pid: int, start_time: float | None) -> bool:
    """True when a process other than the one started at ``start_time`` now has ``pid``.
    (While members of the run's group are left the kernel does not hand its id out again.)"""
    started = process_start_time(pid)
    if started is None:
        return False
    return start_time is None or abs(started - start_time) > START_TIME_TOLERANCE_S


def kill_leftovers(pid: int | None, start_time: float | None) -> None:
    """An ended run leaves no orphan: data-loader workers of its group go with it (but a pid
    now used by another process leads that process's group: never signal it)."""
    if pid and not pid_reused(pid, start_time):
        signal_group(pid, "SIGKILL")


__all__ = [
    "INTERRUPT_TIMEOUT_S",
    "TERM_TIMEOUT_S",
    "StopEscalation",
    "kill_leftovers",
    "pid_reused",
]
