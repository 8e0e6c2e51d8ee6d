"""The rave-gui command line: the same experiment store as the app, without a window."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from . import __version__
from .backend.errors import RaveGuiError
from .backend.status import FINAL, RunStatus
from .backend.system.units import format_datetime, format_duration, format_value

COMMANDS = ("runs", "train", "projects", "datasets", "export")
OPTIONS = ("--version", "-h", "--help", "--install-desktop-entry", "--uninstall-desktop-entry")
FOLLOW_INTERVAL_S = 0.25  # between two polls of a followed run (the app's interval)
PROGRESS_EVERY_S = 2.0  # a followed run's progress line at most this often


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


def run_id(text: str) -> int:
    """An experiment id argument: a whole number SQLite can hold (argparse reports the rest)."""
    from .backend.store.db import SQLITE_MAX_INT

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a run id (a whole number)") from None
    if not 1 <= value <= SQLITE_MAX_INT:
        raise argparse.ArgumentTypeError(
            f"{text} is not a run id: ids are whole numbers from 1 to {SQLITE_MAX_INT}"
        )
    return value


def _manager(args: argparse.Namespace):
    from .backend.manager import TrainingManager
    from .backend.system.paths import resolve_db_path

    return TrainingManager(resolve_db_path(args.db))


def _catch_up(args: argparse.Namespace, ids: list[int] | None = None):
    """The store, with the live runs it is asked about (all without ``ids``) brought up to
    date first: what they wrote since they were last followed, the end of those that ended.
    When a run's end had to be recorded here (its supervisor could not), queued runs start."""
    from .backend.runs.reconcile import catch_up

    tm = _manager(args)
    if catch_up(tm, ids):
        _engine(args, tm).schedule()
    return tm


def _experiment_public(exp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in exp.items() if k not in ("process_start_time",)}


