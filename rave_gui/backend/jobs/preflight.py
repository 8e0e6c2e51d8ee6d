"""Pre-flight of a preprocess: everything checked before `rave preprocess` starts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PreflightError, ValidationError
from ..rave.command import FEW_CHUNKS
from ..system.units import format_bytes
from .audio import AUDIO_EXTENSIONS, AudioFile, AudioScan
from .preprocess import PreprocessRequest

__all__ = [
    "PreflightReport",
    "decoded_bytes",
    "output_problems",
    "preflight",
    "tool_problems",
]

# Decoded audio is stored as 16-bit samples in LMDB, with a little overhead per record.
STORAGE_OVERHEAD = 1.1
DISK_MARGIN_BYTES = 200 * 1024 * 1024


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
