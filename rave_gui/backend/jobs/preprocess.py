"""Making a RAVE dataset from audio folders: scan, pre-flight, the `rave preprocess` command,
following it (and stopping it when it stalls), and checking what it wrote.

Facts about acids-rave 2.3.1's ``scripts/preprocess.py`` this module builds on:

- it reads the files under each ``--input_path`` whose names end in ``.EXT`` or ``.EXT_UPPER``
  for its default extensions (``a.wav`` and ``a.WAV``, not ``a.Wav``), hidden files included;
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

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import DatasetError, InUseError, PreflightError, RaveGuiError, ValidationError
from ..process import runner
from ..process.logfollow import LogFollower, lines_of
from ..rave.dataset import DatasetInfo, lmdb_entries, read_dataset
from ..rave.logparse import Failure, LogLine, Progress
from ..system.paths import data_dir
from ..system.units import format_bytes, format_duration

if TYPE_CHECKING:
    from ..manager import TrainingManager

AUDIO_EXTENSIONS = ("aif", "aiff", "wav", "opus", "mp3", "aac", "flac", "ogg")  # RAVE's --ext
DEFAULT_NUM_SIGNAL = 131072
DEFAULT_SAMPLE_RATE = 44100
SAMPLE_RATES = (16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)
MAX_CHANNELS = 8
LOG_NAME = "preprocess.log"
FFPROBE_TIMEOUT_S = 30
SCAN_WORKERS = 8
# Decoded audio is stored as 16-bit samples in LMDB, with a little overhead per record.
STORAGE_OVERHEAD = 1.1
DISK_MARGIN_BYTES = 200 * 1024 * 1024
FEW_CHUNKS = 50  # v2 crashes at its first validation with 50 chunks or fewer (PCA over 1 example)
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


# --- scanning ----------------------------------------------------------------------------------


def rave_reads(name: str, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> bool:
    """Whether `rave preprocess` picks up a file of this name (it globs ``*.ext``, ``*.EXT``)."""
    return any(name.endswith(f".{e}") or name.endswith(f".{e.upper()}") for e in extensions)


@dataclass(frozen=True, slots=True)
class AudioFile:
    """One audio file RAVE will read: its length and format, or why it cannot be read."""

    path: Path
    duration_s: float | None = None
    channels: int | None = None
    sample_rate: int | None = None
    error: str | None = None

    @property
    def readable(self) -> bool:
        return self.error is None and self.duration_s is not None


@dataclass(frozen=True)
class AudioScan:
    """What the input folders hold for `rave preprocess`."""

    folders: tuple[Path, ...]
    files: tuple[AudioFile, ...] = ()
    missing: tuple[Path, ...] = ()  # folders that do not exist (or are files)
    without_audio: tuple[Path, ...] = ()  # existing folders with no file RAVE reads
    other_files: int = 0  # files RAVE skips (other extensions)
    elapsed_s: float = 0.0

    @property
    def readable(self) -> list[AudioFile]:
        return [f for f in self.files if f.readable]

    @property
    def unreadable(self) -> list[AudioFile]:
        return [f for f in self.files if not f.readable]

    @property
    def total_s(self) -> float:
        return sum(f.duration_s or 0.0 for f in self.readable)

    @property
    def max_channels(self) -> int | None:
        return max((f.channels for f in self.readable if f.channels), default=None)

    def short_files(self, chunk_s: float) -> list[AudioFile]:
        return [f for f in self.readable if (f.duration_s or 0.0) < chunk_s]

    def chunks(self, chunk_s: float) -> int:
        """How many chunks `rave preprocess` will cut (files and tails shorter are dropped)."""
        # A hair of tolerance: ffprobe's duration and the decoded sample count differ slightly.
        return sum(math.floor((f.duration_s or 0.0) / chunk_s + 1e-9) for f in self.readable)

    def summary(self) -> str:
        n = len(self.files)
        files = "1 audio file" if n == 1 else f"{n:,} audio files"
        text = f"{files} · {format_duration(self.total_s)} in all"
        if self.unreadable:
            text += f" · {len(self.unreadable)} unreadable"
        return text


def find_audio_files(
    folders: Iterable[str | os.PathLike[str]],
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> tuple[list[Path], list[Path], list[Path], int]:
    """(audio files, missing folders, folders without audio, count of other files), in the
    order RAVE would meet them, each file once."""
    files: list[Path] = []
    seen: set[Path] = set()
    missing: list[Path] = []
    without: list[Path] = []
    other = 0
    for folder in folders:
        root = Path(folder).expanduser()
        if not root.is_dir():
            missing.append(root)
            continue
        found = 0
        for dirpath, dirnames, names in os.walk(root):
            dirnames.sort()
            for name in sorted(names):
                if not rave_reads(name, extensions):
                    other += 1
                    continue
                p = Path(dirpath) / name
                key = p.resolve()
                found += 1
                if key not in seen:
                    seen.add(key)
                    files.append(p)
        if not found:
            without.append(root)
    return files, missing, without, other


def _probe_wav(path: Path) -> AudioFile | None:
    """Length and format from a PCM WAV header (None when the wave module cannot read it)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, frames, channels = w.getframerate(), w.getnframes(), w.getnchannels()
    except (wave.Error, EOFError, OSError, ValueError):
        return None
    if rate <= 0:
        return None
    return AudioFile(path, frames / rate, channels, rate)


