"""`rave-gui runs ...`: list, show, export, stop, pause, resume, checkpoint, follow, resume-from,
import."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..backend.rave.fidelity import fidelity_fact
from ..backend.remote.mirror import remote_only_checkpoints
from ..backend.remote.states import engine_json, remote_fields, status_text
from ..backend.runs.detail import diagnosis, run_detail
from ..backend.runs.metrics_export import export_to_file, write_points
from ..backend.runs.outcome import exit_code_text
from ..backend.status import FINAL, RunStatus
from ..backend.store.targets import TargetStore, engine_label
from ..backend.system.units import format_bytes, format_datetime, format_value
from . import audio, compare, history
from .common import (
    caught_up,
    dump_json,
    open_engine,
    open_manager,
    project_filter,
    run_id,
    table,
)
from .follow import print_started, wait_for

if TYPE_CHECKING:
    from ..backend.manager import TrainingManager
    from .common import Subcommands


ALERT_FIELDS = ("kind", "severity", "step", "message", "advice")


def _alerts_public(tm: TrainingManager, experiment_id: int) -> list[dict[str, Any]]:
    """A run's alerts, oldest first: kind, severity, step, message, advice."""
    return [{k: getattr(a, k) for k in ALERT_FIELDS} for a in tm.alerts.for_run(experiment_id)]


def cmd_runs_alerts(args: argparse.Namespace, out: IO[str]) -> int:
    tm = caught_up(args, [args.id])
    tm.get_experiment(args.id)  # an unknown id is an error, not an empty list
    alerts = _alerts_public(tm, args.id)
    if args.json:
        dump_json(alerts, out)
        return 0
    if not alerts:
        out.write("No alerts.\n")
        return 0
    for a in alerts:
        step = "-" if a["step"] is None else a["step"]
        out.write(f"step {step}  {a['severity']:7}  {a['kind']}: {a['message']}\n")
        if a["advice"]:
            out.write(f"    what to do: {a['advice']}\n")
    return 0


def cmd_runs_show(args: argparse.Namespace, out: IO[str]) -> int:
    tm = caught_up(args, [args.id])
    exp = tm.get_experiment(args.id)
    stats = tm.metrics.stats(args.id)
    checkpoints = tm.artifacts.checkpoints(args.id)
    remote = TargetStore(tm.db).run(args.id)
    if args.json:
        data = exp.to_json()
        data["series"] = [
            {
                "name": s.name,
                "points": s.count,
                "first_step": s.first_step,
                "last_step": s.last_step,
                "last": s.last_value,
                "min": s.min_value,
                "max": s.max_value,
            }
            for s in stats
        ]
        data["checkpoints"] = [c.to_json() for c in checkpoints]
        data["alerts"] = _alerts_public(tm, args.id)
        data["diagnosis"] = diagnosis(exp)
        data["notes"] = exp.notes
        data["tags"] = tm.history.tags(args.id)
        data["archived"] = exp.archived
        data["detail"] = run_detail(tm, args.id).to_json()
        if remote is not None:
            data["engine"] = engine_json(remote, exp.status)
            left = remote_only_checkpoints(Path(exp.run_dir)) if exp.run_dir else []
            data["remote_checkpoints"] = [{"path": r, "size": n} for r, n in left]
        dump_json(data, out)
        return 0
    fields = [
        ("id", exp.id),
        ("name", exp.name),
        ("project", exp.project_name),
        ("dataset", exp.dataset_name or exp.config.get("dataset_path") or "-"),
        ("status", status_text(exp.status, engine_label(remote, exp.status))),
        *remote_fields(remote),
        ("created", format_datetime(exp.created_at, missing="-")),
        ("started", format_datetime(exp.started_at, missing="-")),
        ("ended", format_datetime(exp.completed_at, missing="-")),
        ("step", exp.summary.get("step", "-")),
        ("fidelity", fidelity_fact(exp.summary) or "-"),
        ("run folder", exp.run_dir or "-"),
        ("log", exp.log_path or "-"),
        ("pid", exp.pid or "-"),
        ("exit code", exit_code_text(exp.exit_code, exp.status)),
        ("error", exp.error or "-"),
        ("tags", ", ".join(tm.history.tags(args.id)) or "-"),
        ("archived", "yes" if exp.archived else "no"),
        ("command", " ".join(exp.command) if exp.command else "-"),
    ]
    left = remote_only_checkpoints(Path(exp.run_dir)) if remote and exp.run_dir else []
    if left:
        size = format_bytes(sum(n for _r, n in left))
        names = ", ".join(Path(r).name for r, _n in left)
        fields.append(("on target", f"{len(left)} checkpoint(s) not copied ({size}): {names}"))
    alerts = _alerts_public(tm, args.id)
    if alerts:
        last = alerts[-1]
        fields.append(("alerts", f"{len(alerts)}, latest: {last['kind']}: {last['message']}"))
    found = diagnosis(exp)
    if found:
        fields.append(("diagnosis", f"{found['title']}. {found['advice']}"))
    for k, v in fields:
        out.write(f"{k + ':':12} {v}\n")
    if exp.notes:
        out.write("notes:\n" + "".join(f"  {line}\n" for line in exp.notes.splitlines()))
    cfg = exp.config
    if cfg:
        out.write("config:\n")
        for k in sorted(cfg):
            out.write(f"  {k} = {json.dumps(cfg[k])}\n")
    if stats:
        out.write("metrics:\n")
        rows = [("NAME", "POINTS", "FIRST", "LAST", "LAST VALUE", "MIN", "MAX")]
        for s in stats:
            rows.append(
                (
                    s.name,
                    str(s.count),
                    str(s.first_step),
                    str(s.last_step),
                    format_value(s.last_value, missing="-"),
                    format_value(s.min_value, missing="-"),
                    format_value(s.max_value, missing="-"),
                )
            )
        table(rows, out, indent="  ")
    else:
        out.write("metrics:    none recorded\n")
    if checkpoints:
        out.write("checkpoints:\n")
        for c in checkpoints:
            best = " (best)" if c.is_best else ""
            out.write(f"  {c.path}  step {c.step}  {c.size or 0} bytes{best}\n")
    return 0