def cmd_runs_list(args: argparse.Namespace, out: IO[str]) -> int:
    from .backend.manager import best_value

    tm = _catch_up(args)
    project_id = tm.projects.find(args.project)["id"] if args.project else None
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
                format_datetime(e["started_at"], missing="-"),
                "-" if step is None else str(step),
                format_value(best_value(e["metrics"]), missing="-"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return 0


def cmd_runs_show(args: argparse.Namespace, out: IO[str]) -> int:
    tm = _catch_up(args, [args.id])
    exp = tm.get_experiment(args.id)
    stats = tm.metrics.stats(args.id)
    checkpoints = tm.artifacts.checkpoints(args.id)
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
        ("created", format_datetime(exp["created_at"], missing="-")),
        ("started", format_datetime(exp["started_at"], missing="-")),
        ("ended", format_datetime(exp["completed_at"], missing="-")),
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
                    format_value(s.last_value, missing="-"),
                    format_value(s.min_value, missing="-"),
                    format_value(s.max_value, missing="-"),
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


def _write_points(args: argparse.Namespace, exp: dict[str, Any], points, target: IO[str]) -> int:
    n = 0
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
        _dump_json({"experiment": {"id": exp["id"], "name": exp["name"]}, "series": series}, target)
    return n


def _export_to_file(args: argparse.Namespace, exp: dict[str, Any], points) -> int:
    """Write the points to ``args.output``: a regular file through a temporary file beside it,
    renamed only once complete (a failure leaves no partial file and an older file intact); a
    device, pipe or link (/dev/full, /dev/stdout) directly."""
    import os
    import tempfile

    target = Path(args.output).expanduser()
    if target.is_dir():
        raise RaveGuiError(f"Cannot write {args.output}: it is a folder; give a file name.")
    tmp: Path | None = None
    try:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            with open(target, "w", newline="", encoding="utf-8") as f:
                return _write_points(args, exp, points, f)
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            n = _write_points(args, exp, points, f)
        tmp.chmod(mode)
        os.replace(tmp, target)
        tmp = None
        return n
    except OSError as err:
        raise RaveGuiError(f"Cannot write {args.output}: {err.strerror or err}") from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def cmd_runs_export(args: argparse.Namespace, out: IO[str]) -> int:
    tm = _catch_up(args, [args.id])
    exp = tm.get_experiment(args.id)
    points = tm.metrics.iter_points(args.id)
    if not args.output:
        _write_points(args, exp, points, out)
        return 0
    n = _export_to_file(args, exp, points)
    sys.stderr.write(f"Wrote {n} points to {args.output}\n")
    return 0


def _engine(args: argparse.Namespace, manager=None):
    from .backend.errors import ValidationError
    from .backend.runs.engine import Engine
    from .backend.system.settings import read_settings, with_overrides

    if getattr(args, "settings", None):  # a run's on-exit hook: its engine's settings
        try:
            settings = with_overrides(json.loads(args.settings))
        except (ValueError, AttributeError, TypeError) as err:
            raise ValidationError(f"--settings is not a JSON object of settings: {err}") from err
    else:
        settings, warnings = read_settings()
        for warning in warnings:
            sys.stderr.write(f"rave-gui: warning: {warning}\n")
    if getattr(args, "rave", None):
        settings.rave_executable = args.rave
    if getattr(args, "max_concurrent", None):
        settings.max_concurrent_runs = args.max_concurrent
    return Engine(manager or _manager(args), settings)


def _progress_line(upd) -> str:
    text = f"step {upd.step}/{upd.max_steps or '?'}"
    if upd.rate:
        text += f"  {upd.rate:.3g} steps/s"
        if upd.max_steps and upd.step is not None and upd.max_steps > upd.step:
            text += f"  ETA {format_duration((upd.max_steps - upd.step) / upd.rate)}"
    return text


def _print_outcome(tm, exp_id: int, out: IO[str]) -> bool:
    """Print how a run ended; True if it failed."""
    exp = tm.get_experiment(exp_id)
    out.write(f"experiment {exp_id} {exp['status']}")
    out.write(f": {exp['error']}\n" if exp["error"] else "\n")
    out.flush()
    return exp["status"] == RunStatus.FAILED


def _wait_for(
    engine, exp_ids: list[int] | None, out: IO[str], *, stop_on_interrupt: bool = True
) -> int:
    """Follow runs in this process until they end, like the app does: progress (step, rate,
    ETA), warnings and errors (on stderr), then each outcome. ``exp_ids`` None: every live run
    and those that start meanwhile. A queued run is followed once it started. Ctrl-C stops the
    runs when ``stop_on_interrupt`` (`train --wait`), else it only stops following them.
    Exit code 0 if every run completed (or was stopped), 1 if one failed."""
    import time

    from .backend.manager import LIVE_STATUSES, QUEUED
    from .backend.runs.follower import RunFollower

    tm = engine.manager
    every = exp_ids is None
    pending = list(exp_ids or [])  # not followed yet
    followers: dict[int, RunFollower] = {}
    last_print: dict[int, float] = {}
    failed = False
    last_scan = -math.inf
    try:
        while True:
            now = time.monotonic()
            if every and now - last_scan >= PROGRESS_EVERY_S:
                last_scan = now
                for e in tm.list_experiments(status=list(LIVE_STATUSES)):
                    if e["id"] not in followers and e["id"] not in last_print:
                        pending.append(e["id"])
            for exp_id in list(pending):
                if tm.get_experiment(exp_id)["status"] != QUEUED:
                    pending.remove(exp_id)
                    followers[exp_id] = RunFollower(tm, exp_id)
                    last_print[exp_id] = -math.inf
            prefix = "[{}] " if every or len(followers) + len(pending) > 1 else ""
            for exp_id, follower in list(followers.items()):
                upd = follower.poll()
                tag = prefix.format(exp_id)
                for text, level in upd.lines:
                    if level != "info":
                        sys.stderr.write(f"{tag}[{level}] {text}\n")
                now = time.monotonic()
                due = now - last_print[exp_id] >= PROGRESS_EVERY_S or upd.finished
                if upd.step is not None and due:
                    out.write(f"{tag}{_progress_line(upd)}\n")
                    out.flush()
                    last_print[exp_id] = now
                if upd.finished:
                    del followers[exp_id]
                    failed |= _print_outcome(tm, exp_id, out)
                    engine.schedule()  # its on-exit hook does it too; whoever comes first
                    last_scan = -math.inf
            nothing_left = not every or not tm.experiments.count(list(LIVE_STATUSES))
            if not followers and not pending and nothing_left:
                break
            time.sleep(FOLLOW_INTERVAL_S)
    except KeyboardInterrupt:
        ids = list(followers) + pending
        if not stop_on_interrupt:
            sys.stderr.write("Stopped following; the run goes on.\n")
            return 0
        sys.stderr.write("Stopping the run (Ctrl-C again to leave it running)...\n")
        for exp_id in ids:
            engine.stop(exp_id)
            failed |= _print_outcome(tm, exp_id, out)
        engine.schedule()
    return 1 if failed else 0


def cmd_train(args: argparse.Namespace, out: IO[str]) -> int:
    engine = _engine(args)
    tm = engine.manager
    project_id = tm.projects.find(args.project)["id"] if args.project else None
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
        project_id = tm.projects.default_id()
    registered = [d for d in tm.datasets.all(project_id)]
    from pathlib import Path

    wanted = str(Path(args.dataset).expanduser().resolve())
    match = [d for d in registered if d["path"] == wanted]
    if match:
        config["dataset_id"] = match[0]["id"]
    else:
        try:
            config["dataset_id"] = tm.datasets.register(project_id, wanted)
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
        return _wait_for(engine, [exp_id], out)
    return 0


def cmd_runs_follow(args: argparse.Namespace, out: IO[str]) -> int:
    from .backend.manager import LIVE_STATUSES

    tm = _manager(args)
    if args.id is not None:
        tm.get_experiment(args.id)  # an unknown id is an error
    elif not tm.experiments.count(list(LIVE_STATUSES)):
        out.write("No live runs.\n")
        return 0
    ids = None if args.id is None else [args.id]
    return _wait_for(_engine(args, tm), ids, out, stop_on_interrupt=False)


def cmd_runs_finish(args: argparse.Namespace, out: IO[str]) -> int:
    """The on-exit hook of a run (started by its supervisor, output in supervisor.err)."""
    engine = _engine(args)
    status, started = engine.finish_and_schedule(args.id)
    out.write(f"[rave-gui] {_fmt_time_now()} experiment {args.id} {status}")
    out.write(f"; started {', '.join(map(str, started))}\n" if started else "\n")
    return 0


def _fmt_time_now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def cmd_runs_control(args: argparse.Namespace, out: IO[str]) -> int:
    engine = _engine(args, _catch_up(args, [args.id]))
    action = args.runs_command
    if action == "stop":
        ended = engine.manager.get_experiment(args.id)["status"]
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


def cmd_runs_resume_from(args: argparse.Namespace, out: IO[str]) -> int:
    engine = _engine(args, _catch_up(args, [args.id]))
    new_id = engine.resume_from_checkpoint(args.id, args.name, dataset=args.dataset)
    exp = engine.manager.get_experiment(new_id)
    out.write(f"experiment {new_id} {exp['name']!r} {exp['status']} (resumes {args.id})\n")
    if args.wait:
        return _wait_for(engine, [new_id], out)
    return 0


def cmd_runs_import(args: argparse.Namespace, out: IO[str]) -> int:
    from .backend.runs.engine import import_run

    tm = _manager(args)
    project_id = tm.projects.find(args.project)["id"] if args.project else None
    exp_id = import_run(tm, args.folder, project_id=project_id, name=args.name)
    exp = tm.get_experiment(exp_id)
    n = sum(s.count for s in tm.metrics.stats(exp_id))
    out.write(
        f"imported experiment {exp_id} {exp['name']!r}: {exp['status']}, {n} metric points, "
        f"{len(tm.artifacts.checkpoints(exp_id))} checkpoints\n"
    )
    return 0


def cmd_projects_list(args: argparse.Namespace, out: IO[str]) -> int:
    tm = _manager(args)
    projects = tm.projects.all()
    if args.json:
        _dump_json(projects, out)
        return 0
    for p in projects:
        out.write(f"{p['id']}  {p['name']}  ({p['n_experiments']} experiments)\n")
    return 0


def cmd_install_desktop_entry(args: argparse.Namespace, out: IO[str]) -> int:
    from .backend.system.desktop import install_desktop_entry

    written = install_desktop_entry()
    out.write(f"rave-gui is in the application launcher: {written[-1]}\n")
    for path in written[:-1]:
        out.write(f"  icon: {path}\n")
    return 0


def cmd_uninstall_desktop_entry(args: argparse.Namespace, out: IO[str]) -> int:
    from .backend.system.desktop import entry_path, uninstall_desktop_entry

    removed = uninstall_desktop_entry()
    if not removed:
        out.write(f"No rave-gui desktop entry to remove ({entry_path()} does not exist).\n")
    for path in removed:
        out.write(f"removed {path}\n")
    return 0


def _project_id(tm, project: str | None) -> int:
    return tm.projects.find(project)["id"] if project else tm.projects.default_id()


def _rave(args: argparse.Namespace) -> str:
    from .backend.system.settings import load_settings

    return args.rave or load_settings().resolved_rave()


def _table(rows: list[tuple[str, ...]], out: IO[str]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def cmd_datasets_list(args: argparse.Namespace, out: IO[str]) -> int:
    from .backend.system.units import format_duration

    tm = _manager(args)
    project_id = tm.projects.find(args.project)["id"] if args.project else None
    datasets = tm.datasets.all(project_id)
    if args.json:
        _dump_json(datasets, out)
        return 0
    if not datasets:
        out.write("No datasets.\n")
        return 0
    projects = {p["id"]: p["name"] for p in tm.projects.all()}
    rows = [("ID", "NAME", "PROJECT", "RATE", "CH", "LENGTH", "EXAMPLES", "PATH")]
    for d in datasets:
        rows.append(
            (
                str(d["id"]),
                d["name"],
                projects.get(d["project_id"], "?"),
                "-" if d["sample_rate"] is None else str(d["sample_rate"]),
                "-" if d["channels"] is None else str(d["channels"]),
                "-" if d["duration_s"] is None else format_duration(d["duration_s"]),
                "-" if d["n_examples"] is None else str(d["n_examples"]),
                d["path"],
            )
        )
    _table(rows, out)
    return 0


def _dataset_line(tm, dataset_id: int) -> str:
    from .backend.system.units import format_duration

    d = tm.datasets.get(dataset_id)
    length = "-" if d["duration_s"] is None else format_duration(d["duration_s"])
    examples = "?" if d["n_examples"] is None else f"{d['n_examples']:,}"
    return f"dataset {d['id']} {d['name']!r}: {examples} examples, {length} ({d['path']})\n"


def cmd_datasets_add(args: argparse.Namespace, out: IO[str]) -> int:
    tm = _manager(args)
    dataset_id = tm.datasets.register(_project_id(tm, args.project), args.folder, args.name)
    out.write("registered " + _dataset_line(tm, dataset_id))
    return 0


def cmd_datasets_create(args: argparse.Namespace, out: IO[str]) -> int:
    """Preprocess audio folders into a dataset and register it: the New dataset dialog's path
    (pre-flight, `rave preprocess` followed with its progress, the dataset checked and
    registered; what a failed run wrote is removed)."""
    import time
    from pathlib import Path

    from .backend.errors import ValidationError
    from .backend.jobs.preprocess import (
        PreprocessMonitor,
        PreprocessRequest,
        discard_output,
        launch_command,
        make_dataset,
        preflight,
        preprocess_argv,
        scan_audio,
    )
    from .backend.manager import check_name
    from .backend.process import runner

    tm = _manager(args)
    project_id = _project_id(tm, args.project)
    output = Path(args.output).expanduser().resolve()
    name = check_name(args.name if args.name is not None else output.name, "dataset")
    if any(d["name"] == name for d in tm.datasets.all(project_id)):
        raise ValidationError(
            f"This project already has a dataset named {name!r}: give another with --name."
        )
    request = PreprocessRequest(
        input_paths=[str(Path(a).expanduser().resolve()) for a in args.audio],
        output_path=str(output),
        channels=args.channels,
        sample_rate=args.sr,
        lazy=args.lazy,
        num_signal=args.num_signal,
    )
    scan = scan_audio(request.input_paths)
    report = preflight(request, scan)
    for warning in report.warnings:
        sys.stderr.write(f"rave-gui: warning: {warning}\n")
    report.raise_for_problems()
    out.write(f"{scan.summary()}: {report.expected_chunks:,} chunks expected\n")
    command = launch_command(preprocess_argv(_rave(args), request))
    started: list[runner.Launched] = []
    last = [0.0, ""]

    def progress(monitor: PreprocessMonitor) -> None:
        text = monitor.text()
        now = time.monotonic()
        if text != last[1] and now - last[0] >= args.progress_every:
            pct = monitor.percent()
            out.write(f"{text}{f' ({pct}%)' if pct >= 0 else ''}\n")
            out.flush()
            last[:] = [now, text]

    try:
        run = make_dataset(
            tm,
            project_id,
            command,
            request,
            name=name,
            monitor=PreprocessMonitor.for_request(request, scan),
            timeout=args.timeout,
            on_start=started.append,
            on_progress=progress,
        )
    except KeyboardInterrupt:
        if started:
            runner.stop_group(started[0].pid, interrupt_timeout=3, term_timeout=3)
        discard_output(request.output_path)
        sys.stderr.write("rave-gui: cancelled: nothing was registered\n")
        return 130
    if not run.ok:
        if run.info is not None and run.dataset_id is None:
            raise RaveGuiError(
                f"{run.message} Register it with `rave-gui datasets add {run.info.path}`."
            )
        raise RaveGuiError(f"{run.message} (log: {run.log_path})")
    assert run.dataset_id is not None
    out.write("registered " + _dataset_line(tm, run.dataset_id))
    return 0


def cmd_export(args: argparse.Namespace, out: IO[str]) -> int:
    """Export a run's checkpoint to TorchScript: the Export page's path (pre-flight and staging,
    `rave export` followed, the model recorded with the run)."""
    from pathlib import Path

    from .backend.jobs.export import cleanup, plan_export, run_export
    from .backend.process import runner
    from .backend.system.units import format_bytes

    tm = _manager(args)
    which: str | int = "best"
    if args.step is not None:
        which = args.step
    elif args.checkpoint:
        which = str(Path(args.checkpoint).expanduser().resolve())
    plan = plan_export(
        tm,
        args.id,
        which,
        streaming=args.streaming,
        output_dir=Path(args.output).expanduser().resolve() if args.output else None,
        name=args.name,
        rave_executable=_rave(args),
        fidelity=args.fidelity,
    )
    out.write(f"exporting {plan.checkpoint['path']} to {plan.output_file}\n")
    out.flush()
    started: list[runner.Launched] = []
    try:
        model_id = run_export(tm, plan, timeout=args.timeout, on_start=started.append)
    except KeyboardInterrupt:
        if started:
            runner.stop_group(started[0].pid, interrupt_timeout=3, term_timeout=3)
        cleanup(plan)
        sys.stderr.write("rave-gui: export cancelled\n")
        return 130
    model = next(m for m in tm.artifacts.exported_models(args.id) if m["id"] == model_id)
    out.write(f"exported model {model_id}: {model['path']} ({format_bytes(model['size'])})\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rave-gui",
        description="Train, watch and compare RAVE models. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"rave-gui {__version__}")
    desktop = parser.add_mutually_exclusive_group()
    desktop.add_argument(
        "--install-desktop-entry",
        dest="func",
        action="store_const",
        const=cmd_install_desktop_entry,
        help="add rave-gui to this user's application launcher ($XDG_DATA_HOME) and exit",
    )
    desktop.add_argument(
        "--uninstall-desktop-entry",
        dest="func",
        action="store_const",
        const=cmd_uninstall_desktop_entry,
        help="remove what --install-desktop-entry added and exit",
    )
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
    p.add_argument("id", type=run_id)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runs_show)
    p = runs_sub.add_parser("export", parents=[db], help="write every metric point")
    p.add_argument("id", type=run_id)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_runs_export)

    for action, text in (
        ("stop", "stop a run (graceful first)"),
        ("pause", "pause a run"),
        ("resume", "resume a paused run"),
    ):
        p = runs_sub.add_parser(action, parents=[db], help=text)
        p.add_argument("id", type=run_id)
        if action == "stop":
            p.add_argument(
                "--no-wait",
                action="store_true",
                help="only send the interrupt; do not wait for the end",
            )
        p.set_defaults(func=cmd_runs_control)
    p = runs_sub.add_parser(
        "follow",
        parents=[db],
        help="follow a run (without ID: every live run) until it ends; Ctrl-C leaves it running",
    )
    p.add_argument("id", type=int, nargs="?")
    p.set_defaults(func=cmd_runs_follow)
    # Internal: the on-exit hook a run's supervisor starts (not listed in the help).
    p = runs_sub.add_parser("finish", parents=[db])
    p.add_argument("id", type=int)
    p.add_argument("--settings", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_runs_finish)
    p = runs_sub.add_parser(
        "resume-from",
        parents=[db],
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

    datasets = sub.add_parser("datasets", help="list, register and create datasets")
    datasets_sub = datasets.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    p = datasets_sub.add_parser("list", parents=[db], help="list registered datasets")
    p.add_argument("--project", help="only this project (name or id)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_datasets_list)
    p = datasets_sub.add_parser(
        "add", parents=[db], help="register a dataset folder written by rave preprocess"
    )
    p.add_argument("folder", help="the preprocessed dataset folder (holds metadata.yaml)")
    p.add_argument("--project", help="project name or id (default: the first project)")
    p.add_argument("--name", help="dataset name (default: the folder's name)")
    p.set_defaults(func=cmd_datasets_add)
    p = datasets_sub.add_parser(
        "create", parents=[db], help="preprocess audio folders into a dataset and register it"
    )
    p.add_argument("audio", nargs="+", metavar="AUDIO_DIR", help="folder of audio files")
    p.add_argument("--output", "-o", required=True, metavar="DB_DIR", help="new dataset folder")
    p.add_argument("--name", help="dataset name (default: the output folder's name)")
    p.add_argument("--project", help="project name or id (default: the first project)")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--sr", type=int, default=44100, help="sample rate (default: 44100)")
    p.add_argument("--num-signal", type=int, default=131072, help="samples per half chunk")
    p.add_argument("--lazy", action="store_true", help="store no audio (decode while training)")
    p.add_argument("--timeout", type=float, help="stop rave preprocess after this many seconds")
    p.add_argument(
        "--progress-every",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between progress lines",
    )
    p.add_argument("--rave", help="path of the rave executable")
    p.set_defaults(func=cmd_datasets_create)

    p = sub.add_parser(
        "export", parents=[db], help="export a run's checkpoint to a TorchScript model (.ts)"
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
    p.add_argument("--rave", help="path of the rave executable")
    p.set_defaults(func=cmd_export)
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
    except sqlite3.Error as err:  # the backend reports these itself; the last line of defence
        sys.stderr.write(f"rave-gui: error: {_sqlite_message(args, err)}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _sqlite_message(args: argparse.Namespace, err: sqlite3.Error) -> str:
    from .backend.store.db import database_error
    from .backend.system.paths import resolve_db_path

    try:
        path = resolve_db_path(getattr(args, "db", None))
    except RaveGuiError:
        path = Path(str(getattr(args, "db", "")))
    return str(database_error(path, err))


def wants_cli(argv: Sequence[str]) -> bool:
    """True when the arguments ask for a command-line action rather than the window."""
    return bool(argv) and (argv[0] in COMMANDS or argv[0] in OPTIONS)
