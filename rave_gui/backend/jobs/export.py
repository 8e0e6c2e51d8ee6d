"""Exporting a trained run to TorchScript for nn~ and the RAVE VST: the run's checkpoints, the
`rave export` command for a chosen one, its failures told as their cause, and the record of
every model exported.

`rave export --run FOLDER` (acids-rave 2.3.1) loads the ``config.gin`` it finds in FOLDER and
the checkpoint with the newest modification time under it. To export the checkpoint the user
chose (the best one, or the one of a given step), the export runs from a staging folder laid
out like a run folder that holds ``config.gin`` and only that checkpoint (a hard link, or a
copy across file systems); the staging folder is removed afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CancelledError, PreflightError, RaveGuiError
from ..manager import TrainingManager
from ..process import runner
from ..process.logfollow import LogFollower, lines_of
from ..rave.command import check_writable_folder, find_rave, python_of
from ..rave.diagnose import SIGNATURES, Diagnosis, diagnose_lines
from ..rave.logparse import Failure, LogLine, Outcome
from ..runs.checkpoints import sync_run_checkpoints, with_validation
from ..store.records import Checkpoint, Experiment
from ..system.paths import data_dir

EXPORT_LOG = "export.log"
EXPORT_CANCELLED = "Export cancelled."
STAGING_PREFIX = ".rave-gui-export-"
MODULE_CHECK_TIMEOUT_S = 60
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
NN_TILDE_HELP = next(s.advice for s in SIGNATURES if s.kind == "nn_tilde_missing")


class ExportError(RaveGuiError):
    """An export did not produce a model; the message says why. ``diagnosis``: the failure's
    diagnosis (rave/diagnose.py) when its output showed one."""

    def __init__(self, message: str, diagnosis: Diagnosis | None = None) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis


# --- checkpoints -------------------------------------------------------------------------------


def scan_checkpoints(manager: TrainingManager, experiment_id: int) -> list[Checkpoint]:
    """The run's checkpoints as they are on disk now (the store is brought in line), ordered by
    step (None when unknown)."""
    exp = manager.get_experiment(experiment_id)
    run_dir = Path(exp.run_dir) if exp.run_dir else None
    if run_dir is not None and run_dir.is_dir():
        sync_run_checkpoints(manager, experiment_id, run_dir)
    return with_validation(manager, experiment_id, manager.artifacts.checkpoints(experiment_id))


def checkpoint_label(c: Checkpoint) -> str:
    """ "best (step 20)", "step 40", "epoch 6", or the file name when nothing else is known."""
    where = (
        f"step {c.step:,}"
        if c.step is not None
        else (f"epoch {c.epoch}" if c.epoch is not None else "")
    )
    if c.is_best:
        return f"best ({where})" if where else "best"
    return where or Path(c.path).name


def choose_checkpoint(checkpoints: list[Checkpoint], which: str | int) -> Checkpoint:
    """``"best"``, ``"last"`` (newest file), a step number or a path among ``checkpoints``."""
    if not checkpoints:
        raise ExportError("This run has no checkpoint to export (RAVE writes one at validation).")
    if which == "best":
        best = [c for c in checkpoints if c.is_best]
        if not best:
            raise ExportError("This run has no best.ckpt (it never ran a validation).")
        return max(best, key=lambda c: c.mtime or 0)
    if which == "last":
        return max(checkpoints, key=lambda c: c.mtime or 0)
    if isinstance(which, int):
        for c in checkpoints:
            if c.step == which and not c.is_best:
                return c
        for c in checkpoints:
            if c.step == which:
                return c
        steps = ", ".join(str(c.step) for c in checkpoints if c.step is not None)
        raise ExportError(f"No checkpoint at step {which} (steps: {steps or 'unknown'}).")
    for c in checkpoints:
        if Path(c.path) == Path(which):
            return c
    raise ExportError(f"{which} is not a checkpoint of this run.")


def rave_run_folder(ckpt: str | os.PathLike[str]) -> Path:
    """The ``NAME_HASH`` folder of a checkpoint (``NAME_HASH/version_N/checkpoints/x.ckpt``)."""
    p = Path(ckpt)
    for parent in p.parents:
        if parent.name.startswith("version_"):
            return parent.parent
    return p.parent


def find_config(ckpt: str | os.PathLike[str]) -> Path | None:
    """The run's ``config.gin`` for a checkpoint: in its run folder, or up to three levels up."""
    candidates = [rave_run_folder(ckpt) / "config.gin"]
    candidates += [parent / "config.gin" for parent in list(Path(ckpt).parents)[:3]]
    return next((c for c in candidates if c.is_file()), None)


