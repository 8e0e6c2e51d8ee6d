"""Writing a run's metric points as CSV or JSON (`runs export`, the history's "Export
metrics"), to a stream or whole to a file."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import RaveGuiError, ValidationError

if TYPE_CHECKING:
    from ..manager import TrainingManager
    from ..store.records import Experiment

FORMATS = ("csv", "json")

Point = tuple[str, int, float, float | None]  # metric name, step, value, wall time


def json_value(v: Any) -> Any:
    """JSON has no NaN or infinity: write them as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    return v


def dump_json(obj: Any, out: IO[str]) -> None:
    """Indented JSON of ``obj`` (non-finite numbers as strings), and a line end."""
    json.dump(json_value(obj), out, indent=2, allow_nan=False)
    out.write("\n")


def write_points(fmt: str, exp: Experiment, points: Iterable[Point], target: IO[str]) -> int:
    """Write the points in ``fmt`` ("csv" or "json"); the number written."""
    if fmt not in FORMATS:
        raise ValidationError(f"Metrics are exported as {' or '.join(FORMATS)}, not {fmt!r}.")
    n = 0
    if fmt == "csv":
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


def export_to_file(
    fmt: str, exp: Experiment, points: Iterable[Point], output: str | os.PathLike[str]
) -> int:
    """Write the points to ``output``: a regular file through a temporary file beside it,
    renamed only once complete (a failure leaves no partial file and an older file intact); a
    device, pipe or link (/dev/full, /dev/stdout) directly."""
    import tempfile

    if fmt not in FORMATS:
        raise ValidationError(f"Metrics are exported as {' or '.join(FORMATS)}, not {fmt!r}.")
    target = Path(output).expanduser()
    if target.is_dir():
        raise RaveGuiError(f"Cannot write {output}: it is a folder; give a file name.")
    tmp: Path | None = None
    try:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            with open(target, "w", newline="", encoding="utf-8") as f:
                return write_points(fmt, exp, points, f)
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            n = write_points(fmt, exp, points, f)
        tmp.chmod(mode)
        os.replace(tmp, target)
        tmp = None
        return n
    except OSError as err:
        raise RaveGuiError(f"Cannot write {output}: {err.strerror or err}") from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def export_metrics(
    manager: TrainingManager, experiment_id: int, output: str | os.PathLike[str], fmt: str
) -> int:
    """Write every metric point of a run to the file ``output`` as ``fmt``; the number
    written."""
    exp = manager.get_experiment(experiment_id)
    return export_to_file(fmt, exp, manager.metrics.iter_points(experiment_id), output)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
