"""What is run on a target: the remote command line of an SSH run, the sbatch script of a SLURM
run, both built from the same argv as a local run (each argument quoted)."""

from __future__ import annotations

import os
import posixpath
import shlex

from ..rave.command import RaveInstall, TrainSettings, train_argv
from ..rave.log_interval import log_every_env
from ..store.targets import SLURM, Target

TOOLS_DIR = ".rave-gui"  # in the target's work folder: supervisor, launcher, file helper
SUPERVISOR = "supervisor.py"
LAUNCHER = "launcher.py"
HELPER = "remote_files.py"
LOG_NAME = "train.log"
STATUS_NAME = "train.supervisor.json"
PID_NAME = "supervisor.pid"
SBATCH_NAME = "run.sbatch"
FORWARD_ENV = ("RAVE_GUI_LOG_EVERY_N_STEPS",)  # passed on to the remote run when set here
STOP_BEFORE_LIMIT_S = 120  # SLURM: the graceful stop this long before the time limit
LIMIT_SIGNAL = "USR2"  # ... sent to the batch shell (the supervisor), which sends SIGINT on
SAVE_SIGNAL = "USR1"  # save a checkpoint now: the supervisor passes it to the launcher


def q(arg: str) -> str:
    return shlex.quote(arg)


def remote_path(workdir: str, *parts: str) -> str:
    """A path under the target's work folder; ``~/x`` is taken relative to the login's home
    (where ssh starts), so it needs no shell expansion."""
    base = workdir[2:] if workdir.startswith("~/") else ("." if workdir == "~" else workdir)
    return posixpath.join(base, *parts)


def tools_dir(target: Target) -> str:
    return remote_path(target.workdir, TOOLS_DIR)


def run_argv(settings: TrainSettings, install: RaveInstall, tools: str) -> list[str]:
    """The remote supervisor + launcher argv of a run (run in its remote folder)."""
    argv = train_argv(settings, install, launcher=posixpath.join(tools, LAUNCHER))
    forwarded = {k: os.environ[k] for k in FORWARD_ENV if os.environ.get(k)}
    own = log_every_env(settings.log_every) if settings.log_every else {}  # the run's own wins
    env = [f"{k}={v}" for k, v in {**forwarded, **own}.items()]
    return [
        "env", "PYTHONUNBUFFERED=1", *env,
        install.python, posixpath.join(tools, SUPERVISOR),
        "--log", LOG_NAME, "--status", STATUS_NAME, "--", *argv,
    ]  # fmt: skip


def ssh_command(run_dir: str, argv: list[str]) -> str:
    """Start ``argv`` in ``run_dir`` in a session (and process group) of its own that outlives
    the connection; prints the group's id (the supervisor's pid)."""
    inner = 'echo $$ > "$0"; exec "$@"'
    return (
        f"cd {q(run_dir)} || exit 1; rm -f {PID_NAME}; "
        f"setsid sh -c {q(inner)} {PID_NAME} {' '.join(q(a) for a in argv)} "
        f"</dev/null >/dev/null 2>>supervisor.err & "
        f"i=0; while [ ! -s {PID_NAME} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; "
        f"cat {PID_NAME}"
    )


def sbatch_script(target: Target, name: str, run_dir: str, argv: list[str]) -> str:
    """The whole batch script of a SLURM run (what the confirmation page shows)."""
    lines = ["#!/bin/sh", f"#SBATCH --job-name={q('rave-' + name)}"]
    lines.append(f"#SBATCH --output={q(posixpath.join(run_dir, 'slurm-%j.out'))}")
    lines += ["#SBATCH --open-mode=append", "#SBATCH --requeue"]
    lines.append(f"#SBATCH --signal=B:{LIMIT_SIGNAL}@{STOP_BEFORE_LIMIT_S}")
    for flag, value in (
        ("partition", target.partition),
        ("gres", target.gres),
        ("cpus-per-task", str(target.cpus) if target.cpus else ""),
        ("mem", target.memory),
        ("time", target.time_limit),
        ("account", target.account),
    ):
        if value:
            lines.append(f"#SBATCH --{flag}={q(value)}")
    lines += [f"#SBATCH {extra.strip()}" for extra in target.extra_sbatch]
    sup = argv.index("--")
    argv = [*argv[:sup], "--forward-signal", LIMIT_SIGNAL, *argv[sup:]]
    lines += [
        "",
        "# rave-gui: the supervisor runs rave train (through its launcher) and writes train.log",
        "# and train.supervisor.json; a stop is `scancel --full --signal=INT` (SIGINT to all),",
        f"# the time limit sends SIG{LIMIT_SIGNAL} to this shell only: the supervisor, which",
        "# sends SIGINT to RAVE (a clean end with a checkpoint); SIGUSR1 to this shell alone",
        "# (`scancel --batch --signal=USR1`) is passed on to the launcher: a checkpoint now.",
        f"cd {q(run_dir)} || exit 1",
        "exec " + " ".join(q(a) for a in argv),
        "",
    ]
    return "\n".join(lines)


def is_slurm(target: Target) -> bool:
    return target.kind == SLURM


__all__ = ["q", "remote_path", "run_argv", "sbatch_script", "ssh_command"]
