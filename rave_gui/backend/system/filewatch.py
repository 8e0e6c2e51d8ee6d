"""FileWatch: sleep until files under some folders change (Linux inotify, through libc), or a
timeout passes, or another thread wakes the sleeper. Where inotify is missing (another OS, no
watches left) it is a plain timed sleep: the caller's timeout is then its poll interval.

A follower polls once, then waits here: a run that writes nothing costs nothing until its
fallback timeout, and a point written is read within the follower's shortest interval instead
of after its longest."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

# inotify(7)
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000

MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_MOVE_SELF
)  # fmt: skip
EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)
QUIET_POLL_S = 2.0  # a follower's poll while its watched files stay unchanged (the process
# watch, a stop's escalation and the progress line need one now and then)
MAX_WATCHES = 256  # folders per FileWatch: a run folder has a handful
MAX_DEPTH = 4  # a run folder's tfevents and checkpoints sit 2-3 levels down


class _Inotify:
    """The three libc calls, or None where they are missing."""

    _libc: ctypes.CDLL | None = None
    _tried = False

    @classmethod
    def libc(cls) -> ctypes.CDLL | None:
        if not cls._tried:
            cls._tried = True
            if sys.platform.startswith("linux"):
                try:
                    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                    lib.inotify_init1.argtypes = [ctypes.c_int]
                    lib.inotify_add_watch.argtypes = [
                        ctypes.c_int,
                        ctypes.c_char_p,
                        ctypes.c_uint32,
                    ]
                    cls._libc = lib
                except (OSError, AttributeError):
                    cls._libc = None
        return cls._libc


class FileWatch:
    """Watches folders (each with its subfolders, to ``MAX_DEPTH``, new ones included).

    ``wait(timeout)`` returns True when something changed under them since the last wait (or
    was woken by ``wake``), False when the timeout passed. ``native`` says whether changes are
    seen at all (else every wait lasts its timeout, unless woken)."""

    def __init__(self, folders: Iterable[str | os.PathLike[str]] = ()) -> None:
        self._lock = threading.Lock()  # one wait at a time; close waits for it
        self._wake_lock = threading.Lock()  # a wake never writes to a pipe being closed
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._fd = -1
        self._paths: dict[int, Path] = {}  # watch descriptor: folder
        self._roots: list[Path] = []
        self._missing: list[Path] = []  # roots not there yet: watched once they are
        lib = _Inotify.libc()
        if lib is not None:
            fd = lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd >= 0:
                self._fd = fd
        for f in folders:
            self.add(f)

    @property
    def native(self) -> bool:
        return self._fd >= 0

    @property
    def watched(self) -> list[Path]:
        return sorted(self._paths.values())

    def add(self, folder: str | os.PathLike[str]) -> None:
        """Watch ``folder`` and its subfolders; one not there yet is watched when it appears
        (looked for at each wait)."""
        root = Path(folder)
        if root in self._roots:
            return
        self._roots.append(root)
        if not self._add_tree(root, 0):
            self._missing.append(root)

    def _add_tree(self, folder: Path, depth: int) -> bool:
        if not self.native or len(self._paths) >= MAX_WATCHES:
            return False
        lib = _Inotify.libc()
        assert lib is not None
        wd = lib.inotify_add_watch(self._fd, os.fsencode(folder), MASK | IN_ONLYDIR)
        if wd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSPC:  # the user's inotify watches are used up: poll instead
                self._give_up()
            return False
        self._paths[wd] = folder
        if depth < MAX_DEPTH:
            try:
                with os.scandir(folder) as it:
                    subs = [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
            except OSError:
                subs = []
            for sub in subs:
                self._add_tree(sub, depth + 1)
        return True

    def _depth(self, folder: Path) -> int:
        for root in self._roots:
            if folder == root or root in folder.parents:
                return len(folder.relative_to(root).parts)
        return MAX_DEPTH

    def _give_up(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._paths.clear()

    def _look_for_missing(self) -> bool:
        found = [r for r in self._missing if self._add_tree(r, 0)]
        for r in found:
            self._missing.remove(r)
        return bool(found)

    def wake(self) -> None:
        """End a wait now (from any thread)."""
        with self._wake_lock:
            if self._wake_w < 0:
                return  # closed
            try:
                os.write(self._wake_w, b"x")
            except OSError:  # the pipe is full: woken already
                pass

    def wait(self, timeout: float) -> bool:
        """Sleep until a change, a wake or ``timeout`` seconds; True unless the timeout passed."""
        with self._lock:
            if self._wake_r < 0:
                return False
            if self._missing and self.native and self._look_for_missing():
                return True  # a folder appeared: something to read there
            fds = [self._wake_r] + ([self._fd] if self.native else [])
            try:
                ready, _, _ = select.select(fds, [], [], max(0.0, timeout))
            except (OSError, ValueError):
                return False
            changed = False
            if self._wake_r in ready:
                self._drain(self._wake_r)
                changed = True
            if self.native and self._fd in ready:
                changed = self._read_events() or changed
            return changed

    @staticmethod
    def _drain(fd: int) -> bytes:
        chunks = []
        while True:
            try:
                b = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)

    def _read_events(self) -> bool:
        data = self._drain(self._fd)
        pos = 0
        while pos + EVENT.size <= len(data):
            wd, mask, _cookie, length = EVENT.unpack_from(data, pos)
            name = data[pos + EVENT.size : pos + EVENT.size + length].rstrip(b"\0")
            pos += EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                continue  # events were lost: a change happened, which is all we say
            folder = self._paths.get(wd)
            if mask & IN_IGNORED:
                gone = self._paths.pop(wd, None)
                if gone is not None and gone in self._roots:
                    self._missing.append(gone)  # deleted or moved: watched again if it returns
                continue
            if folder is not None and mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO) and name:
                sub = folder / os.fsdecode(name)
                depth = self._depth(sub)
                if depth <= MAX_DEPTH:
                    self._add_tree(sub, depth)
        return True

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._paths.clear()
            with self._wake_lock:
                for fd in (self._wake_r, self._wake_w):
                    if fd >= 0:
                        os.close(fd)
                self._wake_r = self._wake_w = -1

    def __enter__(self) -> FileWatch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


__all__ = ["QUIET_POLL_S", "FileWatch"]
