"""How a run on a target is shown: its status with its engine's word where that says more
("running · pending: Resources"), the same in the runs table, the run panel, `runs list` and
`runs show` (the status model, status.py, stays the one source of status names)."""

from __future__ import annotations

from typing import Any

from ..store.targets import RemoteRun, engine_label


def status_text(status: str, engine: str) -> str:
    """``status`` followed by ``engine`` (an engine_label) when there is one."""
    return f"{status} · {engine}" if engine else str(status)


def engine_json(run: RemoteRun, status: str) -> dict[str, Any]:
    """A remote run's place and engine state for --json output."""
    return {
        "target": run.target, "kind": run.kind, "remote_dir": run.remote_dir, "pid": run.pid,
        "job_id": run.job_id, "state": run.state, "reason": run.reason,
        "restarts": run.restarts, "label": engine_label(run, status),
    }  # fmt: skip


def remote_fields(run: RemoteRun | None) -> list[tuple[str, Any]]:
    """`runs show` lines of a remote run: where it runs and what its engine last said."""
    if run is None:
        return []
    where = f"{run.target} ({run.kind}" + (f", job {run.job_id})" if run.job_id else ")")
    state = run.state + (f" ({run.reason})" if run.reason else "") if run.state else "-"
    fields: list[tuple[str, Any]] = [("target", where), ("remote dir", run.remote_dir)]
    fields.append(("engine", state + (f", requeued {run.restarts}×" if run.restarts else "")))
    return fields


__all__ = ["engine_json", "remote_fields", "status_text"]