def _probe_ffprobe(path: Path, ffprobe: str) -> AudioFile:
    try:
        proc = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "a:0",
             "-show_entries", "format=duration:stream=channels,sample_rate",
             "-of", "json", str(path)],
            capture_output=True, text=True, timeout=FFPROBE_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return AudioFile(path, error="ffprobe took too long to read it")
    except OSError as err:
        return AudioFile(path, error=f"ffprobe cannot run: {err.strerror}")
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"ffprobe exited with code {proc.returncode}"
        return AudioFile(path, error=reason.replace(f"{path}: ", ""))
    try:
        data = json.loads(proc.stdout or "{}")
        streams = data.get("streams") or []
        if not streams:
            return AudioFile(path, error="no audio stream")
        duration = float(data.get("format", {}).get("duration"))
        channels = int(streams[0].get("channels") or 0) or None
        rate = int(streams[0].get("sample_rate") or 0) or None
    except (TypeError, ValueError, AttributeError):
        return AudioFile(path, error="ffprobe reports no duration")
    if not math.isfinite(duration) or duration < 0:
        return AudioFile(path, error="ffprobe reports no duration")
    return AudioFile(path, duration, channels, rate)


def probe_audio(path: str | os.PathLike[str], ffprobe: str | None = None) -> AudioFile:
    """Length, channels and rate of one file: the WAV header for PCM .wav files (fast), ffprobe
    for everything else. A file that cannot be read gets ``error`` set."""
    p = Path(path)
    if p.suffix.lower() == ".wav":
        info = _probe_wav(p)
        if info is not None:
            return info
    tool = ffprobe or shutil.which("ffprobe")
    if tool is None:
        return AudioFile(p, error="ffprobe is not installed")
    return _probe_ffprobe(p, tool)


