"""Training runs on a target: checked there, started there with the same supervisor and
launcher as local runs (copied to the target's work folder), recorded here, controlled there.

A remote run is an ordinary experiment (its config names its ``target``) whose local run
folder is the cache the follower reads (see mirror.py); ``remote_runs`` holds where it is on the
target: its remote folder, and its process group (SSH) or SLURM job.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import PreflightError, RaveGuiError, ValidationError
from ..manager import TrainingManager
from ..process import supervisor
from ..rave import command as rave_command
from ..rave.command import RaveInstall, TrainSettings, install_from_probe
from ..rave.runfolder import IDENTITY_NAME, UID_KEY
from ..runs.engine import new_run_folder
from ..runs.followers import TARGET_KEY
from ..status import RUNNING
from ..store.names import check_name
from ..store.targets import RemoteRun, Target, TargetStore
from . import remote_files
from .resume import RESUME_KEY, copy_resume_point
from .scripts import (
    HELPER,
    LAUNCHER,
    LOG_NAME,
    SBATCH_NAME,
    SUPERVISOR,
    is_slurm,
    remote_path,
    run_argv,
    sbatch_script,
    ssh_command,
    tools_dir,
)
from .ssh import Connection, RemoteError

TRAINWATCH = "trainwatch.py"  # beside the launcher once present: save-now (SIGUSR1), monitor


@dataclass
class RemoteRave:
    """The RAVE installation on a target."""

    executable: str  # the rave command, as found there
    python: str  # its interpreter
    install: RaveInstall | None = None


def find_rave(conn: Connection, target: Target) -> RemoteRave:
    """The remote `rave` command and its Python (from its #! line), or PreflightError."""
    rave = target.rave[2:] if target.rave.startswith("~/") else target.rave
    script = f'P=$(command -v -- {shlex.quote(rave)}) || exit 3; echo "$P"; head -n1 -- "$P"'
    res = conn.run(script, check=False)
    lines = res.text.splitlines()
    if res.returncode != 0 or not lines:
        raise PreflightError(
            f"RAVE was not found on {target.name} as {target.rave!r}: install acids-rave there "
            "or give its path (rave-gui targets add ... --rave ~/venv/bin/rave)."
        )
    path, shebang = lines[0], (lines[1] if len(lines) > 1 else "")
    if not path.startswith("/"):
        path = conn.run(["sh", "-c", 'cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")"',
                         "sh", path]).text.strip()  # fmt: skip
    if not shebang.startswith("#!"):
        raise PreflightError(f"{path} on {target.name} is not RAVE's console script (no #!).")
    parts = shebang[2:].split()
    python = parts[0] if parts else ""
    if posixpath.basename(python) == "env" and len(parts) > 1:
        python = conn.run(["sh", "-c", 'command -v -- "$1"', "sh", parts[1]]).text.strip()
    if not python:
        raise PreflightError(f"The Python of {path} on {target.name} cannot be told.")
    return RemoteRave(path, python)


def install_tools(conn: Connection, target: Target) -> str:
    """Copy the supervisor, the launcher and the file helper to the target; their folder."""
    folder = tools_dir(target)
    for name, source in (
        (SUPERVISOR, Path(supervisor.__file__)),
        (LAUNCHER, rave_command.LAUNCHER),
        (HELPER, Path(remote_files.__file__)),
    ):
        conn.upload(source.read_bytes(), posixpath.join(folder, name))
    watch = rave_command.LAUNCHER.with_name(TRAINWATCH)  # the launcher loads it from its folder
    if watch.exists():
        conn.upload(watch.read_bytes(), posixpath.join(folder, TRAINWATCH))
    return folder


def probe(conn: Connection, target: Target, tools: str | None = None) -> RemoteRave:
    """RAVE on the target, inspected by the same launcher as here (its version, configs)."""
    rave = find_rave(conn, target)
    tools = tools or install_tools(conn, target)
    res = conn.run([rave.python, posixpath.join(tools, LAUNCHER), "--probe"], check=False)
    rave.install = install_from_probe(rave.executable, rave.python, res.text, res.stderr)
    return rave


def remote_dataset(conn: Connection, path: str) -> dict[str, Any]:
    """The metadata of a preprocessed dataset on the target (PreflightError if it is not one)."""
    res = conn.run(["cat", "--", posixpath.join(path, "metadata.yaml")], check=False)
    if res.returncode != 0:
        raise PreflightError(
            f"{path} on {conn.target.name} has no metadata.yaml: give the path of a "
            "preprocessed dataset on the target (`rave preprocess` there, or upload one)."
        )
    try:
        data = yaml.safe_load(res.text)
    except yaml.YAMLError as err:
        raise PreflightError(f"{path}/metadata.yaml on {conn.target.name}: {err}") from err
    if not isinstance(data, dict) or "channels" not in data:
        raise PreflightError(f"{path}/metadata.yaml on {conn.target.name} lacks channels.")
    return data


def preflight(conn: Connection, settings: TrainSettings, install: RaveInstall) -> None:
    """What can be checked before a remote start: the settings, the dataset there, the
    configurations its RAVE has. Raises PreflightError listing every problem."""
    problems: list[str] = []
    try:
        settings.validate()
    except ValidationError as err:
        problems.append(str(err))
    try:
        meta = remote_dataset(conn, settings.dataset_path)
        if settings.channels is None:
            settings.channels = int(meta["channels"])
    except PreflightError as err:
        problems.append(str(err))
    known = set(install.config_names())
    for c in settings.configs:
        if c not in known:
            problems.append(
                f"RAVE {install.version} on {conn.target.name} has no configuration {c!r}."
            )
    if problems:
        raise PreflightError("\n".join(problems))


def submit(
    manager: TrainingManager,
    config: dict[str, Any],
    target_name: str,
    runs_dir: str | Path,
    *,
    known_hosts: Path | None = None,
) -> int:
    """Check a training on a target, record it and start it there. Returns the experiment id.

    ``runs_dir``: the local folder the run's cache folder is made in."""
    targets = TargetStore(manager.db)
    target = targets.get(target_name)
    name = check_name(config.get("name"), "experiment")
    settings = TrainSettings.from_config(config, name=name)
    conn = Connection(target, known_hosts)
    tools = install_tools(conn, target)
    rave = probe(conn, target, tools)
    assert rave.install is not None
    preflight(conn, settings, rave.install)
    project_id = config.get("project_id")
    project_id = manager.projects.default_id() if project_id is None else int(project_id)
    if any(e.name == name for e in manager.list_experiments(project_id, search=None)):
        raise ValidationError(f"An experiment named {name!r} already exists in this project.")
    stored = {**config, **settings.to_config(), "project_id": project_id, TARGET_KEY: target.name}
    stored.pop(UID_KEY, None)
    exp_id = manager.start_training(stored)
    try:
        new_run_folder(manager, exp_id, Path(runs_dir).expanduser().resolve())
        launch(manager, exp_id, conn, rave, tools)
    except RaveGuiError:
        if manager.get_experiment(exp_id).status != RUNNING:
            manager.experiments.delete(exp_id)
        raise
    return exp_id


def plan(
    target: Target, exp_name: str, settings: TrainSettings, rave: RemoteRave, run_folder: str,
    home: str = "~",
) -> tuple[str, list[str], str]:  # fmt: skip
    """The remote run folder, the supervisor argv and what is run there (the SSH command line
    or the whole sbatch script): what the confirmation page shows. ``home``: the login's home
    on the target (paths are made absolute with it)."""
    assert rave.install is not None
    remote_dir = posixpath.join(home, remote_path(target.workdir, run_folder))
    tools = posixpath.join(home, tools_dir(target))
    settings.out_path = "."  # relative to the run folder, its working directory
    argv = run_argv(settings, rave.install, tools)
    if is_slurm(target):
        return remote_dir, argv, sbatch_script(target, exp_name, remote_dir, argv)
    return remote_dir, argv, ssh_command(remote_dir, argv)


def launch(
    manager: TrainingManager, exp_id: int, conn: Connection, rave: RemoteRave, tools: str
) -> RemoteRun:
    """Start a recorded experiment on its target (tools installed, RAVE probed)."""
    exp = manager.get_experiment(exp_id)
    assert exp.run_dir is not None
    settings = TrainSettings.from_config(exp.config, name=exp.name)
    home = conn.run("pwd").text.strip()
    remote_dir, argv, text = plan(
        conn.target, exp.name, settings, rave, Path(exp.run_dir).name, home
    )
    return start(manager, exp_id, conn, remote_dir, argv, text, rave.python,
                 posixpath.join(home, tools))  # fmt: skip


def start(
    manager: TrainingManager, exp_id: int, conn: Connection, remote_dir: str, argv: list[str],
    text: str, python: str, tools: str,
) -> RemoteRun:  # fmt: skip
    """Start ``text`` (the SSH command line or sbatch script running the supervisor ``argv``)
    in ``remote_dir`` for a recorded experiment, and record where it runs. ``python``: the
    target's Python for the file helper in ``tools`` (absolute paths)."""
    exp = manager.get_experiment(exp_id)
    target = conn.target
    assert exp.run_dir is not None
    local = Path(exp.run_dir)
    conn.run(["mkdir", "-p", "--", remote_dir])
    conn.upload((local / IDENTITY_NAME).read_bytes(), posixpath.join(remote_dir, IDENTITY_NAME))
    if exp.config.get(RESUME_KEY):  # resumed: from a copy of the checkpoint, made there
        copy_resume_point(conn, remote_dir, exp.config[RESUME_KEY])
    run = RemoteRun(exp_id, target.name, target.kind, remote_dir, target_id=target.id)
    if is_slurm(target):
        script = posixpath.join(remote_dir, SBATCH_NAME)
        conn.upload(text.encode(), script, mode="755")
        out = conn.run(["sbatch", "--parsable", script]).text.strip()
        run.job_id = out.split(";")[0]
        run.state = "PENDING"
    else:
        out = conn.run(text).text.strip()
        try:
            run.pid = int(out.splitlines()[-1])
        except (ValueError, IndexError):
            raise RemoteError(f"The run did not start on {target.name}: {out!r}") from None
        run.state = "RUNNING"
    TargetStore(manager.db).set_run(run)
    manager.experiments.update(
        exp_id,
        command=argv,
        log_path=str(local / LOG_NAME),
        config={
            **exp.config,
            TARGET_KEY: target.name,
            "remote_dir": remote_dir,
            "remote_python": python,
            "remote_tools": tools,
            "remote_script": text,
        },
    )
    manager.update_experiment_status(exp_id, RUNNING)
    return run


__all__ = ["RemoteRave", "find_rave", "install_tools", "plan", "probe", "start", "submit"]
