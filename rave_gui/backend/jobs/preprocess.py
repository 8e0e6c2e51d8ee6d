"""Making a RAVE dataset: the `rave preprocess` command, followed, stopped, its output checked.

The audio it reads is found and measured in ``jobs.audio`` (which files it reads: see there),
the request checked before it starts in ``jobs.preflight``. Facts about acids-rave 2.3.1's
``scripts/preprocess.py`` this module builds on:

- it cuts each file into chunks of ``2 × --num_signal`` samples at ``--sampling_rate`` and
  silently drops any file, or tail, shorter than a chunk; ``metadata.yaml`` gets
  ``n_seconds = chunk seconds × (chunks - 1)``, so zero or one chunk give ``n_seconds: 0``;
- with no file found it prints ``No valid file found in [...]. Aborting`` and hangs forever; a
  file ffmpeg cannot decode makes a pool worker fail (``(TypeError('cannot unpack ...'),)`` on
  stdout) and the command hangs the same way. Both are detected here and the whole process
  group is stopped, pool workers included;
- ``--lazy`` asks "Continue ? (y/n)" on stdin on every POSIX system: the command built here
  answers it.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import DatasetError, InUseError, RaveGuiError, ValidationError
from ..process import runner
from ..process.logfollow import LogFollower, lines_of
from ..rave.dataset import DatasetInfo, lmdb_entries, read_dataset
from ..rave.diagnose import Diagnosis, diagnose_lines
from ..rave.logparse import Failure, LogLine, Progress
from ..system.paths import data_dir
from ..system.units import format_duration
from .audio import AudioScan

if TYPE_CHECKING:
    from ..manager import TrainingManager

DEFAULT_NUM_SIGNAL = 131072
DEFAULT_SAMPLE_RATE = 44100
SAMPLE_RATES = (16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)
MAX_CHANNELS = 8
LOG_NAME = "preprocess.log"
DATASET_FILES = ("data.mdb", "lock.mdb", "metadata.yaml")

NO_FILE_MARKER = "No valid file found in"
# What the pool's error callback prints when a worker raised: "(TypeError('...'),)"
_WORKER_ERROR = re.compile(r"^\((?P<exc>[A-Za-z_][\w.]*)\((?P<args>.*)\),?\)$")
_DATASET_LENGTH = re.compile(r"dataset length: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d+)?)")

# Runs the `rave` console script with "y" waiting on stdin (the --lazy question).
_ANSWER_YES = (
    "import io, runpy, sys; sys.stdin = io.StringIO('y\\n'); sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


# --- the request -------------------------------------------------------------------------------


@dataclass
class PreprocessRequest:
    """Everything `rave preprocess` is started with."""

    input_paths: list[str]
    output_path: str
    channels: int = 1
    sample_rate: int = DEFAULT_SAMPLE_RATE
    lazy: bool = False
    num_signal: int = DEFAULT_NUM_SIGNAL

    def chunk_seconds(self) -> float:
        return chunk_seconds(self.sample_rate, self.num_signal)

    def validate(self) -> None:
        if not self.input_paths:
            raise ValidationError("Add at least one folder of audio files.")
        if not str(self.output_path).strip():
            raise ValidationError("Choose where to write the dataset.")
        for key, value, low, high in (
            ("channels", self.channels, 1, MAX_CHANNELS),
            ("sample rate", self.sample_rate, 8000, 384000),
            ("num_signal", self.num_signal, 1024, 1 << 24),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValidationError(f"The {key} must be a whole number from {low} to {high:,}.")


def chunk_seconds(sample_rate: int, num_signal: int = DEFAULT_NUM_SIGNAL) -> float:
    """Seconds of one dataset example: RAVE cuts audio in chunks of 2 × num_signal samples."""
    return 2 * num_signal / sample_rate


# --- the command -------------------------------------------------------------------------------


def preprocess_argv(rave: str, request: PreprocessRequest) -> list[str]:
    """``rave preprocess --input_path A [--input_path B ...] --output_path OUT --channels N
    --sampling_rate SR [--num_signal N] [--lazy]`` as a list (never a shell string)."""
    argv = [rave, "preprocess"]
    for p in request.input_paths:
        argv += ["--input_path", str(Path(p).expanduser())]
    argv += ["--output_path", str(Path(request.output_path).expanduser())]
    argv += ["--channels", str(request.channels), "--sampling_rate", str(request.sample_rate)]
    if request.num_signal != DEFAULT_NUM_SIGNAL:
        argv += ["--num_signal", str(request.num_signal)]
    if request.lazy:
        argv.append("--lazy")
    return argv


def launch_command(argv: list[str], python: str | None = None) -> list[str]:
    """What to start for ``argv``: itself, or (with ``--lazy``, which asks for confirmation on
    stdin) the same `rave` script run by its Python with the answer "y" waiting on stdin."""
    if "--lazy" not in argv:
        return list(argv)
    if python is None:
        from ..rave.command import python_of

        python = python_of(argv[0]) or sys.executable
    return [python, "-c", _ANSWER_YES, *argv]


def default_output_folder(name: str) -> Path:
    """Where new datasets go unless the user picks another place."""
    return data_dir() / "datasets" / name


def default_log_folder(output: str | os.PathLike[str]) -> Path:
    """Where the log of preprocessing into ``output`` goes (kept out of the dataset folder)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return data_dir() / "logs" / f"preprocess-{stamp}-{Path(output).name}"