def scan_audio(
    folders: Iterable[str | os.PathLike[str]],
    *,
    ffprobe: str | None = None,
    workers: int = SCAN_WORKERS,
    cancelled: Callable[[], bool] | None = None,
) -> AudioScan:
    """Find the audio files RAVE will read in ``folders`` and measure each one (WAV headers
    directly, other formats with ffprobe in a few threads)."""
    started = time.monotonic()
    folder_list = tuple(Path(f).expanduser() for f in folders)
    paths, missing, without, other = find_audio_files(folder_list)
    tool = ffprobe or shutil.which("ffprobe")

    def one(p: Path) -> AudioFile:
        if cancelled is not None and cancelled():
            return AudioFile(p, error="not measured")
        return probe_audio(p, tool)

    wavs = [p for p in paths if p.suffix.lower() == ".wav"]
    results: dict[Path, AudioFile] = {}
    for p in wavs:  # header reads: microseconds each, no thread needed
        info = _probe_wav(p)
        if info is not None:
            results[p] = info
    rest = [p for p in paths if p not in results]
    if rest:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(rest)))) as pool:
            for p, info in zip(rest, pool.map(one, rest), strict=True):
                results[p] = info
    return AudioScan(
        folders=folder_list,
        files=tuple(results[p] for p in paths),
        missing=tuple(missing),
        without_audio=tuple(without),
        other_files=other,
        elapsed_s=time.monotonic() - started,
    )


# --- the request and its pre-flight --------------------------------------------------------------


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


def decoded_bytes(chunks: int, request: PreprocessRequest) -> int:
    """Roughly what the dataset takes on disk (16-bit samples; lazy datasets store no audio)."""
    if request.lazy:
        return 1024 * 1024
    return int(chunks * 2 * request.num_signal * request.channels * 2 * STORAGE_OVERHEAD)


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _short_list(paths: Sequence[Path | AudioFile], limit: int = 5) -> str:
    names = [
        (f"{p.path.name} ({p.duration_s:.1f} s)" if p.duration_s is not None else p.path.name)
        if isinstance(p, AudioFile)
        else Path(p).name
        for p in paths[:limit]
    ]
    more = len(paths) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def tool_problems() -> list[str]:
    """ffmpeg and ffprobe must be on PATH: `rave preprocess` calls both."""
    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if not missing:
        return []
    return [
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed: "
        "`rave preprocess` decodes audio with ffmpeg. Install it (apt install ffmpeg, "
        "brew install ffmpeg, or from ffmpeg.org) and make sure it is on the PATH."
    ]


def output_problems(output: str | os.PathLike[str]) -> list[str]:
    """The output folder must be new (or empty), not a dataset already, and writable."""
    out = Path(output).expanduser()
    if not out.is_absolute():
        return [f"Give the output folder as a full path (not {str(output)!r})."]
    if out.exists() and not out.is_dir():
        return [f"{out} is a file: choose a folder for the dataset."]
    if out.is_dir():
        if (out / "metadata.yaml").exists():
            return [
                f"{out} already holds a preprocessed dataset: choose a new folder (or register "
                "that one instead)."
            ]
        try:
            if any(out.iterdir()):
                return [f"{out} is not empty: choose a new or empty folder for the dataset."]
        except OSError as err:
            return [f"Cannot read {out}: {err.strerror}."]
    parent = _existing_ancestor(out)
    if not os.access(parent, os.W_OK | os.X_OK):
        return [f"Cannot write in {parent}: choose a folder you can write to."]
    return []


