"""The run status model: the statuses of an experiment and the moves between them."""

from __future__ import annotations

QUEUED, RUNNING, PAUSED, STOPPING = "queued", "running", "paused", "stopping"
COMPLETED, STOPPED, FAILED = "completed", "stopped", "failed"
STATUSES = (QUEUED, RUNNING, PAUSED, STOPPING, COMPLETED, STOPPED, FAILED)
ACTIVE_STATUSES = (QUEUED, RUNNING, PAUSED, STOPPING)
LIVE_STATUSES = (RUNNING, PAUSED, STOPPING)  # a process exists
FINAL_STATUSES = (COMPLETED, STOPPED, FAILED)

TRANSITIONS: dict[str, tuple[str, ...]] = {
    QUEUED: (RUNNING, STOPPED, FAILED),
    RUNNING: (PAUSED, STOPPING, COMPLETED, STOPPED, FAILED),
    PAUSED: (RUNNING, STOPPING, COMPLETED, STOPPED, FAILED),
    STOPPING: (STOPPED, COMPLETED, FAILED),
    COMPLETED: (),
    STOPPED: (),
    FAILED: (),
}