# --- following ---------------------------------------------------------------------------------


class PreprocessMonitor:
    """Reads the parsed output of `rave preprocess`: how far it is, and the lines after which
    it would hang forever (``stalled`` then holds the reason to show).

    Its bar reads ``dataset length: H:MM:SS: : Nit``. The length is exact (chunks so far × the
    chunk length; the files' total length with ``--lazy``), while tqdm's count ``N`` may lag
    behind it; so progress is read from the length when the chunk length is known."""

    def __init__(
        self,
        expected_chunks: int | None = None,
        *,
        chunk_s: float | None = None,
        lazy: bool = False,
        expected_seconds: float | None = None,
    ) -> None:
        self.expected_chunks = expected_chunks or None
        self.chunk_s = chunk_s
        self.lazy = lazy
        self.expected_seconds = expected_seconds or None
        self.chunks = 0  # chunks written (files measured with --lazy)
        self.seconds = 0.0
        self.stalled: str | None = None
        self.failure: str | None = None
        self.progress: Progress | None = None

    @classmethod
    def for_request(cls, request: PreprocessRequest, scan: AudioScan | None) -> PreprocessMonitor:
        """A monitor that knows what to expect from the scanned files."""
        chunk_s = request.chunk_seconds()
        if scan is None:
            return cls(chunk_s=chunk_s, lazy=request.lazy)
        return cls(
            len(scan.readable) if request.lazy else scan.chunks(chunk_s),
            chunk_s=chunk_s,
            lazy=request.lazy,
            expected_seconds=scan.total_s,
        )

    def feed(self, events: Iterable[object]) -> bool:
        """Take parsed events; True when the command stalled and must be stopped."""
        for ev in events:
            if isinstance(ev, Progress):
                self.progress = ev
                if ev.batch is not None:
                    self.chunks = max(self.chunks, ev.batch)
                m = _DATASET_LENGTH.search(ev.text)
                if m:
                    days, h, mi, s = m.groups()
                    self.seconds = int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)
                    if self.chunk_s and not self.lazy and self.seconds > 0:
                        # n_seconds = chunk length × index of the last chunk written
                        self.chunks = max(self.chunks, round(self.seconds / self.chunk_s) + 1)
            elif isinstance(ev, LogLine) and self.stalled is None:
                self._check_line(ev.text)
            elif isinstance(ev, Failure):
                self.failure = ev.reason
        return self.stalled is not None

    def _check_line(self, text: str) -> None:
        if NO_FILE_MARKER in text:
            self.stalled = (
                "rave preprocess found no audio file in the input folder(s) "
                f"({text.strip()}); it was stopped (it would wait forever)."
            )
            return
        m = _WORKER_ERROR.match(text.strip())
        if m:
            self.stalled = (
                f"rave preprocess failed to decode a file ({m.group('exc')}: "
                f"{m.group('args').strip(chr(39) + chr(34))}) and stalled; it was stopped. "
                "A file with an audio extension that ffmpeg cannot read is the usual cause."
            )

    def percent(self) -> int:
        if self.lazy and self.expected_seconds:
            return max(0, min(100, int(100 * self.seconds / self.expected_seconds)))
        if not self.expected_chunks:
            return -1
        return max(0, min(100, int(100 * self.chunks / self.expected_chunks)))

    def text(self) -> str:
        if not self.chunks:
            return "Starting…"
        unit = "file" if self.lazy else "chunk"
        done = f"{self.chunks:,} {unit}{'s' if self.chunks != 1 else ''}"
        if self.expected_chunks:
            done += f" of {self.expected_chunks:,}"
        return f"{done} · dataset length {format_duration(self.seconds)}"


# --- the result --------------------------------------------------------------------------------


