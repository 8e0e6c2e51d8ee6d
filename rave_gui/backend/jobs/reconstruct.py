"""Reconstruct a sound through a RAVE model (a checkpoint or an exported .ts) in RAVE's Python.

torch never loads in the app's process: ``rave/reconstructor.py`` runs with the
Python of the ``rave`` installation (see launcher.py) and writes a 16-bit WAV; what it cannot
take (another sample rate, a channel count it cannot map) comes back as its ``rave-gui: error:``
line, raised here as a PreflightError.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..errors import CancelledError, PreflightError, ProcessError
from ..rave.command import RECONSTRUCTOR, check_writable_folder, find_rave, python_of

__all__ = [
    "MODEL_SUFFIXES",
    "check_reconstruct",
    "model_sample_rate",
    "reconstruct",
    "reconstruct_argv",
    "run_models",
]

MODEL_SUFFIXES = (".ts", ".ckpt")
_ERROR_PREFIX = "rave-gui: error: "
_SAMPLING_RATE = re.compile(r"^SAMPLING_RATE\s*=\s*(\d+)\s*$", re.M)


def run_models(run_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The models a run folder holds (checkpoints, exported .ts files), newest first."""
    if not run_dir or not Path(run_dir).is_dir():
        return []
    found = [p for p in Path(run_dir).rglob("*") if p.suffix in MODEL_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda p: (-p.stat().st_mtime, str(p)))


def model_sample_rate(model: str | os.PathLike[str]) -> int | None:
    """The sample rate a checkpoint's model works at, from its run's config.gin (None for an
    exported .ts, which only torch can read, or when no config says)."""
    model = Path(model)
    if model.suffix != ".ckpt":
        return None
    for parent in list(model.parents)[:4]:
        gin = parent / "config.gin"
        if gin.is_file():
            try:
                found = _SAMPLING_RATE.search(gin.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                return None
            return int(found.group(1)) if found else None
    return None


def reconstruct_argv(
    python: str, model: str | os.PathLike[str], source: str | os.PathLike[str], output: str
) -> list[str]:
    return [
        python, str(RECONSTRUCTOR),
        "--model", str(model), "--input", str(source), "--output", str(output),
    ]  # fmt: skip


def check_reconstruct(
    model: str | os.PathLike[str], source: str | os.PathLike[str], output: str | os.PathLike[str]
) -> None:
    """PreflightError listing what is wrong with a reconstruction's files, before torch loads."""
    problems: list[str] = []
    model, source, output = Path(model), Path(source), Path(output)
    if model.suffix not in MODEL_SUFFIXES:
        problems.append(f"{model.name} is not a RAVE model: give a checkpoint (.ckpt) or .ts.")
    elif not model.is_file():
        problems.append(f"The model {model} does not exist.")
    if not source.is_file():
        problems.append(f"The input {source} does not exist.")
    else:
        try:
            with wave.open(str(source), "rb") as w:
                w.getnframes()
                rate = w.getframerate()
        except (wave.Error, EOFError, OSError) as err:
            problems.append(f"{source.name} is not a PCM WAV file ({err}).")
        else:
            wanted = model_sample_rate(model) if model.is_file() else None
            if wanted and wanted != rate:  # said before torch loads (the model says it too)
                problems.append(
                    f"{source.name} is at {rate} Hz but the model works at {wanted} Hz: "
                    f"resample it first (e.g. ffmpeg -i {source.name} -ar {wanted} "
                    f"{source.stem}-{wanted // 1000}k.wav)."
                )
    if output.resolve() == source.resolve():
        problems.append("The output would overwrite the input: choose another file.")
    else:
        try:
            check_writable_folder(output.resolve().parent)
        except PreflightError as err:
            problems.append(str(err))
    if problems:
        raise PreflightError(" ".join(problems))


def reconstruct(
    rave_executable: str,
    model: str | os.PathLike[str],
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    on_line: Callable[[str], None] | None = None,
    timeout: float | None = 600.0,
    cancelled: Callable[[], bool] | None = None,
) -> Path:
    """Write ``source`` reconstructed by ``model`` to ``output``; ``on_line`` gets each
    progress line. Raises PreflightError for bad input, ProcessError if the child fails,
    CancelledError when ``cancelled()`` turned true (the child is killed then)."""
    check_reconstruct(model, source, output)
    rave = find_rave(rave_executable)
    python = python_of(rave)
    if python is None:
        raise PreflightError(f"Cannot tell which Python runs {rave}: its first line is no #!.")
    argv = reconstruct_argv(python, model, source, str(output))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            start_new_session=True,
        )  # fmt: skip
    except OSError as err:
        raise ProcessError(f"Cannot start {python}: {err}") from err
    tail: deque[str] = deque(maxlen=40)  # one stream: stderr can never fill up and block
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    stopped = threading.Event()

    def watch() -> None:  # the user's cancel, between the child's lines
        while proc.poll() is None and cancelled is not None:
            if cancelled():
                stopped.set()
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, name="reconstruct-cancel", daemon=True)
    if cancelled is not None:
        watcher.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            if on_line is not None and not line.startswith(_ERROR_PREFIX):
                on_line(line)
        code = proc.wait()
    except KeyboardInterrupt:
        kill()
        proc.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if proc.stdout is not None:
            proc.stdout.close()
        if watcher.is_alive():
            watcher.join()
    if stopped.is_set():
        raise CancelledError("Cancelled.")
    if timed_out.is_set():
        raise CancelledError(f"The reconstruction took more than {timeout:g} s: stopped.")
    if code == 0:
        return Path(output)
    ours = [x[len(_ERROR_PREFIX) :] for x in tail if x.startswith(_ERROR_PREFIX)]
    if ours:
        raise PreflightError(ours[-1][:1].upper() + ours[-1][1:] + ".")
    last = "\n".join(list(tail)[-5:])
    raise ProcessError(f"The reconstruction failed (exit code {code}):\n{last}")