def cmd_runs_export(args: argparse.Namespace, out: IO[str]) -> int:
    tm = caught_up(args, [args.id])
    exp = tm.get_experiment(args.id)
    points = tm.metrics.iter_points(args.id)
    if not args.output:
        write_points(args.format, exp, points, out)
        return 0
    n = export_to_file(args.format, exp, points, args.output)
    sys.stderr.write(f"Wrote {n} points to {args.output}\n")
    return 0


def cmd_runs_follow(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.status import LIVE

    tm = open_manager(args)
    if args.id is not None:
        tm.get_experiment(args.id)  # an unknown id is an error
    elif not tm.experiments.count(list(LIVE)):
        out.write("No live runs.\n")
        return 0
    ids = None if args.id is None else [args.id]
    return wait_for(open_engine(args, tm), ids, out, stop_on_interrupt=False)


def cmd_runs_finish(args: argparse.Namespace, out: IO[str]) -> int:
    """The on-exit hook of a run (started by its supervisor, output in supervisor.err)."""
    engine = open_engine(args)
    status, started = engine.finish_and_schedule(args.id)
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    out.write(f"[rave-gui] {now} experiment {args.id} {status}")
    out.write(f"; started {', '.join(map(str, started))}\n" if started else "\n")
    return 0


def cmd_runs_control(args: argparse.Namespace, out: IO[str]) -> int:
    engine = open_engine(args, caught_up(args, [args.id]))
    action = args.runs_command
    if action == "stop":
        ended = engine.manager.get_experiment(args.id).status
        if ended in FINAL:  # it ended before the stop: say how
            status = ended
        else:
            status = engine.request_stop(args.id) if args.no_wait else engine.stop(args.id)
    elif action == "pause":
        engine.pause(args.id)
        status = RunStatus.PAUSED
    else:
        engine.resume(args.id)
        status = RunStatus.RUNNING
    out.write(f"experiment {args.id} {status}\n")
    return 0


def cmd_runs_checkpoint(args: argparse.Namespace, out: IO[str]) -> int:
    engine = open_engine(args, caught_up(args, [args.id]))
    engine.save_checkpoint_now(args.id)
    out.write(
        f"experiment {args.id}: a checkpoint will be saved at the next training step "
        "(it appears in the run's checkpoint list)\n"
    )
    return 0


def cmd_runs_resume_from(args: argparse.Namespace, out: IO[str]) -> int:
    engine = open_engine(args, caught_up(args, [args.id]))
    new_id = engine.resume_from_checkpoint(
        args.id,
        args.name,
        dataset=args.dataset,
        checkpoint=args.checkpoint,
        max_steps=args.max_steps,
    )
    print_started(engine.manager.get_experiment(new_id), f"resumes {args.id}", out)
    if args.wait:
        return wait_for(engine, [new_id], out)
    return 0


def cmd_runs_import(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.runs.engine import import_run

    tm = open_manager(args)
    project_id = project_filter(tm, args.project)
    exp_id = import_run(tm, args.folder, project_id=project_id, name=args.name)
    exp = tm.get_experiment(exp_id)
    n = sum(s.count for s in tm.metrics.stats(exp_id))
    out.write(
        f"imported experiment {exp_id} {exp.name!r}: {exp.status}, {n} metric points, "
        f"{len(tm.artifacts.checkpoints(exp_id))} checkpoints\n"
    )
    return 0


def add_parser(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `runs` command and its actions."""
    runs = sub.add_parser("runs", help="list, show and export experiments")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    p = runs_sub.add_parser("list", parents=parents, help="list experiments")
    p.add_argument(
        "--status",
        action="append",
        help=f"only this status (repeatable): {', '.join(RunStatus)}",
    )
    p.add_argument("--project", help="only this project (name or id)")
    p.add_argument("--search", help="words to look for in name, notes, tags, dataset, settings")
    history.add_list_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=history.cmd_runs_list)
    p = runs_sub.add_parser("show", parents=parents, help="show one experiment and its metrics")
    p.add_argument("id", type=run_id)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runs_show)
    p = runs_sub.add_parser(
        "alerts", parents=parents, help="what the health checks found in a run, and what to do"
    )
    p.add_argument("id", type=run_id)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runs_alerts)
    p = runs_sub.add_parser("export", parents=parents, help="write every metric point")
    p.add_argument("id", type=run_id)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_runs_export)

    for action, text in (
        ("stop", "stop a run (graceful first)"),
        ("pause", "pause a run"),
        ("resume", "resume a paused run"),
    ):
        p = runs_sub.add_parser(action, parents=parents, help=text)
        p.add_argument("id", type=run_id)
        if action == "stop":
            p.add_argument(
                "--no-wait",
                action="store_true",
                help="only send the interrupt; do not wait for the end",
            )
        p.set_defaults(func=cmd_runs_control)
    p = runs_sub.add_parser(
        "checkpoint", parents=parents, help="make a running run save a checkpoint now"
    )
    p.add_argument("id", type=run_id)
    p.set_defaults(func=cmd_runs_checkpoint)
    p = runs_sub.add_parser(
        "follow",
        parents=parents,
        help="follow a run (without ID: every live run) until it ends; Ctrl-C leaves it running",
    )
    p.add_argument("id", type=int, nargs="?")
    p.set_defaults(func=cmd_runs_follow)
    # Internal: the on-exit hook a run's supervisor starts (not listed in the help).
    p = runs_sub.add_parser("finish", parents=parents)
    p.add_argument("id", type=int)
    p.add_argument("--settings", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_runs_finish)
    p = runs_sub.add_parser(
        "resume-from",
        parents=parents,
        help="continue a stopped run from its last checkpoint as a new run",
    )
    p.add_argument("id", type=run_id)
    p.add_argument("--name", help="name of the new run (default: NAME-resume)")
    p.add_argument(
        "--dataset",
        metavar="FOLDER",
        help="preprocessed dataset to continue with (default: the run's own; needed for an "
        "imported run)",
    )
    p.add_argument("--checkpoint", help="the checkpoint file to continue from (default: latest)")
    p.add_argument(
        "--max-steps", type=int, help="train up to this step (more than the checkpoint's)"
    )
    p.add_argument("--wait", action="store_true")
    p.set_defaults(func=cmd_runs_resume_from)
    p = runs_sub.add_parser(
        "import", parents=parents, help="adopt a RAVE run folder started elsewhere"
    )
    p.add_argument("folder", help="the NAME_HASH folder written by rave train")
    p.add_argument("--project", help="project name or id")
    p.add_argument("--name", help="experiment name (default: from the folder)")
    p.set_defaults(func=cmd_runs_import)
    audio.add_parser(runs_sub, parents)
    history.add_parser(runs_sub, parents)
    compare.add_parser(runs_sub, parents)
