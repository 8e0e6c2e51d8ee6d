"""What the commands share: the store and engine they work on, JSON and table output, ids."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from ..backend.runs.metrics_export import dump_json as dump_json  # the commands' JSON output

if TYPE_CHECKING:
    from ..backend.manager import TrainingManager
    from ..backend.process.runner import Launched
    from ..backend.runs.engine import Engine

    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]  # what add_parser gets


def table(rows: Sequence[Sequence[str]], out: IO[str], indent: str = "") -> None:
    """Rows as left-aligned columns two spaces apart, the first row being the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        line = "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        out.write(f"{indent}{line}\n")


def warn(text: str) -> None:
    sys.stderr.write(f"rave-gui: warning: {text}\n")


def run_id(text: str) -> int:
    """An experiment id argument: a whole number SQLite can hold (argparse reports the rest)."""
    from ..backend.store.db import SQLITE_MAX_INT

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a run id (a whole number)") from None
    if not 1 <= value <= SQLITE_MAX_INT:
        raise argparse.ArgumentTypeError(
            f"{text} is not a run id: ids are whole numbers from 1 to {SQLITE_MAX_INT}"
        )
    return value


def open_manager(args: argparse.Namespace) -> TrainingManager:
    from ..backend.manager import TrainingManager
    from ..backend.system.paths import resolve_db_path

    return TrainingManager(resolve_db_path(args.db))


def open_engine(args: argparse.Namespace, manager: TrainingManager | None = None) -> Engine:
    """The engine over ``manager`` (default: the store of ``--db``), with the saved settings
    (or a run's on-exit hook's ``--settings``) and this command's ``--rave``/concurrency."""
    from ..backend.errors import ValidationError
    from ..backend.runs.engine import Engine
    from ..backend.system.settings import read_settings, with_overrides

    if getattr(args, "settings", None):  # a run's on-exit hook: its engine's settings
        try:
            settings = with_overrides(json.loads(args.settings))
        except (ValueError, AttributeError, TypeError) as err:
            raise ValidationError(f"--settings is not a JSON object of settings: {err}") from err
    else:
        settings, warnings = read_settings()
        for warning in warnings:
            warn(warning)
    if getattr(args, "rave", None):
        settings.rave_executable = args.rave
    if getattr(args, "max_concurrent", None):
        settings.max_concurrent_runs = args.max_concurrent
    return Engine(manager or open_manager(args), settings)


def caught_up(args: argparse.Namespace, ids: list[int] | None = None) -> TrainingManager:
    """The store, with the live runs it is asked about (all without ``ids``) brought up to
    date first: what they wrote since they were last followed, the end of those that ended.
    When a run's end had to be recorded here (its supervisor could not), queued runs start."""
    from ..backend.runs.reconcile import catch_up

    tm = open_manager(args)
    if catch_up(tm, ids):
        open_engine(args, tm).schedule()
    return tm


def project_filter(tm: TrainingManager, project: str | None) -> int | None:
    """The id of the project named by ``--project`` (name or id), None when not given."""
    return tm.projects.find(project).id if project else None


def project_or_default(tm: TrainingManager, project: str | None) -> int:
    """The id of the project named by ``--project``, else of the first project."""
    return tm.projects.find(project).id if project else tm.projects.default_id()


def rave_executable(args: argparse.Namespace) -> str:
    """``--rave``, else the settings' rave executable."""
    from ..backend.system.settings import load_settings

    return args.rave or load_settings().resolved_rave()


def stop_started(started: list[Launched]) -> None:
    """Stop the process group of a job cancelled with Ctrl-C, if it had started."""
    from ..backend.process import runner

    if started:
        runner.stop_group(started[0].pid, interrupt_timeout=3, term_timeout=3)
