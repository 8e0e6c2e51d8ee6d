"""What the desktop tells the user about runs while the window is out of sight: a notice when a
run completes, fails or raises an ``error`` alert, and the tray icon's tooltip. Pure decisions;
the Qt tray (rave_gui/ui/notifier.py) only shows them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NOTIFY_SEVERITY = "error"  # alerts of this severity are worth a desktop notice


@dataclass(frozen=True)
class Notice:
    """One desktop notification: its title, its text and how it looks (info, warning or
    error)."""

    title: str
    message: str
    level: str = "info"


def _first_line(text: str, limit: int = 200) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_ended_notice(name: str, status: str, reason: str = "") -> Notice | None:
    """A notice for a run that completed or failed (None for any other ending: a run the user
    stopped needs no notice)."""
    if status == "completed":
        return Notice(f"Training complete: {name}", _first_line(reason) or "The run finished.")
    if status == "failed":
        why = _first_line(reason) or "The run stopped with an error."
        return Notice(f"Training failed: {name}", why, "error")
    return None


def alert_notice(name: str, alerts: Iterable[Mapping[str, Any]]) -> Notice | None:
    """A notice for the ``error`` alerts just raised about a run (the newest named, the others
    counted); None when none of them is an error."""
    errors = [a for a in alerts if a.get("severity") == NOTIFY_SEVERITY]
    if not errors:
        return None
    last = errors[-1]
    step = last.get("step")
    at = f" at step {int(step):,}" if isinstance(step, int | float) else ""
    text = f"{last.get('kind', 'alert')}{at}: {last.get('message', '')}".strip()
    if last.get("advice"):
        text += f"\n{last['advice']}"
    if len(errors) > 1:
        text += f"\n(and {len(errors) - 1} more)"
    return Notice(f"Problem in {name}", text, "error")


def tray_tooltip(active: int) -> str:
    """The tray icon's tooltip: how many runs are training."""
    if active <= 0:
        return "rave-gui: no active runs"
    return f"rave-gui: {active} active run" + ("" if active == 1 else "s")


__all__ = ["Notice", "alert_notice", "run_ended_notice", "tray_tooltip"]
