"""Export a run that trained on a target: `rave export` runs THERE (where the checkpoints and
the RAVE that trained them are), its output streamed here, then the .ts is downloaded into the
run's local folder (``exports/``, as a local export) and recorded as the run's exported model.

The chosen checkpoint is one of the run's checkpoints as the store knows them (the local
mirror's paths); its path relative to the local run folder is the same under the remote run
folder. As locally (jobs/export.py), `rave export --run` takes the newest checkpoint of the
folder it is given, so the export runs from a staging folder on the target, beside the run,
that holds config.gin and only that checkpoint (a hard link); the model is kept on the target
in the run's ``exports/`` folder and the staging folder removed.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CancelledError, PreflightError
from ..jobs.export import (
    EXPORT_CANCELLED,
    NN_TILDE_HELP,
    ExportError,
    check_model_output,
    choose_checkpoint,
    explain_failure,
    export_argv,
    export_settings,
    scan_checkpoints,
)
from ..manager import TrainingManager
from ..store.records import Checkpoint
from .follow import Place
from .runs import find_rave
from .ssh import RemoteError, remote_command

STAGING_PREFIX = ".rave-gui-export-"
EXPORTS_DIR = "exports"  # in the remote run folder: the models exported there
_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Interrupt)\b.*)$")


@dataclass
class RemoteExportPlan:
    """One export on a target, checked: what runs there and where the model comes here."""

    experiment_id: int
    target: str
    checkpoint: Checkpoint
    remote_checkpoint: str
    remote_config: str
    streaming: bool
    name: str
    output_dir: Path  # here
    output_file: Path  # here: the downloaded model
    argv: list[str] = field(default_factory=list)  # filled once staged (the run folder there)
    staging: str = ""  # there
    fidelity: float | None = None
    python: str = ""  # the target's RAVE Python

    def settings(self) -> dict[str, Any]:
        return {
            **export_settings(self.checkpoint, self.name, self.streaming, self.fidelity, self.argv),
            "target": self.target,
            "remote_checkpoint": self.remote_checkpoint,
        }


def _remote_checkpoint(place: Place, local_run: str | None, ckpt: Checkpoint) -> str:
    if not local_run:
        raise ExportError("This run has no local folder: its checkpoints cannot be found there.")
    try:
        rel = Path(ckpt.path).resolve().relative_to(Path(local_run).resolve())
    except ValueError:
        raise ExportError(
            f"{ckpt.path} is not in the run's folder: it cannot be found on the target."
        ) from None
    return posixpath.join(place.run.remote_dir, rel.as_posix())


def _find_config_there(place: Place, remote_ckpt: str) -> str:
    """config.gin of the run the checkpoint belongs to, on the target (as find_config here)."""
    parts = remote_ckpt.split("/")
    candidates = []
    for i, part in enumerate(parts):
        if part.startswith("version_"):
            candidates.append("/".join([*parts[:i], "config.gin"]))
    parent = posixpath.dirname(remote_ckpt)
    for _ in range(3):
        candidates.append(posixpath.join(parent, "config.gin"))
        parent = posixpath.dirname(parent)
    line = "; ".join(f"test -f {shlex.quote(c)} && echo {shlex.quote(c)}" for c in candidates)
    res = place.conn.run(f"{{ {line}; }} | head -n1", check=False)
    found = res.text.strip()
    if not found:
        raise ExportError(
            f"No config.gin beside {posixpath.basename(remote_ckpt)} on {place.run.target}: "
            "RAVE needs the run's configuration to rebuild the model."
        )
    return found


def plan_remote_export(
    manager: TrainingManager,
    experiment_id: int,
    checkpoint: str | int = "best",
    *,
    streaming: bool = False,
    output_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    fidelity: float | None = None,
    overwrite: bool = False,
    check_modules: bool = True,
    **_local_only: Any,  # plan_export's options that mean nothing here (rave_executable)
) -> RemoteExportPlan:
    """Check an export of a remote run (PreflightError listing what to fix): the checkpoint
    and config.gin there, RAVE and nn-tilde there, the local folder the model comes to."""
    exp = manager.get_experiment(experiment_id)
    ckpt = choose_checkpoint(scan_checkpoints(manager, experiment_id), checkpoint)
    place = Place.of(manager, experiment_id)
    problems: list[str] = []
    remote_ckpt = _remote_checkpoint(place, exp.run_dir, ckpt)
    if place.conn.run(["test", "-f", remote_ckpt], check=False).returncode != 0:
        problems.append(f"The checkpoint {remote_ckpt} is not on {place.run.target} (any more).")
    config = ""
    try:
        config = _find_config_there(place, remote_ckpt)
    except ExportError as err:
        problems.append(str(err))
    name, out, target_file = check_model_output(
        exp, ckpt, problems, name=name, output_dir=output_dir, streaming=streaming,
        overwrite=overwrite, fidelity=fidelity,
    )  # fmt: skip
    rave = ""
    python = ""
    try:
        found = find_rave(place.conn, place.conn.target)
        rave, python = found.executable, found.python
    except PreflightError as err:
        problems.append(str(err))
    else:
        code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('nn_tilde') is None)"
        if check_modules and place.conn.run([python, "-c", code], check=False).returncode == 1:
            problems.append(f"On {place.run.target}: {NN_TILDE_HELP}")
    if problems:
        raise PreflightError("\n".join(problems))
    plan = RemoteExportPlan(
        experiment_id=experiment_id, target=place.run.target, checkpoint=ckpt,
        remote_checkpoint=remote_ckpt, remote_config=config, streaming=streaming, name=name,
        output_dir=out, output_file=target_file, fidelity=fidelity, python=python,
    )  # fmt: skip
    _stage(place, plan, rave)
    return plan


def _stage(place: Place, plan: RemoteExportPlan, rave: str) -> None:
    """The staging folder there (config.gin and the one checkpoint), and the export argv."""
    run_name = ""
    parts = plan.remote_checkpoint.split("/")
    for i, part in enumerate(parts):
        if part.startswith("version_") and i > 0:
            run_name = parts[i - 1]
    run_name = run_name or "run"
    q = shlex.quote
    ckpt_name = posixpath.basename(plan.remote_checkpoint)
    line = (
        f"set -e; S=$(mktemp -d {q(posixpath.join(place.run.remote_dir, STAGING_PREFIX))}XXXXXX);"
        f' D="$S"/{q(run_name)}/version_0/checkpoints; mkdir -p "$D";'
        f' cp -- {q(plan.remote_config)} "$S"/{q(run_name)}/config.gin;'
        f' ln -- {q(plan.remote_checkpoint)} "$D"/{q(ckpt_name)} 2>/dev/null ||'
        f' cp -- {q(plan.remote_checkpoint)} "$D"/{q(ckpt_name)}; echo "$S"'
    )
    res = place.conn.run(line, check=False)
    staging = res.text.strip().splitlines()[-1] if res.text.strip() else ""
    if res.returncode != 0 or not staging:
        raise ExportError(
            f"Cannot prepare {ckpt_name} for export on {plan.target}: {res.stderr or res.text}"
        )
    plan.staging = staging
    plan.argv = export_argv(
        posixpath.join(staging, run_name), plan.streaming, posixpath.join(staging, "out"),
        name=plan.name, rave=rave, fidelity=plan.fidelity,
    )  # fmt: skip


def cleanup_remote(manager: TrainingManager, plan: RemoteExportPlan) -> None:
    """Remove the staging folder on the target (the model kept there stays)."""
    if plan.staging and posixpath.basename(plan.staging).startswith(STAGING_PREFIX):
        Place.of(manager, plan.experiment_id).conn.run(["rm", "-rf", "--", plan.staging],
                                                       check=False)  # fmt: skip


def _level(text: str) -> str:
    return "error" if _ERROR_LINE.match(text) or text.startswith("Traceback") else "info"


def run_remote_export(
    manager: TrainingManager,
    plan: RemoteExportPlan,
    *,
    timeout: float = 900.0,
    on_lines: Callable[[list[tuple[str, str]]], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Run a planned export on its target, its output streamed to ``on_lines`` ((text, level)
    pairs), then download the model and record it. ``cancelled`` is asked as lines come and
    every second: once true, the remote process is ended and CancelledError raised. Returns
    the exported model's id; ExportError with the cause when no model was written."""
    place = Place.of(manager, plan.experiment_id)
    conn = place.conn
    # the remote shell prints its pid, then becomes `rave export` (exec): the pid to stop
    line = (
        f"cd {shlex.quote(plan.staging)} && echo $$ && exec {remote_command(plan.argv)} "
        "</dev/null 2>&1"
    )
    lines: list[str] = []
    pid: list[int] = []
    stop_reason: list[str] = []
    try:
        proc = subprocess.Popen(
            [*conn.base_argv(), line], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as err:
        cleanup_remote(manager, plan)
        raise RemoteError(f"Cannot run ssh: {err}") from err
    deadline = time.monotonic() + timeout

    def watch() -> None:  # cancel and timeout, even while no line comes
        while proc.poll() is None:
            why = ""
            if cancelled is not None and cancelled():
                why = EXPORT_CANCELLED
            elif time.monotonic() > deadline:
                why = f"rave export took longer than {timeout:.0f} s and was stopped"
            if why and pid and not stop_reason:
                stop_reason.append(why)
                conn.run(["kill", "-TERM", str(pid[0])], check=False)
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with proc:
        assert proc.stdout is not None and proc.stderr is not None
        buf = b""
        while True:
            data = proc.stdout.read1(65536)  # type: ignore[attr-defined]
            if not data:
                break
            buf += data
            *parts, buf = re.split(rb"\r\n|\r|\n", buf)
            texts = [p.decode("utf-8", "replace") for p in parts]
            if not pid and texts and texts[0].strip().isdigit():
                pid.append(int(texts.pop(0).strip()))
            texts = [t for t in texts if t.strip()]
            lines += texts
            if texts and on_lines is not None:
                on_lines([(t, _level(t)) for t in texts])
        if buf.strip():
            lines.append(buf.decode("utf-8", "replace"))
        said = proc.stderr.read().decode("utf-8", "replace").strip()
        code = proc.wait()
    watcher.join()
    try:
        if stop_reason and stop_reason[0] == EXPORT_CANCELLED:
            raise CancelledError(EXPORT_CANCELLED)
        if code == 255 and not pid:
            raise RemoteError(f"Cannot connect to {conn.target.describe()}: {said or 'ssh'}")
        reason = stop_reason[0] if stop_reason else None
        if reason is None:
            errs = [m.group(1) for m in map(_ERROR_LINE.match, lines) if m]
            reason = errs[-1] if errs else None
        remote_out = posixpath.join(plan.staging, "out", plan.output_file.name)
        size_res = conn.run(f"wc -c < {shlex.quote(remote_out)}", check=False)
        if code != 0 or reason or size_res.returncode != 0:
            raise ExportError(explain_failure(reason, lines, code))
        size = int(size_res.text.strip())
        if on_lines is not None:
            on_lines([(f"Copying {plan.output_file.name} from {plan.target}…", "info")])
        conn.download(remote_out, plan.output_file, size)
        kept = posixpath.join(posixpath.dirname(plan.staging), EXPORTS_DIR)
        conn.run(f"mkdir -p -- {shlex.quote(kept)} && mv -f -- {shlex.quote(remote_out)} "
                 f"{shlex.quote(kept)}/", check=False)  # fmt: skip
        return manager.artifacts.add_exported_model(
            plan.experiment_id,
            str(plan.output_file),
            size=size,
            streaming=plan.streaming,
            checkpoint=plan.checkpoint.path,
            settings=plan.settings(),
        )
    finally:
        cleanup_remote(manager, plan)


__all__ = ["RemoteExportPlan", "cleanup_remote", "plan_remote_export", "run_remote_export"]
