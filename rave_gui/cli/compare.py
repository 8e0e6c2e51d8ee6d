"""`rave-gui runs compare ID ID [ID...]` and `rave-gui runs tensorboard ID [ID...]`."""

from __future__ import annotations

import argparse
import time
from typing import IO, TYPE_CHECKING

from ..backend.system.units import format_duration, format_rate, format_value
from .common import caught_up, dump_json, open_manager, run_id, table

if TYPE_CHECKING:
    from ..backend.runs.compare import Comparison
    from .common import Subcommands


def _int(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def print_comparison(c: Comparison, out: IO[str]) -> None:
    """The comparison as aligned tables: the summaries, the settings that differ, the metrics
    (min at its step, last)."""
    head = ["", *(f"#{r.id} {r.name}" for r in c.runs)]
    rows = [
        head,
        ["status", *(r.status for r in c.runs)],
        ["best validation", *(format_value(r.best_validation, missing="-") for r in c.runs)],
        ["  at step", *(_int(r.best_validation_step) for r in c.runs)],
        ["steps", *(_int(r.steps) for r in c.runs)],
        ["duration", *(format_duration(r.duration_s, missing="-") for r in c.runs)],
        ["speed", *(format_rate(r.speed, missing="-") for r in c.runs)],
        ["phase", *(r.phase or "-" for r in c.runs)],
    ]
    table(rows, out)
    out.write("\n")
    if c.config_diff:
        out.write(f"Settings that differ ({len(c.config_same)} the same):\n")
        rows = [["KEY", *(f"#{r.id}" for r in c.runs)]]
        for key, per in c.config_diff.items():
            rows.append([key, *("-" if per[i] is None else str(per[i]) for i in c.ids)])
        table(rows, out, indent="  ")
    else:
        out.write(f"Same settings ({len(c.config_same)} keys).\n")
    out.write("\nMetrics (min @ step / last):\n")
    rows = [["METRIC", *(f"#{r.id}" for r in c.runs)]]
    for name, by_run in c.metrics.items():
        cells = []
        for i in c.ids:
            m = by_run[i]
            if m is None:
                cells.append("-")
                continue
            best = format_value(m["min"], missing="-")
            step = "" if m["best_step"] is None else f" @ {m['best_step']:,}"
            cells.append(f"{best}{step} / {format_value(m['last'], missing='-')}")
        rows.append([name, *cells])
    table(rows, out, indent="  ")


def cmd_runs_compare(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.runs.compare import check_ids, compare_runs

    ids = check_ids(args.ids)  # the count is checked before the store is opened
    comparison = compare_runs(caught_up(args, ids), ids)
    if args.json:
        dump_json(comparison.to_json(), out)
    else:
        print_comparison(comparison, out)
    return 0


def cmd_runs_tensorboard(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.system import tensorboard as tb
    from ..backend.system.settings import load_settings

    settings = load_settings()
    if args.rave:
        settings.rave_executable = args.rave
    plan = tb.plan_for(tb.run_folders(open_manager(args), args.ids), settings)
    if args.print_command:
        out.write(" ".join(plan.argv) + "\n")
        return 0
    server = tb.start(plan)
    try:
        server.wait_until_serving()
        out.write(f"TensorBoard serves {len(plan.runs)} run(s) at {server.url}\n")
        out.write("Press Ctrl-C to stop it.\n")
        out.flush()
        while server.running():
            time.sleep(0.5)
        out.write(f"TensorBoard ended (exit code {server.process.returncode}).\n")
        return 0 if server.process.returncode == 0 else 1
    except KeyboardInterrupt:
        out.write("Stopping TensorBoard.\n")
        return 0
    finally:
        server.stop()


def add_parser(runs_sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `runs compare` and `runs tensorboard` actions."""
    p = runs_sub.add_parser(
        "compare",
        parents=parents,
        help="2 to 10 runs side by side: summaries, the settings that differ, metrics",
    )
    p.add_argument("ids", type=run_id, nargs="+", metavar="ID")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runs_compare)
    p = runs_sub.add_parser(
        "tensorboard",
        parents=parents,
        help="serve runs in TensorBoard (from RAVE's environment) until Ctrl-C",
    )
    p.add_argument("ids", type=run_id, nargs="+", metavar="ID")
    p.add_argument("--rave", help="the rave command whose Python runs TensorBoard")
    p.add_argument(
        "--print-command", action="store_true", help="only print the command it would run"
    )
    p.set_defaults(func=cmd_runs_tensorboard)