def empty_dataset_message(
    folder: Path, n_chunks: int | None, sample_rate: int, num_signal: int
) -> str:
    chunk_s = chunk_seconds(sample_rate, num_signal)
    unit = f"{chunk_s:.2f} s (2 × {num_signal:,} samples at {sample_rate:,} Hz)"
    if n_chunks == 1:
        return (
            f"rave preprocess wrote a dataset with a single chunk of {unit} to {folder} "
            "(n_seconds: 0): RAVE cannot train on it. Add audio: at least "
            f"{2 * chunk_s:.1f} s in files of at least {chunk_s:.1f} s each, several minutes "
            "to train a model."
        )
    return (
        f"rave preprocess wrote an empty dataset to {folder} (n_seconds: 0): every file is "
        f"shorter than one chunk of {unit}, and RAVE drops shorter files and tails. Use audio "
        f"files of at least {chunk_s:.1f} s each (several minutes in all to train a model), or "
        "join short files together first."
    )


def check_result(
    output_folder: str | os.PathLike[str], *, num_signal: int = DEFAULT_NUM_SIGNAL
) -> DatasetInfo:
    """What `rave preprocess` wrote, validated. Raises DatasetError for a run that did not
    finish and, with the minimum length needed, for the empty dataset RAVE writes silently."""
    folder = Path(output_folder).expanduser()
    meta = folder / "metadata.yaml"
    if not meta.is_file():
        raise DatasetError(
            f"rave preprocess did not finish: {folder} has no metadata.yaml. See its log."
        )
    try:
        data = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise DatasetError(f"Cannot read {meta}: {err}") from err
    try:
        seconds = float(data.get("n_seconds", 0) or 0)
        sr = int(data.get("sr") or DEFAULT_SAMPLE_RATE)
    except (TypeError, ValueError, AttributeError) as err:
        raise DatasetError(f"{meta} holds a value that is not a number: {err}") from err
    if seconds <= 0:
        raise DatasetError(
            empty_dataset_message(folder, lmdb_entries(folder / "data.mdb"), sr, num_signal)
        )
    return read_dataset(folder)


def remove_dataset_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete a preprocessed dataset's own files (data.mdb, lock.mdb, metadata.yaml), then the
    folder when nothing else is left in it. Anything else inside (audio the user put there, a
    log) is kept and returned, so nothing but RAVE's files is ever removed."""
    out = Path(folder).expanduser()
    for name in DATASET_FILES:
        try:
            (out / name).unlink()
        except FileNotFoundError:
            pass
    try:
        left = sorted(out.iterdir())
    except FileNotFoundError:
        return []
    if not left:
        out.rmdir()
    return left


def discard_output(folder: str | os.PathLike[str]) -> None:
    """Remove what a failed or cancelled preprocess wrote (never raises)."""
    try:
        remove_dataset_files(folder)
    except OSError:
        pass


# --- running it without a GUI (command line, tests) ----------------------------------------------


