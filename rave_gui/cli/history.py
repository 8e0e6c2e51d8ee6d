"""`rave-gui runs list | tag | note | archive | delete`: the run history from the command line."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import IO, TYPE_CHECKING

from ..backend.errors import ValidationError
from ..backend.remote.states import engine_json, status_text
from ..backend.status import RunStatus
from ..backend.store.history import SORT_KEYS, HistoryFilter
from ..backend.store.targets import TargetStore, engine_label
from ..backend.system.units import format_bytes, format_datetime, format_duration, format_value
from .common import caught_up, dump_json, open_manager, project_filter, run_id, table

if TYPE_CHECKING:
    from .common import Subcommands


def parse_when(text: str, *, end: bool = False) -> float:
    """A date (2026-11-30) or date and time (2026-11-30T14:00, "2026-11-30 14:00") in local
    time, as a timestamp; a date alone as ``end`` means the end of that day."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"{text!r} is not a date: write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM."
        ) from None
    if end and len(text.strip()) <= 10:
        when += dt.timedelta(days=1)
    return when.timestamp()


def history_filter(args: argparse.Namespace, project_id: int | None) -> HistoryFilter:
    return HistoryFilter(
        project_id=project_id,
        statuses=tuple(RunStatus.parse(s) for s in args.status or ()),
        dataset=args.dataset,
        config=args.config,
        tag=args.tag,
        since=None if args.since is None else parse_when(args.since),
        until=None if args.until is None else parse_when(args.until, end=True),
        text=args.search or "",
        archived=None if args.archived else False,
    )


def cmd_runs_list(args: argparse.Namespace, out: IO[str]) -> int:
    tm = caught_up(args)
    f = history_filter(args, project_filter(tm, args.project))
    rows = tm.history.query(f, sort=args.sort, descending=not args.ascending, limit=args.limit)
    remote = TargetStore(tm.db).runs([r.id for r in rows])
    if args.json:
        full = {e.id: e for e in tm.list_experiments(f.project_id)}
        data = []
        for r in rows:
            item = full[r.id].to_json()
            item["notes"] = r.notes
            item["tags"] = list(r.tags)
            item["archived"] = r.archived
            item["duration"] = r.duration()
            if r.id in remote:
                item["engine"] = engine_json(remote[r.id], r.status)
            data.append(item)
        dump_json(data, out)
        return 0
    if not rows:
        out.write("No experiments.\n")
        return 0
    table_rows = [
        ("ID", "NAME", "PROJECT", "STATUS", "STARTED", "DURATION", "STEP", "BEST VAL", "FINAL VAL",
         "CONFIG", "DATASET", "TAGS")
    ]  # fmt: skip
    for r in rows:
        table_rows.append(
            (
                str(r.id),
                r.name,
                r.project_name,
                status_text(r.status, engine_label(remote.get(r.id), r.status))
                + (" (archived)" if r.archived else ""),
                format_datetime(r.started_at, missing="-"),
                format_duration(r.duration()) if r.started_at is not None else "-",
                "-" if r.steps is None else str(r.steps),
                format_value(r.best_validation, missing="-"),
                format_value(r.final_validation, missing="-"),
                r.config_name or "-",
                r.dataset_name or "-",
                ",".join(r.tags) or "-",
            )
        )
    table(table_rows, out)
    total = tm.history.count(f)
    if args.limit is not None and total > len(rows):
        out.write(f"({len(rows)} of {total} shown: raise --limit to see more)\n")
    return 0


def cmd_runs_tag(args: argparse.Namespace, out: IO[str]) -> int:
    tm = open_manager(args)
    if args.remove:
        tags = tm.history.remove_tags(args.id, args.tags)
    else:
        tags = tm.history.add_tags(args.id, args.tags)
    out.write(f"experiment {args.id} tags: {', '.join(tags) or '(none)'}\n")
    return 0


def cmd_runs_note(args: argparse.Namespace, out: IO[str]) -> int:
    tm = open_manager(args)
    if args.text is None:
        out.write(tm.history.notes(args.id) + "\n")
        return 0
    text = args.text
    if args.append:
        old = tm.history.notes(args.id)
        text = f"{old}\n{text}" if old else text
    tm.history.set_notes(args.id, text)
    out.write(f"experiment {args.id} notes saved ({len(text)} characters)\n")
    return 0


def cmd_runs_archive(args: argparse.Namespace, out: IO[str]) -> int:
    tm = open_manager(args)
    tm.history.set_archived(args.id, not args.unarchive)
    state = "shown in the history again" if args.unarchive else "archived (hidden from lists)"
    out.write(f"experiment {args.id} {state}\n")
    return 0


def cmd_runs_delete(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.runs.cleanup import delete_run, plan_delete

    tm = caught_up(args, [args.id])
    plan = plan_delete(tm, args.id)
    freed = delete_run(tm, args.id, files=args.files)
    if args.files:
        where = f" and its folder {plan.folder}" if plan.folder else " (it had no folder on disk)"
        out.write(
            f"deleted experiment {args.id} {plan.name!r}{where}: {format_bytes(freed)} freed\n"
        )
    else:
        kept = ""
        if plan.folder:
            size = format_bytes(plan.folder_bytes)
            kept = f"; its files stay in {plan.folder} ({size}; --files deletes them)"
        out.write(f"deleted experiment {args.id} {plan.name!r}{kept}\n")
    return 0


def add_list_options(p: argparse.ArgumentParser) -> None:
    """The filters and order of `runs list`."""
    p.add_argument("--dataset", help="only runs on this dataset (its name)")
    p.add_argument("--config", help="only runs with this configuration (base or modifier)")
    p.add_argument("--tag", help="only runs with this tag")
    p.add_argument("--since", metavar="DATE", help="only runs started on or after DATE")
    p.add_argument("--until", metavar="DATE", help="only runs started on or before DATE")
    p.add_argument("--archived", action="store_true", help="include archived runs")
    p.add_argument("--sort", choices=SORT_KEYS, default="started", help="order (default: started)")
    p.add_argument("--ascending", action="store_true", help="smallest or oldest first")
    p.add_argument("--limit", type=int, metavar="N", help="at most N runs")


def add_parser(runs_sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    p = runs_sub.add_parser("tag", parents=parents, help="tag a run (or --remove tags)")
    p.add_argument("id", type=run_id)
    p.add_argument("tags", nargs="+", metavar="TAG")
    p.add_argument("--remove", action="store_true", help="remove these tags instead")
    p.set_defaults(func=cmd_runs_tag)
    p = runs_sub.add_parser("note", parents=parents, help="set (or, without TEXT, print) notes")
    p.add_argument("id", type=run_id)
    p.add_argument("text", nargs="?", metavar="TEXT", help="the notes (quote them)")
    p.add_argument("--append", action="store_true", help="add a line to the notes")
    p.set_defaults(func=cmd_runs_note)
    p = runs_sub.add_parser("archive", parents=parents, help="hide a run from the lists")
    p.add_argument("id", type=run_id)
    p.add_argument("--unarchive", action="store_true", help="show it again")
    p.set_defaults(func=cmd_runs_archive)
    p = runs_sub.add_parser(
        "delete", parents=parents, help="delete a finished run's record (--files: its folder)"
    )
    p.add_argument("id", type=run_id)
    p.add_argument("--files", action="store_true", help="delete its run folder too")
    p.set_defaults(func=cmd_runs_delete)
