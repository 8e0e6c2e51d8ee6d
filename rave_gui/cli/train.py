"""`rave-gui train`: start a RAVE training run (and with --wait, follow it to its end)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..backend.errors import RaveGuiError, ValidationError
from ..backend.rave.command import train_argv
from ..backend.rave.dataset import read_dataset
from ..backend.rave.estimate import estimate_run
from ..backend.rave.log_interval import default_log_every_for, log_every_env, log_every_note
from ..backend.rave.runfolder import folder_preview
from .common import open_engine, project_or_default
from .follow import print_started, wait_for

if TYPE_CHECKING:
    from ..backend.runs.engine import Engine
    from .common import Subcommands


def cmd_train(args: argparse.Namespace, out: IO[str]) -> int:
    engine = open_engine(args)
    tm = engine.manager
    project_id = project_or_default(tm, args.project)
    config = {
        "name": args.name,
        "project_id": project_id,
        "dataset_path": str(args.dataset),
        "configs": args.config or ["v2"],
        "overrides": args.override or [],
        "max_steps": args.max_steps,
        "val_every": args.val_every,
        "save_every": args.save_every,
        "batch": args.batch,
        "gpu": args.gpu,
        "workers": args.workers,
        "ema": args.ema,
        "log_every": default_log_every_for(str(args.dataset), args.max_steps, args.batch)
        if args.log_every is None
        else args.log_every,
    }
    if args.out:
        config["out_path"] = str(args.out)
    if args.target:  # the dataset is a path on the target, checked there
        if args.dry_run:
            raise ValidationError("--dry-run checks a run on this machine; leave out --target")
        exp_id = engine.submit({**config, "target": args.target})
        exp = tm.get_experiment(exp_id)
        print_started(exp, f"on {args.target}: {exp.config.get('remote_dir')}", out)
        return wait_for(engine, [exp_id], out) if args.wait else 0
    if args.dry_run:
        return dry_run(engine, config, out)
    wanted = str(Path(args.dataset).expanduser().resolve())
    match = [d for d in tm.datasets.all(project_id) if d.path == wanted]
    if match:
        config["dataset_id"] = match[0].id
    else:
        try:
            config["dataset_id"] = tm.datasets.register(project_id, wanted)
        except RaveGuiError:
            pass  # pre-flight reports the dataset problem with the other ones
    exp_id = engine.submit(config)
    exp = tm.get_experiment(exp_id)
    print_started(exp, f"run folder {exp.run_dir}", out)
    if args.wait:
        return wait_for(engine, [exp_id], out)
    return 0


def dry_run(engine: Engine, config: dict[str, Any], out: IO[str]) -> int:
    """Check the run as `train` would, then print its command line and estimates; nothing is
    recorded or started."""
    _stored, s = engine.prepare(config)
    s.out_path = folder_preview(s.out_path, s.name)
    launcher = engine.settings.use_launcher
    argv = train_argv(s, engine.install(), use_launcher=launcher)
    env = log_every_env(s.log_every) if launcher else {}
    n_examples = read_dataset(s.dataset_path).n_examples
    est = estimate_run(engine.manager, s, n_examples)
    print("dry run: nothing recorded or started", file=out)
    print(" ".join([*(f"{k}={v}" for k, v in env.items()), shlex.join(argv)]), file=out)
    if s.log_every and launcher:
        print(f"logging: {log_every_note(s.log_every, s.max_steps)}", file=out)
    print(f"duration: {est.duration_text}", file=out)
    print(f"disk: {est.disk_text}", file=out)
    return 0


def add_parser(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `train` command."""
    p = sub.add_parser("train", parents=parents, help="start a RAVE training run")
    p.add_argument("--dataset", required=True, help="preprocessed dataset folder")
    p.add_argument("--config", action="append", help="RAVE config or modifier (repeatable)")
    p.add_argument("--override", action="append", help="gin binding (repeatable)")
    p.add_argument("--name", required=True)
    p.add_argument("--project", help="project name or id (default: the first project)")
    p.add_argument("--max-steps", type=int, default=500_000)
    p.add_argument("--val-every", type=int, default=10_000)
    p.add_argument("--save-every", type=int)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--gpu", type=int, default=-1, help="GPU index, -1 for CPU")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--ema", type=float)
    p.add_argument(
        "--log-every",
        type=int,
        metavar="N",
        help="log the training losses every N steps (default: at most RAVE's 50, fewer for a "
        "short run; needs the launcher)",
    )
    p.add_argument("--out", help="folder for run output (default: the settings' runs folder)")
    p.add_argument("--rave", help="path of the rave executable")
    p.add_argument("--wait", action="store_true", help="follow the run until it ends")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the run and print its command line and estimates; start nothing",
    )
    p.add_argument(
        "--target", help="run on this target (rave-gui targets): --dataset is a path there"
    )
    p.set_defaults(func=cmd_train)
