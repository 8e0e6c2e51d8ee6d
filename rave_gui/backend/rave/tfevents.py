"""Pure-Python incremental reader (and minimal writer) of TensorBoard event files' scalars."""

# An event file is a sequence of TFRecords (tfrecord), each holding an Event protobuf
# (eventproto). The readers here follow files as they are written, by the robustness rules of
# tfrecord: incomplete records wait, damaged bytes are skipped and reported as DataLoss.

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from .eventproto import (
    Encoding,
    ScalarPoint,
    encode_file_version,
    encode_scalar_event,
    scan_records,
)
from .tfrecord import (
    CORRUPT,
    FOOTER_BYTES,
    HEADER_BYTES,
    INCOMPLETE,
    DataLoss,
    check_header,
    find_header,
    frame_record,
    verify_record,
)

__all__ = [
    "EVENT_FILE_PREFIX",
    "EventDirFollower",
    "EventFileReader",
    "find_event_files",
    "read_scalars",
    "write_scalar_events",
]

EVENT_FILE_PREFIX = "events.out.tfevents."

_READ_CHUNK = 4 * 1024 * 1024


class EventFileReader:
    """Follows one event file: each read_new() parses only the whole records added since.

    ``offset`` counts the bytes consumed; a record still being written stays unread until
    complete. Damaged bytes are skipped (see the rules in tfrecord) and each loss is appended to
    ``losses`` (the caller takes them from there); ``corrupt`` is true while the reader is
    inside damaged bytes, looking for the next good record.
    """

    __slots__ = ("_last_step", "_loss_start", "_loss_step", "_verify", "losses", "offset", "path")

    def __init__(self, path: str | os.PathLike[str], offset: int = 0) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.losses: list[DataLoss] = []
        self._verify = False  # check the data CRC of the next record before trusting it
        self._loss_start: int | None = None  # start of the damaged bytes being skipped
        self._loss_step: int | None = None
        self._last_step: int | None = None

    def __repr__(self) -> str:
        return f"EventFileReader({str(self.path)!r}, offset={self.offset})"

    @property
    def corrupt(self) -> bool:
        """Inside damaged bytes: reading resumes at the next record that checks out."""
        return self._loss_start is not None

    def _lose(self, kind: str, offset: int, size: int, step: int | None) -> None:
        last = self.losses[-1] if self.losses else None
        if kind == "damaged" and last and last.kind == kind and last.offset + last.size == offset:
            self.losses[-1] = DataLoss(
                last.path, kind, last.offset, last.size + size, last.after_step
            )
            return  # one stretch of damage, one loss
        self.losses.append(DataLoss(str(self.path), kind, offset, size, step))

    def _consume(self, buf: bytes, base: int, out: list[ScalarPoint]) -> int:
        """Parse buf (the file's bytes from offset base), skipping damage; returns how many of
        its bytes are consumed (the rest waits for more data)."""
        i = 0
        while True:
            if self._verify:
                state = verify_record(buf, i)
                if state == INCOMPLETE:
                    return i
                if state == CORRUPT:
                    if self._loss_start is None:
                        self._loss_start, self._loss_step = base + i, self._last_step
                    i = find_header(buf, i + 1)
                    continue
                if self._loss_start is not None:
                    size = base + i - self._loss_start
                    self._lose("damaged", self._loss_start, size, self._loss_step)
                    self._loss_start = None
                self._verify = False
            n = len(out)
            bad: list[tuple[int, int, int]] = []
            i, state = scan_records(buf, i, out, bad)
            for start, size, k in bad:  # a whole record whose body is not an Event
                step = out[k - 1].step if k > n else self._last_step
                self._lose("damaged", base + start, size, step)
            if len(out) > n:
                self._last_step = out[-1].step
            if state != CORRUPT:
                return i
            self._verify = True  # the record at i is bad: the check above skips it

    def read_new(self, max_bytes: int | None = None) -> list[ScalarPoint]:
        """Scalars of the whole records after offset; a missing file gives [].

        max_bytes bounds the bytes read in this call, but a call always reads at least one
        whole record when one is there, however large. A file shorter than offset is reported
        in ``losses`` and read on from its new end.
        """
        out: list[ScalarPoint] = []
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError:
            return out
        pos = self.offset
        with f:
            try:
                size = os.fstat(f.fileno()).st_size
                if size < pos:
                    self._lose("truncated", size, pos - size, self._last_step)
                    pos = self.offset = size
                    self._loss_start = None
                    self._verify = True  # the new end may cut a record: check what comes
                if size <= pos:
                    return out
                f.seek(pos)
                end = size
                if max_bytes is not None:
                    end = min(size, pos + max(int(max_bytes), 1))
                    head = f.read(HEADER_BYTES)
                    f.seek(pos)
                    state, length = check_header(head + bytes(FOOTER_BYTES), 0)
                    if state != CORRUPT and len(head) == HEADER_BYTES:
                        end = min(size, max(end, pos + HEADER_BYTES + length + FOOTER_BYTES))
                buf = b""
                while pos + len(buf) < end:
                    want = min(end - pos - len(buf), _READ_CHUNK)
                    if len(buf) >= HEADER_BYTES:  # a record bigger than a chunk: read all of it
                        state, length = check_header(buf[:HEADER_BYTES] + bytes(FOOTER_BYTES), 0)
                        if state != CORRUPT:
                            need = HEADER_BYTES + length + FOOTER_BYTES - len(buf)
                            want = min(end - pos - len(buf), max(want, need))
                    chunk = f.read(want)
                    if not chunk:
                        break
                    buf = buf + chunk if buf else chunk
                    used = self._consume(buf, pos, out)
                    pos += used
                    buf = buf[used:]
            except OSError:
                pass
            self.offset = pos
        return out

    def end(self) -> None:
        """The run that writes the file has ended: bytes left unread are lost for good
        (damage still being skipped, a record cut off at the end); add them to ``losses``."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if self._loss_start is not None:
            if size > self._loss_start:
                self._lose("damaged", self._loss_start, size - self._loss_start, self._loss_step)
            self._loss_start = None
        elif size > self.offset:
            self._lose("incomplete", self.offset, size - self.offset, self._last_step)
        self.offset = max(self.offset, size)


def _version_number(rel_parts: tuple[str, ...]) -> int:
    """N of the innermost version_N folder on a file's path below the root; -1 if none."""
    for part in reversed(rel_parts):
        m = _VERSION_RE.fullmatch(part)
        if m:
            return int(m.group(1))
    return -1