@dataclass
class PreflightReport:
    """Problems stop the preprocess; warnings are shown and let it start."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    expected_chunks: int = 0
    needed_bytes: int = 0
    free_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise PreflightError("\n".join(self.problems))


def preflight(request: PreprocessRequest, scan: AudioScan) -> PreflightReport:
    """Check everything before `rave preprocess` starts; every problem and warning is listed."""
    report = PreflightReport()
    problems, warnings = report.problems, report.warnings
    try:
        request.validate()
    except ValidationError as err:
        problems.append(str(err))
        return report
    problems += tool_problems()
    folders = [Path(p).expanduser().resolve() for p in request.input_paths]
    for i, a in enumerate(folders):
        for b in folders[i + 1 :]:
            if a == b or a in b.parents or b in a.parents:
                inner, outer = (b, a) if a in b.parents or a == b else (a, b)
                problems.append(
                    f"{inner} is inside {outer} (or the same folder): remove one, RAVE would "
                    "read its files twice."
                )
    for p in scan.missing:
        problems.append(f"The folder {p} does not exist.")
    exts = ", ".join(f".{e}" for e in AUDIO_EXTENSIONS)
    for p in scan.without_audio:
        problems.append(f"{p} holds no audio file RAVE reads ({exts}).")
    unreadable = scan.unreadable
    if unreadable:
        names = _short_list([f.path for f in unreadable])
        problems.append(
            f"{len(unreadable)} file(s) cannot be decoded: {names} ({unreadable[0].error}). "
            "`rave preprocess` stalls on a file it cannot read: remove, convert or fix them "
            "first."
        )
    chunk_s = request.chunk_seconds()
    readable = scan.readable
    short = scan.short_files(chunk_s)
    report.expected_chunks = scan.chunks(chunk_s)
    limit = (
        f"{chunk_s:.2f} s (one chunk: 2 × {request.num_signal:,} samples at "
        f"{request.sample_rate:,} Hz)"
    )
    if readable and len(short) == len(readable):
        problems.append(
            f"Every file is shorter than {limit}: RAVE drops shorter files and would write an "
            f"empty dataset. Use audio files of at least {chunk_s:.1f} s each (several minutes "
            "in all to train a model), or join short files together first."
        )
    elif readable and report.expected_chunks < 2:
        problems.append(
            f"These files give {report.expected_chunks} chunk of {chunk_s:.2f} s: RAVE needs "
            f"at least 2 (its dataset would be empty). Add audio: at least {2 * chunk_s:.1f} s "
            f"in files of at least {chunk_s:.1f} s each, several minutes to train a model."
        )
    elif short:
        warnings.append(
            f"{len(short)} file(s) are shorter than {limit} and will be left out: "
            f"{_short_list(short)}."
        )
    if readable and 2 <= report.expected_chunks <= FEW_CHUNKS and not request.lazy:
        warnings.append(
            f"Only {report.expected_chunks} chunks of {chunk_s:.1f} s: enough to try v2_small, "
            f"but the v2 config needs more than {FEW_CHUNKS} (it fails at its first validation)."
        )
    if scan.other_files and readable:
        warnings.append(f"{scan.other_files} file(s) of other types will be ignored.")
    problems += output_problems(request.output_path)
    report.needed_bytes = decoded_bytes(report.expected_chunks, request)
    target = _existing_ancestor(Path(request.output_path).expanduser())
    try:
        report.free_bytes = shutil.disk_usage(target).free
    except OSError:
        report.free_bytes = None
    if (
        report.free_bytes is not None
        and report.free_bytes < report.needed_bytes + DISK_MARGIN_BYTES
    ):
        problems.append(
            f"Not enough free disk space in {target}: the dataset needs about "
            f"{format_bytes(report.needed_bytes)}, {format_bytes(report.free_bytes)} is free."
        )
    return report


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
        return PreprocessRun(
            ok,
            message,
            info,
            exit_code,
            launched.log_path,
            lines,
            elapsed,
            cancelled=stop_reason == PREPROCESS_CANCELLED,
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
        others = [
            d for d in manager.datasets.all() if d["path"] == ds["path"] and d["id"] != dataset_id
        ]
        if others:
            raise InUseError(
                f"The files of {ds['name']!r} cannot be deleted: another project uses the same "
                f"folder ({ds['path']})."
            )
    manager.datasets.delete(dataset_id, detach_experiments=True)
    if not delete_files:
        return []
    try:
        return remove_dataset_files(ds["path"])
    except OSError as err:
        raise DatasetError(
            f"Dataset {ds['name']!r} removed, but its files could not all be deleted: "
            f"{err.strerror or err}."
        ) from err


__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioFile",
    "AudioScan",
    "PreflightReport",
    "PreprocessMonitor",
    "PreprocessRequest",
    "PreprocessRun",
    "check_result",
    "chunk_seconds",
    "discard_output",
    "launch_command",
    "make_dataset",
    "preflight",
    "preprocess_argv",
    "remove_dataset",
    "remove_dataset_files",
    "run_preprocess",
    "scan_audio",
]
