"""`rave-gui datasets ...`: list, register (add) and preprocess-and-register (create) datasets."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from ..backend.errors import RaveGuiError
from ..backend.system.units import format_duration
from .common import (
    dump_json,
    open_manager,
    project_filter,
    project_or_default,
    rave_executable,
    stop_started,
    table,
    warn,
)

if TYPE_CHECKING:
    from ..backend.manager import TrainingManager
    from ..backend.process.runner import Launched
    from .common import Subcommands


def cmd_datasets_list(args: argparse.Namespace, out: IO[str]) -> int:
    tm = open_manager(args)
    datasets = tm.datasets.all(project_filter(tm, args.project))
    if args.json:
        dump_json([d.to_json() for d in datasets], out)
        return 0
    if not datasets:
        out.write("No datasets.\n")
        return 0
    projects = {p.id: p.name for p in tm.projects.all()}
    rows = [("ID", "NAME", "PROJECT", "RATE", "CH", "LENGTH", "EXAMPLES", "PATH")]
    for d in datasets:
        rows.append(
            (
                str(d.id),
                d.name,
                projects.get(d.project_id, "?"),
                "-" if d.sample_rate is None else str(d.sample_rate),
                "-" if d.channels is None else str(d.channels),
                "-" if d.duration_s is None else format_duration(d.duration_s),
                "-" if d.n_examples is None else str(d.n_examples),
                d.path,
            )
        )
    table(rows, out)
    return 0


def _dataset_line(tm: TrainingManager, dataset_id: int) -> str:
    d = tm.datasets.get(dataset_id)
    length = "-" if d.duration_s is None else format_duration(d.duration_s)
    examples = "?" if d.n_examples is None else f"{d.n_examples:,}"
    return f"dataset {d.id} {d.name!r}: {examples} examples, {length} ({d.path})\n"


def cmd_datasets_add(args: argparse.Namespace, out: IO[str]) -> int:
    tm = open_manager(args)
    dataset_id = tm.datasets.register(project_or_default(tm, args.project), args.folder, args.name)
    out.write("registered " + _dataset_line(tm, dataset_id))
    return 0


def cmd_datasets_create(args: argparse.Namespace, out: IO[str]) -> int:
    """Preprocess audio folders into a dataset and register it: the New dataset dialog's path
    (pre-flight, `rave preprocess` followed with its progress, the dataset checked and
    registered; what a failed run wrote is removed)."""
    import time
    from pathlib import Path

    from ..backend.errors import ValidationError
    from ..backend.jobs.audio import scan_audio
    from ..backend.jobs.preflight import preflight
    from ..backend.jobs.preprocess import (
        PreprocessMonitor,
        PreprocessRequest,
        discard_output,
        launch_command,
        make_dataset,
        preprocess_argv,
    )
    from ..backend.store.names import check_name

    tm = open_manager(args)
    project_id = project_or_default(tm, args.project)
    output = Path(args.output).expanduser().resolve()
    name = check_name(args.name if args.name is not None else output.name, "dataset")
    if any(d.name == name for d in tm.datasets.all(project_id)):
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
        warn(warning)
    report.raise_for_problems()
    out.write(f"{scan.summary()}: {report.expected_chunks:,} chunks expected\n")
    command = launch_command(preprocess_argv(rave_executable(args), request))
    started: list[Launched] = []
    last_time, last_text = 0.0, ""

    def progress(monitor: PreprocessMonitor) -> None:
        nonlocal last_time, last_text
        text = monitor.text()
        now = time.monotonic()
        if text != last_text and now - last_time >= args.progress_every:
            pct = monitor.percent()
            out.write(f"{text}{f' ({pct}%)' if pct >= 0 else ''}\n")
            out.flush()
            last_time, last_text = now, text

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
        stop_started(started)
        discard_output(request.output_path)
        sys.stderr.write("rave-gui: cancelled: nothing was registered\n")
        return 130
    if not run.ok:
        if run.info is not None and run.dataset_id is None:
            raise RaveGuiError(
                f"{run.message} Register it with `rave-gui datasets add {run.info.path}`."
            )
        raise RaveGuiError(f"{run.failure_text()} (log: {run.log_path})")
    assert run.dataset_id is not None
    out.write("registered " + _dataset_line(tm, run.dataset_id))
    return 0


def add_parser(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `datasets` command and its actions."""
    datasets = sub.add_parser("datasets", help="list, register and create datasets")
    datasets_sub = datasets.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    p = datasets_sub.add_parser("list", parents=parents, help="list registered datasets")
    p.add_argument("--project", help="only this project (name or id)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_datasets_list)
    p = datasets_sub.add_parser(
        "add", parents=parents, help="register a dataset folder written by rave preprocess"
    )
    p.add_argument("folder", help="the preprocessed dataset folder (holds metadata.yaml)")
    p.add_argument("--project", help="project name or id (default: the first project)")
    p.add_argument("--name", help="dataset name (default: the folder's name)")
    p.set_defaults(func=cmd_datasets_add)
    p = datasets_sub.add_parser(
        "create", parents=parents, help="preprocess audio folders into a dataset and register it"
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
