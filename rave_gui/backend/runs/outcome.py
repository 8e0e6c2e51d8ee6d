"""How a run ended: the markers its log leaves (completion, interrupt, failure, exit line),
kept in its summary, and the rules that turn them and its exit into a status and a reason."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..rave.logparse import Event, Failure, LogLine, Outcome
from ..status import COMPLETED, FAILED, STOPPED

EXIT_LINE = re.compile(r"^\[rave-gui\] process exited with code (-?\d+)$")  # the supervisor's
_MAX_STEPS_REACHED = re.compile(r"max_steps=(\d+)` reached")


def steps_reached(outcome: Outcome) -> int | None:
    """The real last step of a completed run (its scalars stop a little before it)."""
    if outcome.kind != "completed":
        return None
    reached = _MAX_STEPS_REACHED.search(outcome.text)
    return int(reached.group(1)) if reached else None


@dataclass
class OutcomeMarkers:
    """What a run's log said about its end so far. Kept in the run's summary (stored with the
    offsets they were read up to): they survive an app restart and are shared by every
    follower of the run."""

    completed: bool = False
    interrupted: bool = False
    failure: str | None = None  # the last exception of a traceback
    last_error: str | None = None  # the last error line
    exit_line_code: int | None = None  # from the supervisor's last line

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> OutcomeMarkers:
        return cls(
            completed=bool(summary.get("completed_marker")),
            interrupted=bool(summary.get("interrupted_marker")),
            failure=summary.get("failure"),
            last_error=summary.get("last_error"),
            exit_line_code=summary.get("exit_line_code"),
        )

    def merge(self, summary: dict[str, Any]) -> None:
        """Take in what another follower stored."""
        self.completed |= bool(summary.get("completed_marker"))
        self.interrupted |= bool(summary.get("interrupted_marker"))
        self.failure = summary.get("failure") or self.failure

    def write_into(self, summary: dict[str, Any]) -> None:
        summary["completed_marker"] = self.completed
        summary["interrupted_marker"] = self.interrupted
        if self.failure:
            summary["failure"] = self.failure
        if self.last_error:
            summary["last_error"] = self.last_error
        if self.exit_line_code is not None:
            summary["exit_line_code"] = self.exit_line_code

    def see(self, ev: Event) -> bool:
        """Note what an event of the log says about the end; True when a marker changed."""
        if isinstance(ev, LogLine):
            exited = EXIT_LINE.match(ev.text)
            if exited:
                self.exit_line_code = int(exited.group(1))
            elif ev.level == "error":
                self.last_error = ev.text
            else:
                return False
        elif isinstance(ev, Outcome):
            if ev.kind == "completed":
                self.completed = True
            elif ev.kind == "interrupted":
                self.interrupted = True
        elif isinstance(ev, Failure):
            self.failure = ev.reason
        else:
            return False
        return True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_code_text(code: int | None, status: str) -> str:
    """An exit code as a person reads it: a signal's name, and for a stopped run the
    interrupt it was ended by ("-2 (ended by SIGINT: the run was stopped)")."""
    if code is None:
        return "-"
    if code >= 0:
        return str(code)
    if status == STOPPED:
        return f"{code} (ended by {_signal_name(-code)}: the run was stopped)"
    return f"{code} (killed by {_signal_name(-code)})"


def exit_line_shown(text: str, level: str, stopping: bool) -> tuple[str, str]:
    """A log line as shown: the supervisor's last line of a run being stopped says so
    ("The run stopped (ended by SIGINT).") instead of a bare negative exit code."""
    exited = EXIT_LINE.match(text)
    if not exited:
        return text, level
    code = int(exited.group(1))
    if code < 0 and (stopping or code == -signal.SIGINT):
        return f"The run stopped (ended by {_signal_name(-code)}).", "info"
    if code == 0 and stopping:
        return "The run stopped.", "info"
    return text, level


def no_exit_reason(run_dir: Path | None, supervisor_state: str | None) -> str | None:
    """Why an ended run reported no exit code, when that is known."""
    if run_dir is not None and not run_dir.exists():
        return f"the run folder {run_dir} was deleted while the run went on"
    if supervisor_state == "running":
        return "the run's supervisor process ended before the run (killed?)"
    return None


def decide_outcome(
    *,
    exit_code: int | None,
    stop_requested: bool,
    signals: list[str],
    completed_marker: bool,
    interrupted_marker: bool,
    failure: str | None,
    last_error: str | None,
    no_exit_reason: str | None = None,
) -> tuple[str, str | None]:
    """The final status of an ended run and its error text, from everything known.

    no_exit_reason: why no exit code is known, when that is known (the run folder deleted,
    the supervisor gone); the log's last error line comes first."""
    if stop_requested or interrupted_marker or "SIGINT" in signals:
        if completed_marker and not stop_requested and not interrupted_marker:
            return COMPLETED, None
        if exit_code not in (None, 0) and failure and not stop_requested:
            return FAILED, failure
        return STOPPED, None
    if exit_code is None:
        if completed_marker:
            return COMPLETED, None
        return FAILED, (
            failure
            or last_error
            or no_exit_reason
            or "the process ended without reporting an exit code (killed?)"
        )
    if exit_code == 0:
        return COMPLETED, None
    if exit_code < 0:
        reason = failure or f"killed by signal {-exit_code}"
        return FAILED, reason
    return FAILED, failure or last_error or f"exited with code {exit_code}"


__all__ = [
    "EXIT_LINE",
    "OutcomeMarkers",
    "decide_outcome",
    "exit_code_text",
    "exit_line_shown",
    "no_exit_reason",
    "steps_reached",
]