@dataclass
class PreprocessRun:
    """How a preprocess ended: the dataset (when it is usable) or the reason it is not."""

    ok: bool
    message: str
    info: DatasetInfo | None
    exit_code: int | None
    log_path: Path | None
    lines: list[tuple[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0
    cancelled: bool = False
    dataset_id: int | None = None  # set by make_dataset once registered
    # a failure's cause and what to do (rave/diagnose.py), when its output showed one
    diagnosis: Diagnosis | None = None

    def failure_text(self, text: str | None = None) -> str:
        """``text`` (default: the message) led by the diagnosis's title and advice when the
        output showed a known failure that the text does not name already."""
        text = self.message if text is None else text
        d = self.diagnosis
        if d is None or d.kind == "unknown" or d.title in text:
            return text
        return f"{d.title}. {d.advice}\n{text}"


PREPROCESS_CANCELLED = "Cancelled."


def run_preprocess(
    command: list[str],
    request: PreprocessRequest,
    *,
    log_folder: str | os.PathLike[str] | None = None,
    expected_chunks: int | None = None,
    timeout: float | None = None,
    on_progress: Callable[[PreprocessMonitor], None] | None = None,
    poll_s: float = 0.2,
    monitor: PreprocessMonitor | None = None,
    on_start: Callable[[runner.Launched], None] | None = None,
    on_lines: Callable[[list[tuple[str, str]]], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> PreprocessRun:
    """Run ``command`` (from :func:`launch_command`) detached, follow its log to the end, stop
    its whole process group when it stalls, runs past ``timeout`` or ``cancelled()`` turns
    true, and check its dataset. ``on_progress`` is called after each read that brought
    something, ``on_lines`` with each batch of new (text, level) lines."""
    started = time.monotonic()
    folder = Path(log_folder) if log_folder else default_log_folder(request.output_path)
    launched = runner.launch(command, folder, log_name=LOG_NAME)
    if on_start is not None:
        on_start(launched)
    follower = LogFollower.of(launched)
    if monitor is None:
        monitor = PreprocessMonitor(
            expected_chunks, chunk_s=request.chunk_seconds(), lazy=request.lazy
        )
    lines: list[tuple[str, str]] = []
    stop_reason: str | None = None
    while True:
        upd = follower.poll()
        if upd.events:
            new = lines_of(upd.events)
            lines += new
            if new and on_lines is not None:
                on_lines(new)
            monitor.feed(upd.events)
            if on_progress is not None:
                on_progress(monitor)
        if upd.final:
            break
        if stop_reason is None:
            if monitor.stalled:
                stop_reason = monitor.stalled
            elif cancelled is not None and cancelled():
                stop_reason = PREPROCESS_CANCELLED
            elif timeout is not None and time.monotonic() - started > timeout:
                stop_reason = f"rave preprocess took longer than {timeout:.0f} s and was stopped."
            if stop_reason is not None:
                runner.stop_group(launched.pid, interrupt_timeout=3, term_timeout=3)
                continue
        time.sleep(poll_s)
    exit_code = upd.exit_code
    elapsed = time.monotonic() - started

    def result(ok: bool, message: str, info: DatasetInfo | None = None) -> PreprocessRun:
        found = None
        if not ok and stop_reason != PREPROCESS_CANCELLED:
            found = diagnose_lines([*(text for text, _level in lines), message])
        return PreprocessRun(
            ok,
            message,
            info,
            exit_code,
            launched.log_path,
            lines,
            elapsed,
            cancelled=stop_reason == PREPROCESS_CANCELLED,
            diagnosis=found,
        )

    if stop_reason is not None:
        return result(False, stop_reason)
    if exit_code != 0:
        reason = monitor.failure or upd.error or f"exited with code {exit_code}"
        return result(False, f"rave preprocess failed: {reason}")
    try:
        info = check_result(request.output_path, num_signal=request.num_signal)
    except DatasetError as err:
        return result(False, str(err))
    return result(True, "done", info)


def make_dataset(
    manager: TrainingManager,
    project_id: int,
    command: list[str],
    request: PreprocessRequest,
    *,
    name: str | None = None,
    **follow: Any,
) -> PreprocessRun:
    """Preprocess (:func:`run_preprocess`, ``follow`` its keyword arguments) and register the
    dataset in the project: the one path of the New dataset dialog and `rave-gui datasets
    create`. What a failed or cancelled run wrote is removed; a dataset that was written but
    cannot be registered is kept (``info`` set, ``dataset_id`` None) and the message says so."""
    run = run_preprocess(command, request, **follow)
    if not run.ok or run.info is None:
        discard_output(request.output_path)
        return run
    try:
        run.dataset_id = manager.datasets.register(project_id, run.info.path, name or None)
    except RaveGuiError as err:
        run.ok = False
        run.message = (
            f"The dataset was written to {run.info.path} but could not be registered: {err}"
        )
    return run


def remove_dataset(
    manager: TrainingManager, dataset_id: int, *, delete_files: bool = False
) -> list[Path]:
    """Remove a dataset from its project: the registration (experiments that used it are
    detached and keep their history; an active run refuses it), then, with ``delete_files``,
    the dataset's own files (:func:`remove_dataset_files`; returns what else the folder held,
    kept). Files another registration uses are never deleted (InUseError, nothing removed)."""
    ds = manager.datasets.get(dataset_id)
    if delete_files:
        others = [d for d in manager.datasets.all() if d.path == ds.path and d.id != dataset_id]
        if others:
            raise InUseError(
                f"The files of {ds.name!r} cannot be deleted: another project uses the same "
                f"folder ({ds.path})."
            )
    manager.datasets.delete(dataset_id, detach_experiments=True)
    if not delete_files:
        return []
    try:
        return remove_dataset_files(ds.path)
    except OSError as err:
        raise DatasetError(
            f"Dataset {ds.name!r} removed, but its files could not all be deleted: "
            f"{err.strerror or err}."
        ) from err


__all__ = [
    "PreprocessMonitor",
    "PreprocessRequest",
    "PreprocessRun",
    "check_result",
    "chunk_seconds",
    "discard_output",
    "launch_command",
    "make_dataset",
    "preprocess_argv",
    "remove_dataset",
    "remove_dataset_files",
    "run_preprocess",
]