_VERSION_RE = re.compile(r"version_(\d+)")


def find_event_files(root: str | os.PathLike[str]) -> list[Path]:
    """The event files under a run folder, in the order EventDirFollower reads them (by
    version_N number, then name; ``checkpoints`` folders not searched)."""
    root = Path(root)
    found: list[tuple[int, str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "checkpoints"]
        for name in filenames:
            if name.startswith(EVENT_FILE_PREFIX):
                p = Path(dirpath, name)
                found.append((_version_number(p.relative_to(root).parts[:-1]), name, p))
    return [p for _, _, p in sorted(found)]


class EventDirFollower:
    """Follows every event file under a run folder (recursively), each from its own offset.

    Files are found again at each poll, so a new ``version_N/`` folder or a new event file is
    picked up as it appears. ``offsets`` (keyed by str(path) of each file, path being the root
    as given joined with the file's path below it) lets a later follower resume where this one
    stopped; keys given to __init__ are matched by absolute path, so a relative or absolute root
    both work. Files are read in order of (version number, file name); files not below any
    ``version_N`` folder come first. ``checkpoints`` folders are not searched.
    """

    def __init__(self, root: str | os.PathLike[str], offsets: dict[str, int] | None = None) -> None:
        self.root = Path(root)
        self._saved = {os.path.abspath(k): int(v) for k, v in (offsets or {}).items()}
        self._readers: dict[str, EventFileReader] = {}
        self._versions: dict[str, int] = {}
        self._walked: set[str] = set()  # os.walk paths already turned into readers
        self._order: list[EventFileReader] = []

    def _add(self, path: Path, version: int) -> bool:
        key = str(path)
        if key in self._readers:
            return False
        self._readers[key] = EventFileReader(path, self._saved.get(os.path.abspath(path), 0))
        self._versions[key] = version
        return True

    def _discover(self) -> None:
        root = self.root
        added = False
        if root.is_file():
            added = self._add(root, -1)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "checkpoints"]
            for name in filenames:
                if not name.startswith(EVENT_FILE_PREFIX):
                    continue
                raw = os.path.join(dirpath, name)
                if raw in self._walked:
                    continue
                self._walked.add(raw)
                p = Path(raw)
                added |= self._add(p, _version_number(p.relative_to(root).parts[:-1]))
        if added:
            self._order = [
                self._readers[k]
                for k in sorted(self._readers, key=lambda k: (self._versions[k], Path(k).name, k))
            ]

    def poll(self, max_bytes: int | None = None) -> list[ScalarPoint]:
        """New points of all files, never re-reading consumed bytes.

        max_bytes bounds the bytes read from each file in this call (see read_new).
        """
        self._discover()
        out: list[ScalarPoint] = []
        for reader in self._order:
            out.extend(reader.read_new(max_bytes))
        return out

    def take_losses(self, *, ended: bool = False) -> list[DataLoss]:
        """What could not be read since the last call (see DataLoss). ended: the run is over,
        so what is still unread (a cut-off last record, damage at the end) is lost too."""
        out: list[DataLoss] = []
        if ended:
            self._discover()
        for reader in self._order:
            if ended:
                reader.end()
            out.extend(reader.losses)
            reader.losses.clear()
        return out

    @property
    def files(self) -> list[Path]:
        """The event files found so far, in reading order."""
        return [r.path for r in self._order]

    @property
    def offsets(self) -> dict[str, int]:
        """Bytes consumed per file (str(path) -> offset), for a follower that resumes later."""
        result = {k: v for k, v in self._saved.items()}
        for key, reader in self._readers.items():
            result.pop(os.path.abspath(reader.path), None)
            result[key] = reader.offset
        return result


def read_scalars(path_or_dir: str | os.PathLike[str]) -> list[ScalarPoint]:
    """Every scalar in an event file, or in every event file under a folder."""
    path = Path(path_or_dir)
    if path.is_dir():
        return EventDirFollower(path).poll()
    return EventFileReader(path).read_new()


# --- writer ---------------------------------------------------------------------------------


def write_scalar_events(
    path: str | os.PathLike[str],
    points: Iterable[ScalarPoint],
    *,
    encoding: Encoding = "simple_value",
    wall_time: float | None = None,
) -> None:
    """Write a valid event file: the file_version record, then one Event per point.

    wall_time is the file_version record's (default: the first point's, else 0).
    """
    points = iter(points)
    first = next(points, None)
    if wall_time is None:
        wall_time = first.wall_time if first is not None else 0.0
    version = encode_file_version(wall_time)
    with open(path, "wb") as f:
        f.write(frame_record(version))
        if first is None:
            return
        batch = [frame_record(encode_scalar_event(first, encoding))]
        for p in points:
            batch.append(frame_record(encode_scalar_event(p, encoding)))
            if len(batch) >= 8192:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))