def stage_checkpoint(
    ckpt: str | os.PathLike[str], config: str | os.PathLike[str], near: Path | None = None
) -> tuple[Path, Path]:
    """(staging folder, run folder to pass to ``--run``): a folder laid out like RAVE's run
    folder holding ``config.gin`` and only ``ckpt`` (hard-linked when it can be: instant and no
    extra disk; copied otherwise). Created next to ``near`` when possible (same file system)."""
    src = Path(ckpt)
    staging: Path | None = None
    for parent in (near, None):
        try:
            if parent is not None and not parent.is_dir():
                continue
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
            break
        except OSError:
            continue
    if staging is None:
        raise ExportError("Cannot create a temporary folder to export from.")
    run_folder = staging / rave_run_folder(src).name
    ckpt_dir = run_folder / "version_0" / "checkpoints"
    try:
        ckpt_dir.mkdir(parents=True)
        shutil.copy2(config, run_folder / "config.gin")
        try:
            os.link(src, ckpt_dir / src.name)
        except OSError:
            shutil.copy2(src, ckpt_dir / src.name)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"Cannot prepare {src.name} for export: {err.strerror or err}") from err
    return staging, run_folder


# --- the command -------------------------------------------------------------------------------


def export_argv(
    run_folder: str | os.PathLike[str],
    streaming: bool,
    output_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    rave: str = "rave",
    fidelity: float | None = None,
) -> list[str]:
    """``rave export --run FOLDER [--streaming] --output DIR [--name NAME] [--fidelity F]``."""
    argv = [rave, "export", "--run", str(run_folder)]
    if streaming:
        argv.append("--streaming")
    argv += ["--output", str(output_dir)]
    if name:
        argv += ["--name", name]
    if fidelity is not None:
        argv += ["--fidelity", f"{fidelity:g}"]
    return argv


def model_path(output_dir: str | os.PathLike[str], name: str, streaming: bool) -> Path:
    """The file `rave export` writes: NAME.ts, or NAME_streaming.ts."""
    return Path(output_dir) / f"{name}{'_streaming' if streaming else ''}.ts"


def default_output_dir(experiment: Experiment) -> Path:
    run_dir = experiment.run_dir
    return Path(run_dir) / "exports" if run_dir else data_dir() / "models"


def default_model_name(experiment: Experiment, checkpoint: Checkpoint | None) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment.name).strip("._-") or "model"
    if checkpoint is None or checkpoint.is_best:
        return base
    if checkpoint.step is not None:
        return f"{base}-step{checkpoint.step}"
    if checkpoint.epoch is not None:
        return f"{base}-epoch{checkpoint.epoch}"
    return f"{base}-{Path(checkpoint.path).stem}"


