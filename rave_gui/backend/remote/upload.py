"""Upload a local preprocessed dataset to a target, with progress, over the target's shared
OpenSSH connection.

rsync is used when both sides have it (``--partial``: an interrupted upload resumes where it
stopped; progress from ``--info=progress2``); otherwise a tar stream is piped through ssh
(``tar -xf -`` there), its progress counted as the bytes sent. Progress is always reported as
(bytes done, bytes total), the total being the local files' size. Once copied, the dataset is
checked there the way a run's preflight does (its metadata.yaml read back).
"""

from __future__ import annotations

import posixpath
import re
import shlex
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import NotFoundError, ValidationError
from .runs import remote_dataset
from .scripts import remote_path
from .ssh import Connection, RemoteError

DATASETS_DIR = "datasets"  # in the target's work folder: the default place of uploads
CHUNK = 1 << 20

Progress = Callable[[int, int], None]


class UploadCancelled(RemoteError):
    """The upload was cancelled before it completed (what was copied stays: rsync resumes)."""


@dataclass
class UploadResult:
    remote_path: str  # absolute, on the target
    bytes_total: int
    files: int
    method: str  # "rsync" or "tar"
    metadata: dict[str, Any]


def local_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def check_local_dataset(folder: Path) -> tuple[list[Path], int]:
    """The files of a local preprocessed dataset and their total size."""
    if not folder.is_dir():
        raise NotFoundError(f"{folder} is not a folder: give a preprocessed dataset's folder.")
    if not (folder / "metadata.yaml").is_file():
        raise ValidationError(
            f"{folder} has no metadata.yaml: it is not a preprocessed dataset "
            "(rave-gui datasets preprocess makes one)."
        )
    files = local_files(folder)
    return files, sum(p.stat().st_size for p in files)


def default_remote_path(conn: Connection, folder: Path) -> str:
    """``<work folder>/datasets/<the local folder's name>`` on the target, absolute."""
    home = conn.run("pwd").text.strip()
    return posixpath.join(home, remote_path(conn.target.workdir, DATASETS_DIR, folder.name))


def _has_rsync(conn: Connection) -> bool:
    if shutil.which("rsync") is None:
        return False
    return conn.run("command -v rsync >/dev/null", check=False).returncode == 0


_PROGRESS2 = re.compile(rb"^\s*([\d,.]+)\s+\d+%")


def _pump(
    proc: subprocess.Popen[bytes], on_chunk: Callable[[bytes], None], stop: Callable[[], bool]
) -> None:
    """Read ``proc``'s stdout until it ends; kill it when ``stop()`` says so."""
    assert proc.stdout is not None
    while True:
        data = proc.stdout.read1(65536)  # type: ignore[attr-defined]
        if not data:
            break
        on_chunk(data)
        if stop():
            proc.kill()
            break


def _rsync(
    conn: Connection, folder: Path, dest: str, total: int, progress: Progress,
    stop: Callable[[], bool],
) -> None:  # fmt: skip
    ssh = shlex.join(conn.base_argv()[:-2])  # without "--" and the address
    argv = [
        "rsync", "-a", "--partial", "--protect-args", "--info=progress2", "--no-inc-recursive",
        "-e", ssh,
        "--rsync-path", f"mkdir -p -- {shlex.quote(dest)} && rsync",
        f"{folder}/", f"{conn.target.address}:{dest}/",  # unquoted: -s sends it as is
    ]  # fmt: skip
    buf = b""

    def chunk(data: bytes) -> None:
        nonlocal buf
        buf += data
        *parts, buf = re.split(rb"[\r\n]", buf)
        for part in parts:
            m = _PROGRESS2.match(part)
            if m:
                done = int(m.group(1).replace(b",", b"").replace(b".", b""))
                progress(min(done, total), total)

    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as proc:
        _pump(proc, chunk, stop)
        assert proc.stderr is not None
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        code = proc.wait()
    if stop():
        raise UploadCancelled(f"Upload to {conn.target.name} cancelled (rsync resumes it).")
    if code != 0:
        raise RemoteError(f"rsync to {conn.target.name} failed (exit {code}): {err[-800:]}")


class _Counting:
    """A write-only file object that forwards to ``out`` and reports the bytes written."""

    def __init__(self, out: IO[bytes], total: int, progress: Progress, stop: Callable[[], bool]):
        self.out, self.total, self.progress, self.stop = out, total, progress, stop
        self.done = 0

    def write(self, data: bytes) -> int:
        if self.stop():
            raise UploadCancelled("cancelled")
        self.out.write(data)
        self.done += len(data)
        self.progress(min(self.done, self.total), self.total)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


def _tar(
    conn: Connection, folder: Path, files: list[Path], dest: str, total: int, progress: Progress,
    stop: Callable[[], bool],
) -> None:  # fmt: skip
    line = f"mkdir -p -- {shlex.quote(dest)} && tar -C {shlex.quote(dest)} -xf -"
    errors: list[bytes] = []
    with subprocess.Popen(
        [*conn.base_argv(), line], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stderr is not None
        err_pipe = proc.stderr
        reader = threading.Thread(target=lambda: errors.append(err_pipe.read()), daemon=True)
        reader.start()
        counting = _Counting(proc.stdin, total, progress, stop)
        try:
            fmt = tarfile.PAX_FORMAT
            with tarfile.open(fileobj=counting, mode="w|", format=fmt) as tar:  # type: ignore[call-overload]
                for f in files:
                    tar.add(str(f), arcname=f.relative_to(folder).as_posix(), recursive=False)
            proc.stdin.close()
        except UploadCancelled:
            proc.kill()
            proc.wait()
            reader.join()
            raise UploadCancelled(f"Upload to {conn.target.name} cancelled.") from None
        except BrokenPipeError:
            pass  # the remote side ended: its exit code and message say why
        code = proc.wait()
        reader.join()
    if code != 0:
        said = b"".join(errors).decode("utf-8", "replace").strip()
        raise RemoteError(f"Copying to {conn.target.name} failed (exit {code}): {said[-800:]}")


def upload_dataset(
    conn: Connection,
    folder: str | Path,
    dest: str | None = None,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    method: str | None = None,
) -> UploadResult:
    """Copy the preprocessed dataset ``folder`` to ``dest`` on the target (default: the work
    folder's ``datasets/NAME``), then check it there (metadata.yaml).

    ``progress(done, total)`` is called from this thread as bytes go out; ``should_stop()``
    cancels (UploadCancelled). ``method``: "rsync" or "tar" to force one (default: rsync when
    both sides have it)."""
    local = Path(folder).expanduser().resolve()
    files, total = check_local_dataset(local)
    report = progress or (lambda _d, _t: None)
    stop = should_stop or (lambda: False)
    if dest:
        dest = dest.rstrip("/") or "/"
        if not dest.startswith("/"):
            home = conn.run("pwd").text.strip()
            dest = posixpath.join(home, dest[2:] if dest.startswith("~/") else dest)
    else:
        dest = default_remote_path(conn, local)
    if method is None:
        method = "rsync" if _has_rsync(conn) else "tar"
    report(0, total)
    if method == "rsync":
        _rsync(conn, local, dest, total, report, stop)
    elif method == "tar":
        _tar(conn, local, files, dest, total, report, stop)
    else:
        raise ValidationError(f"Unknown upload method {method!r}: rsync or tar.")
    report(total, total)
    meta = remote_dataset(conn, dest)
    return UploadResult(dest, total, len(files), method, meta)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


__all__ = [
    "UploadCancelled",
    "UploadResult",
    "check_local_dataset",
    "default_remote_path",
    "human_bytes",
    "upload_dataset",
]
