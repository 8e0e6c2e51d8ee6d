"""`rave-gui export`: export a run's checkpoint to a TorchScript model (.ts); a run that trained
on a target is exported there and its model downloaded (backend/remote/export.py)."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from .common import open_manager, rave_executable, stop_started

if TYPE_CHECKING:
    from ..backend.manager import TrainingManager
    from ..backend.process.runner import Launched
    from .common import Subcommands


def cmd_export(args: argparse.Namespace, out: IO[str]) -> int:
    """Export a run's checkpoint to TorchScript: the Export page's path (pre-flight and staging,
    `rave export` followed, the model recorded with the run)."""
    from pathlib import Path

    from ..backend.jobs.export import cleanup, plan_export, run_export
    from ..backend.system.units import format_bytes

    tm = open_manager(args)
    which: str | int = "best"
    if args.step is not None:
        which = args.step
    elif args.checkpoint:
        which = str(Path(args.checkpoint).expanduser().resolve())
    from ..backend.runs.followers import is_remote

    if is_remote(tm, args.id):  # exported where it trained, the model copied here
        return _export_remote(tm, args, which, out)
    plan = plan_export(
        tm,
        args.id,
        which,
        streaming=args.streaming,
        output_dir=Path(args.output).expanduser().resolve() if args.output else None,
        name=args.name,
        rave_executable=rave_executable(args),
        fidelity=args.fidelity,
    )
    out.write(f"exporting {plan.checkpoint.path} to {plan.output_file}\n")
    out.flush()
    started: list[Launched] = []
    try:
        model_id = run_export(tm, plan, timeout=args.timeout, on_start=started.append)
    except KeyboardInterrupt:
        stop_started(started)
        cleanup(plan)
        sys.stderr.write("rave-gui: export cancelled\n")
        return 130
    model = next(m for m in tm.artifacts.exported_models(args.id) if m.id == model_id)
    out.write(f"exported model {model_id}: {model.path} ({format_bytes(model.size)})\n")
    return 0


def _export_remote(
    tm: TrainingManager, args: argparse.Namespace, which: str | int, out: IO[str]
) -> int:
    """`rave export` on the run's target, its output printed, the model downloaded."""
    from pathlib import Path

    from ..backend.remote.export import cleanup_remote, plan_remote_export, run_remote_export
    from ..backend.system.units import format_bytes

    plan = plan_remote_export(
        tm, args.id, which, streaming=args.streaming, name=args.name, fidelity=args.fidelity,
        output_dir=Path(args.output).expanduser().resolve() if args.output else None,
    )  # fmt: skip
    out.write(f"exporting {plan.remote_checkpoint} on {plan.target} to {plan.output_file}\n")
    out.flush()

    def show(lines: list[tuple[str, str]]) -> None:
        out.write("".join(f"  {text}\n" for text, _level in lines))
        out.flush()

    try:
        model_id = run_remote_export(tm, plan, timeout=args.timeout, on_lines=show)
    except KeyboardInterrupt:
        cleanup_remote(tm, plan)
        sys.stderr.write("rave-gui: export cancelled\n")
        return 130
    model = next(m for m in tm.artifacts.exported_models(args.id) if m.id == model_id)
    out.write(f"exported model {model_id}: {model.path} ({format_bytes(model.size)})\n")
    return 0


def add_parser(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `export` command."""
    p = sub.add_parser(
        "export", parents=parents, help="export a run's checkpoint to a TorchScript model (.ts)"
    )
    p.add_argument("id", type=int, help="experiment id")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--step", type=int, help="the checkpoint of this step (default: best)")
    which.add_argument("--checkpoint", metavar="PATH", help="this checkpoint file of the run")
    p.add_argument("--streaming", action="store_true", help="for real-time use (nn~, VST)")
    p.add_argument("-o", "--output", metavar="DIR", help="folder for the model")
    p.add_argument("--name", help="model name (default: from the run and checkpoint)")
    p.add_argument("--fidelity", type=float, help="latent fidelity, 0.1 to 0.999")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds (default: 900)")
    p.add_argument("--rave", help="path of the rave executable (a remote run: its target's)")
    p.set_defaults(func=cmd_export)
