"""TensorBoard for chosen runs: `tensorboard` from RAVE's environment on a free local port.

RAVE logs with TensorBoard, so its environment has it (``python -m tensorboard.main``). Several
runs are given as a ``--logdir_spec name:folder,name:folder`` so each keeps its name in
TensorBoard's run list. The server runs in its own process group; ``stop`` ends it. Pure Python:
the app (core/tensorboard.py) and `rave-gui runs tensorboard` share it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotFoundError, ProcessError, RaveGuiError
from .settings import Settings

if TYPE_CHECKING:
    from ..manager import TrainingManager

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0


class TensorBoardError(ProcessError):
    """TensorBoard could not be started or stopped serving."""


class TensorBoardNotInstalled(RaveGuiError):
    """The Python that runs RAVE has no TensorBoard."""


def rave_python(settings: Settings) -> str:
    """The Python interpreter of the configured `rave` command (from its ``#!`` line); this
    interpreter's own when the `rave` command is not found."""
    import shutil

    from ..rave.command import python_of

    rave = settings.resolved_rave()
    found = rave if os.sep in rave else shutil.which(rave)
    python = python_of(found) if found else None
    return python or sys.executable


def check_installed(python: str) -> None:
    """TensorBoardNotInstalled unless ``python`` can import tensorboard."""
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorboard') is None)"
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TensorBoardNotInstalled(f"Cannot run RAVE's Python {python}: {err}") from err
    if proc.returncode != 0:
        raise TensorBoardNotInstalled(
            f"TensorBoard is not installed in RAVE's environment ({python}). Install it there "
            f"with `{python} -m pip install tensorboard`, then try again."
        )


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_answers(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def logdir_spec(runs: Sequence[tuple[str, str]]) -> str:
    """``name:folder,name:folder`` for TensorBoard (names made unique and free of ``:`` and
    ``,``, which the spec uses as separators)."""
    parts: list[str] = []
    used: set[str] = set()
    for name, folder in runs:
        if "," in folder:
            raise TensorBoardError(
                f"TensorBoard cannot take the folder {folder}: its path contains a comma."
            )
        base = re.sub(r"[:,\s]+", "_", name).strip("_") or "run"
        unique, i = base, 2
        while unique in used:
            unique, i = f"{base}-{i}", i + 1
        used.add(unique)
        parts.append(f"{unique}:{folder}")
    return ",".join(parts)


@dataclass
class TensorBoardPlan:
    """One TensorBoard to start: its command and where it will answer."""

    python: str
    runs: list[tuple[str, str]]  # (name, folder)
    port: int
    argv: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


def tensorboard_argv(python: str, runs: Sequence[tuple[str, str]], port: int) -> list[str]:
    """The command serving ``runs`` on ``port`` (one run: ``--logdir``; more: ``--logdir_spec``)."""
    argv = [python, "-m", "tensorboard.main"]
    if len(runs) == 1:
        argv += ["--logdir", runs[0][1]]
    else:
        argv += ["--logdir_spec", logdir_spec(runs)]
    return [*argv, "--host", HOST, "--port", str(port)]


def plan_for(
    runs: Sequence[tuple[str, str | None]], settings: Settings, *, check: bool = True
) -> TensorBoardPlan:
    """The TensorBoard for runs given as (name, run folder): NotFoundError for a run without
    a folder on disk, TensorBoardNotInstalled when RAVE's Python lacks it (``check``)."""
    if not runs:
        raise NotFoundError("Choose at least one run to open in TensorBoard.")
    folders: list[tuple[str, str]] = []
    for name, folder in runs:
        if not folder or not Path(folder).is_dir():
            raise NotFoundError(
                f"Run {name!r} has no run folder on disk"
                + (f" ({folder})" if folder else "")
                + ": TensorBoard reads the event files there."
            )
        folders.append((name, str(folder)))
    python = rave_python(settings)
    if check:
        check_installed(python)
    port = free_port()
    return TensorBoardPlan(python, folders, port, tensorboard_argv(python, folders, port))


def run_folders(manager: TrainingManager, ids: Sequence[int]) -> list[tuple[str, str | None]]:
    """(name, run folder) of each run (NotFoundError for an unknown id)."""
    return [(e.name, e.run_dir) for e in (manager.get_experiment(i) for i in ids)]


@dataclass
class TensorBoardServer:
    """A started TensorBoard (its process leads its own group)."""

    plan: TensorBoardPlan
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return self.plan.url

    def running(self) -> bool:
        return self.process.poll() is None

    def output_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-limit:].strip()
        except OSError:
            return ""

    def wait_until_serving(self, timeout: float = START_TIMEOUT_S) -> None:
        """Return once the port answers; TensorBoardError if the process ends or the time is up
        first (with the end of what it printed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_answers(self.plan.port):
                return
            if not self.running():
                raise TensorBoardError(
                    f"TensorBoard ended (exit code {self.process.returncode}) before serving: "
                    f"{self.output_tail() or 'it printed nothing'}"
                )
            time.sleep(0.2)
        self.stop()
        raise TensorBoardError(
            f"TensorBoard did not answer on port {self.plan.port} within {timeout:.0f} s."
        )

    def stop(self, timeout: float = 5.0) -> None:
        """End the server and everything it started (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:
            self.log_path.unlink()
        except OSError:
            pass


def start(plan: TensorBoardPlan) -> TensorBoardServer:
    """Start TensorBoard (not waiting for it to serve: see ``wait_until_serving``)."""
    fd, log = tempfile.mkstemp(prefix="rave-gui-tensorboard-", suffix=".log")
    try:
        proc = subprocess.Popen(
            plan.argv,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as err:
        raise TensorBoardError(f"Cannot start TensorBoard ({plan.python}): {err}") from err
    finally:
        os.close(fd)
    return TensorBoardServer(plan, proc, Path(log))


__all__ = [
    "TensorBoardError",
    "TensorBoardNotInstalled",
    "TensorBoardPlan",
    "TensorBoardServer",
    "check_installed",
    "free_port",
    "logdir_spec",
    "plan_for",
    "port_answers",
    "rave_python",
    "run_folders",
    "start",
    "tensorboard_argv",
]
