"""The audio files `rave preprocess` will read: finding them as it does, measuring each one."""

# acids-rave 2.3.1's ``scripts/preprocess.py`` reads the files under each ``--input_path`` whose
# names end in ``.EXT`` or ``.EXT_UPPER`` for its default extensions (``a.wav`` and ``a.WAV``,
# not ``a.Wav``), hidden files included.

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
import wave
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..system.units import format_duration

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioFile",
    "AudioScan",
    "find_audio_files",
    "probe_audio",
    "rave_reads",
    "scan_audio",
]

AUDIO_EXTENSIONS = ("aif", "aiff", "wav", "opus", "mp3", "aac", "flac", "ogg")  # RAVE's --ext
FFPROBE_TIMEOUT_S = 30
SCAN_WORKERS = 8


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
