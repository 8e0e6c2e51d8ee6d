"""The rave-gui command line: the same experiment store as the app, without a window."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import sys
from collections.abc import Sequence
from typing import IO, Any

from . import __version__
from .backend.errors import RaveGuiError
from .backend.status import RunStatus

COMMANDS = ("runs", "train", "projects", "datasets")


def _json_value(v: Any) -> Any:
    """JSON has no NaN or infinity: write them as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    return v


def _dump_json(obj: Any, out: IO[str]) -> None:
    json.dump(_json_value(obj), out, indent=2, allow_nan=False)
    out.write("\n")


def _fmt_time(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _fmt_num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.6g}"


def _manager(args: argparse.Namespace):
    from .backend.manager import TrainingManager
    from .backend.paths import resolve_db_path

    return TrainingManager(resolve_db_path(args.db))


def _experiment_public(exp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in exp.items() if k not in ("process_start_time",)}


def cmd_runs_list(args: argparse.Namespace, out: IO[str]) -> int:
    from .backend.manager import best_value

    tm = _manager(args)
    project_id = tm.find_project(args.project)["id"] if args.project else None
    exps = tm.list_experiments(project_id, status=args.status, search=args.search)
    if args.json:
        _dump_json([_experiment_public(e) for e in exps], out)
        return 0
    if not exps:
        out.write("No experiments.\n")
        return 0
    rows = [("ID", "NAME", "PROJECT", "STATUS", "STARTED", "STEP", "BEST VAL")]
    for e in exps:
        step = e["metrics"].get("step")
        rows.append(
            (
                str(e["id"]),
                e["name"],
                e["project_name"],
                e["status"],
                _fmt_time(e["started_at"]),
                "-" if step is None else str(step),
                _fmt_num(best_value(e["metrics"])),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return 0


def cmd_runs_show(args: argparse.Namespace, out: IO[str]) -> int:
    tm = _manager(args)
    exp = tm.get_experiment(args.id)
    stats = tm.metric_stats(args.id)
    checkpoints = tm.list_checkpoints(args.id)
    if args.json:
        data = _experiment_public(exp)
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
        data["checkpoints"] = checkpoints
        _dump_json(data, out)
        return 0
    fields = [
        ("id", exp["id"]),
        ("name", exp["name"]),
        ("project", exp["project_name"]),
        ("dataset", exp["dataset_name"] or exp["config"].get("dataset_path") or "-"),
        ("status", exp["status"]),
        ("created", _fmt_time(exp["created_at"])),
        ("started", _fmt_time(exp["started_at"])),
        ("ended", _fmt_time(exp["completed_at"])),
        ("step", exp["metrics"].get("step", "-")),
        ("run folder", exp["run_dir"] or "-"),
        ("log", exp["log_path"] or "-"),
        ("pid", exp["pid"] or "-"),
        ("exit code", "-" if exp["exit_code"] is None else exp["exit_code"]),
        ("error", exp["error"] or "-"),
        ("command", " ".join(exp["command"]) if exp["command"] else "-"),
    ]
    for k, v in fields:
        out.write(f"{k + ':':12} {v}\n")
    cfg = {k: v for k, v in exp["config"].items()}
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
                    _fmt_num(s.last_value),
                    _fmt_num(s.min_value),
                    _fmt_num(s.max_value),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            out.write("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            out.write("\n")
    else:
        out.write("metrics:    none recorded\n")
    if checkpoints:
        out.write("checkpoints:\n")
        for c in checkpoints:
            best = " (best)" if c["is_best"] else ""
            out.write(f"  {c['path']}  step {c['step']}  {c['size'] or 0} bytes{best}\n")
    return 0


def cmd_runs_export(args: argparse.Namespace, out: IO[str]) -> int:
    tm = _manager(args)
    exp = tm.get_experiment(args.id)
    points = tm.iter_metric_points(args.id)
    target: IO[str]
    if args.output:
        try:
            target = open(args.output, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as err:
            raise RaveGuiError(f"Cannot write {args.output}: {err.strerror}") from err
    else:
        target = out
    n = 0
    try:
        if args.format == "csv":
            w = csv.writer(target, lineterminator="\n")
            w.writerow(["metric", "step", "value", "wall_time"])
            for name, step, value, wall in points:
                w.writerow([name, step, repr(value), "" if wall is None else repr(wall)])
                n += 1
        else:
            series: dict[str, list] = {}
            for name, step, value, wall in points:
                series.setdefault(name, []).append([step, value, wall])
                n += 1
            _dump_json(
                {"experiment": {"id": exp["id"], "name": exp["name"]}, "series": series}, target
            )
    finally:
        if target is not out:
            target.close()
    if args.output:
        sys.stderr.write(f"Wrote {n} points to {args.output}\n")
    return 0


def _engine(args: argparse.Namespace):
    from .backend.engine import Engine
    from .backend.settings import load_settings

    settings = load_settings()
    if getattr(args, "rave", None):
        settings.rave_executable = args.rave
    if getattr(args, "max_concurrent", None):
        settings.max_concurrent_runs = args.max_concurrent
    return Engine(_manager(args), settings)


def _wait_for(engine, exp_id: int, out: IO[str]) -> int:
    """Follow a run in this process until it ends, printing progress; exit code 0 if it
    completed (or was stopped), 1 if it failed."""
    import time

    from .backend.follower import RunFollower

    follower = RunFollower(engine.manager, exp_id)
    last_print = 0.0
    try:
        while True:
            upd = follower.poll()
            for text, level in upd.lines:
                if level != "info":
                    sys.stderr.write(f"[{level}] {text}\n")
            now = time.monotonic()
            if upd.step is not None and now - last_print > 5:
                total = upd.max_steps or "?"
                out.write(f"step {upd.step}/{total}\n")
                out.flush()
                last_print = now
            if upd.finished:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        sys.stderr.write("Stopping the run (Ctrl-C again to leave it running)...\n")
        engine.stop(exp_id)
    exp = engine.manager.get_experiment(exp_id)
    out.write(f"experiment {exp_id} {exp['status']}")
    out.write(f": {exp['error']}\n" if exp["error"] else "\n")
    engine.schedule()
    return 1 if exp["status"] == RunStatus.FAILED else 0


def cmd_train(args: argparse.Namespace, out: IO[str]) -> int:
    engine = _engine(args)
    tm = engine.manager
    project_id = tm.find_project(args.project)["id"] if args.project else None
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
    }
    if args.out:
        config["out_path"] = str(args.out)
    if project_id is None:
        project_id = tm.default_project_id()
    registered = [d for d in tm.list_datasets(project_id)]
    from pathlib import Path

    wanted = str(Path(args.dataset).expanduser().resolve())
    match = [d for d in registered if d["path"] == wanted]
    if match:
        config["dataset_id"] = match[0]["id"]
    else:
        try:
            config["dataset_id"] = tm.register_dataset(project_id, wanted)
        except RaveGuiError:
            pass  # pre-flight reports the dataset problem with the other ones
    config["project_id"] = project_id
    exp_id = engine.submit(config)
    exp = tm.get_experiment(exp_id)
    out.write(
        f"experiment {exp_id} {exp['name']!r} {exp['status']} (run folder {exp['run_dir']})\n"
    )
    out.flush()
    if args.wait:
        return _wait_for(engine, exp_id, out)
    return 0


def cmd_runs_control(args: argparse.Namespace, out: IO[str]) -> int:
    engine = _engine(args)
    action = args.runs_command
    if action == "stop":
        status = engine.request_stop(args.id) if args.no_wait else engine.stop(args.id)
    elif action == "pause":
        engine.pause(args.id)
        status = RunStatus.PAUSED
    else:
        engine.resume(args.id)
        status = RunStatus.RUNNING
    out.write(f"experiment {args.id} {status}\n")
    return 0


def cmd_runs_resume_from(args: argparse.Namespace, out: IO[str]) -> int:
    engine = _engine(args)
    new_id = engine.resume_from_checkpoint(args.id, args.name)
    exp = engine.manager.get_experiment(new_id)
    out.write(f"experiment {new_id} {exp['name']!r} {exp['status']} (resumes {args.id})\n")
    if args.wait:
        return _wait_for(engine, new_id, out)
    return 0


def cmd_runs_import(args: argparse.Namespace, out: IO[str]) -> int:
    from .backend.engine import import_run

    tm = _manager(args)
    project_id = tm.find_project(args.project)["id"] if args.project else None
    exp_id = import_run(tm, args.folder, project_id=project_id, name=args.name)
    exp = tm.get_experiment(exp_id)
    n = sum(s.count for s in tm.metric_stats(exp_id))
    out.write(
        f"imported experiment {exp_id} {exp['name']!r}: {exp['status']}, {n} metric points, "
        f"{len(tm.list_checkpoints(exp_id))} checkpoints\n"
    )
    return 0


def cmd_projects_list(args: argparse.Namespace, out: IO[str]) -> int:
    tm = _manager(args)
    projects = tm.list_projects()
    if args.json:
        _dump_json(projects, out)
        return 0
    for p in projects:
        out.write(f"{p['id']}  {p['name']}  ({p['n_experiments']} experiments)\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rave-gui",
        description="Train, watch and compare RAVE models. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"rave-gui {__version__}")
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--db",
        metavar="PATH",
        help="experiment database (default: $RAVE_GUI_DB or the user data folder)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    runs = sub.add_parser("runs", help="list, show and export experiments")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    p = runs_sub.add_parser("list", parents=[db], help="list experiments")
    p.add_argument(
        "--status",
        action="append",
        help=f"only this status (repeatable): {', '.join(RunStatus)}",
    )
    p.add_argument("--project", help="only this project (name or id)")
    p.add_argument("--search", help="text to look for in name, dataset, config, error")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runs_list)
    p = runs_sub.add_parser("show", parents=[db], help="show one experiment and its metrics")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runs_show)
    p = runs_sub.add_parser("export", parents=[db], help="write every metric point")
    p.add_argument("id", type=int)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_runs_export)

    for action, text in (
        ("stop", "stop a run (graceful first)"),
        ("pause", "pause a run"),
        ("resume", "resume a paused run"),
    ):
        p = runs_sub.add_parser(action, parents=[db], help=text)
        p.add_argument("id", type=int)
        if action == "stop":
            p.add_argument(
                "--no-wait",
                action="store_true",
                help="only send the interrupt; do not wait for the end",
            )
        p.set_defaults(func=cmd_runs_control)
    p = runs_sub.add_parser(
        "resume-from",
        parents=[db],
        help="continue a stopped run from its last checkpoint as a new run",
    )
    p.add_argument("id", type=int)
    p.add_argument("--name", help="name of the new run (default: NAME-resume)")
    p.add_argument("--wait", action="store_true")
    p.set_defaults(func=cmd_runs_resume_from)
    p = runs_sub.add_parser(
        "import", parents=[db], help="adopt a RAVE run folder started elsewhere"
    )
    p.add_argument("folder", help="the NAME_HASH folder written by rave train")
    p.add_argument("--project", help="project name or id")
    p.add_argument("--name", help="experiment name (default: from the folder)")
    p.set_defaults(func=cmd_runs_import)

    p = sub.add_parser("train", parents=[db], help="start a RAVE training run")
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
    p.add_argument("--out", help="folder for run output (default: the settings' runs folder)")
    p.add_argument("--rave", help="path of the rave executable")
    p.add_argument("--wait", action="store_true", help="follow the run until it ends")
    p.set_defaults(func=cmd_train)

    projects = sub.add_parser("projects", help="list projects")
    projects_sub = projects.add_subparsers(dest="projects_command", metavar="ACTION", required=True)
    p = projects_sub.add_parser("list", parents=[db], help="list projects")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_projects_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args, sys.stdout) or 0)
    except RaveGuiError as err:
        sys.stderr.write(f"rave-gui: error: {err}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def wants_cli(argv: Sequence[str]) -> bool:
    """True when the arguments ask for a command-line action rather than the window."""
    return bool(argv) and (argv[0] in COMMANDS or argv[0] in ("--version", "-h", "--help"))
