"""Writing a run's metric points as CSV or JSON (`runs export`), to stdout or whole to a file."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..backend.errors import RaveGuiError
from .common import dump_json

if TYPE_CHECKING:
    from ..backend.store.records import Experiment

Point = tuple[str, int, float, float | None]  # metric name, step, value, wall time


def write_points(
    args: argparse.Namespace, exp: Experiment, points: Iterable[Point], target: IO[str]
) -> int:
    """Write the points in ``args.format``; the number written."""
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
        dump_json({"experiment": {"id": exp.id, "name": exp.name}, "series": series}, target)
    return n


def export_to_file(args: argparse.Namespace, exp: Experiment, points: Iterable[Point]) -> int:
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
                return write_points(args, exp, points, f)
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            n = write_points(args, exp, points, f)
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