def module_available(python: str, module: str) -> bool:
    """Whether ``python`` can import ``module`` (checked without importing it)."""
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    try:
        proc = subprocess.run(
            [python, "-c", code], capture_output=True, timeout=MODULE_CHECK_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return True  # cannot tell: let the export say
    return proc.returncode == 0


@dataclass
class ExportPlan:
    """One export, checked and ready: the command and everything recorded with its model."""

    experiment_id: int
    checkpoint: Checkpoint
    streaming: bool
    output_dir: Path
    name: str
    argv: list[str]
    staging: Path
    output_file: Path
    fidelity: float | None = None
    started_at: float = field(default_factory=time.time)

    def settings(self) -> dict[str, Any]:
        return export_settings(self.checkpoint, self.name, self.streaming, self.fidelity, self.argv)


def export_settings(
    c: Checkpoint, name: str, streaming: bool, fidelity: float | None, argv: list[str]
) -> dict[str, Any]:
    """The settings an exported model is recorded with (local and remote exports)."""
    return {
        "name": name,
        "streaming": streaming,
        "fidelity": fidelity,
        "checkpoint_step": c.step,
        "checkpoint_epoch": c.epoch,
        "checkpoint_best": c.is_best,
        "checkpoint_label": checkpoint_label(c),
        "command": argv,
    }


def check_model_output(
    exp: Experiment,
    ckpt: Checkpoint,
    problems: list[str],
    *,
    name: str | None,
    output_dir: str | os.PathLike[str] | None,
    streaming: bool,
    overwrite: bool,
    fidelity: float | None,
) -> tuple[str, Path, Path]:
    """The model's name, output folder and file of an export (local or remote), checked: what
    is wrong with them, or with the fidelity, is added to ``problems``."""
    name = name or default_model_name(exp, ckpt)
    if not _SAFE_NAME.match(name):
        problems.append(
            f"The model name {name!r} may hold only letters, digits, dots, dashes and "
            "underscores, starting with a letter or digit."
        )
    out = Path(output_dir).expanduser() if output_dir else default_output_dir(exp)
    if not out.is_absolute():
        problems.append(f"Give the output folder as a full path (not {str(out)!r}).")
    else:
        try:
            check_writable_folder(out)
        except PreflightError as err:
            problems.append(str(err))
    target = model_path(out, name, streaming)
    if target.exists() and not overwrite:
        problems.append(f"{target} already exists: choose another name (or remove that file).")
    if fidelity is not None and not 0.1 <= fidelity <= 0.999:
        problems.append("The fidelity must be between 0.1 and 0.999 (RAVE's default: 0.95).")
    return name, out, target


def plan_export(
    manager: TrainingManager,
    experiment_id: int,
    checkpoint: str | int = "best",
    *,
    streaming: bool = False,
    output_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    rave_executable: str = "rave",
    fidelity: float | None = None,
    overwrite: bool = False,
    check_modules: bool = True,
) -> ExportPlan:
    """Check an export (raises PreflightError listing what to fix) and stage its checkpoint.

    ``checkpoint``: ``"best"``, ``"last"``, a step number or a checkpoint path of the run."""
    exp = manager.get_experiment(experiment_id)
    ckpt = choose_checkpoint(scan_checkpoints(manager, experiment_id), checkpoint)
    problems: list[str] = []
    ckpt_path = Path(ckpt.path)
    if not ckpt_path.is_file():
        problems.append(f"The checkpoint {ckpt_path} is gone.")
    config = find_config(ckpt_path)
    if config is None:
        problems.append(
            f"No config.gin next to {ckpt_path.name}: RAVE needs the run's configuration to "
            "rebuild the model (it is in the NAME_HASH folder `rave train` wrote)."
        )
    name, out, target = check_model_output(
        exp, ckpt, problems, name=name, output_dir=output_dir, streaming=streaming,
        overwrite=overwrite, fidelity=fidelity,
    )  # fmt: skip
    rave = rave_executable
    try:
        rave = find_rave(rave_executable)
    except PreflightError as err:
        problems.append(str(err))
    else:
        python = python_of(rave)
        if check_modules and python and not module_available(python, "nn_tilde"):
            problems.append(NN_TILDE_HELP)
    if problems:
        raise PreflightError("\n".join(problems))
    assert config is not None
    near = Path(exp.run_dir).parent if exp.run_dir else None
    staging, run_folder = stage_checkpoint(ckpt_path, config, near)
    argv = export_argv(run_folder, streaming, out, name=name, rave=rave, fidelity=fidelity)
    return ExportPlan(
        experiment_id=experiment_id,
        checkpoint=ckpt,
        streaming=streaming,
        output_dir=out,
        name=name,
        argv=argv,
        staging=staging,
        output_file=target,
        fidelity=fidelity,
    )


# --- the outcome -------------------------------------------------------------------------------


def diagnose_export(reason: str | None, lines: list[str]) -> Diagnosis | None:
    """The diagnosis of a failed export's output (its lines, then the failure reason)."""
    return diagnose_lines([*lines, reason] if reason else list(lines))


def explain_failure(reason: str | None, lines: list[str], exit_code: int | None = None) -> str:
    """The cause of a failed export in a sentence, from its diagnosis (the known failures of
    rave export are signatures in rave/diagnose.py) rather than the traceback itself."""
    text = reason or ""
    everything = "\n".join([*lines, text])
    found = diagnose_export(reason, lines)
    if found is not None and found.kind != "unknown":
        return f"{found.title} ({found.evidence}). {found.advice}"
    if "MemoryError" in everything or exit_code in (-9, 137):
        return "rave export ran out of memory (or was killed): close other programs and retry."
    if text:
        return f"rave export failed: {text}"
    if exit_code not in (None, 0):
        return f"rave export exited with code {exit_code} without saying why; see its log."
    return "rave export ended without writing a model; see its log."


def cleanup(plan: ExportPlan) -> None:
    """Remove the staging folder (the exported model and the original checkpoint stay)."""
    shutil.rmtree(plan.staging, ignore_errors=True)


def finish_export(
    manager: TrainingManager,
    plan: ExportPlan,
    *,
    exit_code: int | None,
    outcome: Outcome | None,
    failure: str | None,
    lines: list[str],
) -> int:
    """Record the model a finished export wrote and return its id; ExportError with the cause
    when it wrote none. The staging folder is removed either way."""
    try:
        written = Path(outcome.text) if outcome is not None and outcome.kind == "exported" else None
        path = written if written is not None and written.is_file() else plan.output_file
        if exit_code != 0 or failure or not path.is_file():
            raise ExportError(
                explain_failure(failure, lines, exit_code), diagnose_export(failure, lines)
            )
        return manager.artifacts.add_exported_model(
            plan.experiment_id,
            str(path),
            size=path.stat().st_size,
            streaming=plan.streaming,
            checkpoint=plan.checkpoint.path,
            settings=plan.settings(),
        )
    finally:
        cleanup(plan)


def run_export(
    manager: TrainingManager,
    plan: ExportPlan,
    *,
    timeout: float = 900.0,
    poll_s: float = 0.2,
    on_start: Callable[[runner.Launched], None] | None = None,
    on_lines: Callable[[list[tuple[str, str]]], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Run a planned export detached (its own process group, log in the staging folder),
    follow it to the end and record its model: the one path of the command line and the app's
    export job. ``on_lines`` gets each batch of new (text, level) lines; ``cancelled`` is asked
    at each poll and, once true, the export's process group is stopped and CancelledError
    raised. Returns the exported model's id; ExportError with the cause when none was written.
    """
    try:
        launched = runner.launch(plan.argv, plan.staging, log_name=EXPORT_LOG)
    except RaveGuiError:
        cleanup(plan)
        raise
    if on_start is not None:
        on_start(launched)
    follower = LogFollower.of(launched)
    lines: list[str] = []
    outcome: Outcome | None = None
    failure: str | None = None
    stopped: str | None = None
    deadline = time.monotonic() + timeout
    while True:
        upd = follower.poll()
        for ev in upd.events:
            if isinstance(ev, LogLine):
                lines.append(ev.text)
            elif isinstance(ev, Outcome):
                outcome = ev
            elif isinstance(ev, Failure):
                failure = ev.reason
        shown = lines_of(upd.events)
        if shown and on_lines is not None:
            on_lines(shown)
        if upd.final:
            break
        if stopped is None:
            if cancelled is not None and cancelled():
                stopped = EXPORT_CANCELLED
            elif time.monotonic() > deadline:
                stopped = f"rave export took longer than {timeout:.0f} s and was stopped"
            if stopped is not None:
                runner.stop_group(launched.pid, interrupt_timeout=5, term_timeout=5)
                continue
        time.sleep(poll_s)
    if stopped == EXPORT_CANCELLED:
        cleanup(plan)
        raise CancelledError(EXPORT_CANCELLED)
    return finish_export(
        manager,
        plan,
        exit_code=upd.exit_code,
        outcome=outcome,
        failure=stopped or failure,
        lines=lines,
    )


__all__ = [
    "ExportError",
    "ExportPlan",
    "check_model_output",
    "checkpoint_label",
    "choose_checkpoint",
    "diagnose_export",
    "explain_failure",
    "export_argv",
    "export_settings",
    "finish_export",
    "model_path",
    "plan_export",
    "run_export",
    "scan_checkpoints",
    "stage_checkpoint",
]
