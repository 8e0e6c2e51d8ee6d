"""`targets check`: connect to a target and say what it offers and exactly what is missing."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ..errors import PreflightError, RaveGuiError
from ..store.targets import SLURM, Target
from .runs import probe
from .scripts import remote_path
from .ssh import Connection, UnknownHostError


@dataclass
class CheckReport:
    target: str
    connected: bool = False
    rave: str = ""  # the remote rave command found
    python: str = ""
    rave_version: str = ""
    torch_version: str = ""
    gpus: list[str] = field(default_factory=list)  # nvidia-smi's lines
    partitions: list[str] = field(default_factory=list)  # sinfo's lines (SLURM)
    workdir: str = ""
    missing: list[str] = field(default_factory=list)  # what to fix, each a sentence
    notes: list[str] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)  # an unknown host's keys

    @property
    def ok(self) -> bool:
        return self.connected and not self.missing

    def lines(self) -> list[str]:
        out = [f"target {self.target}: " + ("reachable" if self.connected else "NOT reachable")]
        if self.rave:
            torch = f", torch {self.torch_version}" if self.torch_version else ""
            out.append(
                f"  RAVE {self.rave_version or '?'} at {self.rave} (Python {self.python}){torch}"
            )
        if self.connected:
            out.append("  GPUs: " + ("; ".join(self.gpus) if self.gpus else "none found"))
        if self.partitions:
            out.append("  SLURM partitions: " + "; ".join(self.partitions))
        if self.workdir:
            out.append(f"  work folder: {self.workdir}")
        out += [f"  note: {n}" for n in self.notes]
        out += [f"  MISSING: {m}" for m in self.missing]
        if self.ok:
            out.append("  ready for training runs")
        return out


def check_target(target: Target, conn: Connection | None = None) -> CheckReport:
    """Everything a run on ``target`` needs, checked there (never raises for what is missing:
    the report says it)."""
    report = CheckReport(target.name)
    conn = conn or Connection(target)
    try:
        home = conn.run("pwd").text.strip()
        report.connected = True
    except UnknownHostError as err:
        report.fingerprints = err.fingerprints
        report.missing.append(str(err))
        return report
    except RaveGuiError as err:
        report.missing.append(str(err))
        return report
    workdir = remote_path(target.workdir)
    res = conn.run(
        f"mkdir -p -- {shlex.quote(workdir)} && test -w {shlex.quote(workdir)} && "
        f"cd {shlex.quote(workdir)} && pwd",
        check=False,
    )
    if res.returncode == 0:
        report.workdir = res.text.strip()
    else:
        report.missing.append(
            f"the work folder {target.workdir} cannot be made or written in {home} "
            f"({res.stderr or 'no message'}): give another with --workdir"
        )
    try:
        rave = probe(conn, target)
        report.rave, report.python = rave.executable, rave.python
        if rave.install is not None:
            report.rave_version = rave.install.version
            report.torch_version = rave.install.torch_version
    except PreflightError as err:
        report.missing.append(str(err))
    except RaveGuiError as err:
        report.missing.append(f"RAVE could not be inspected: {err}")
    smi = conn.run(
        "command -v nvidia-smi >/dev/null 2>&1 || exit 9; nvidia-smi "
        "--query-gpu=index,name,memory.total --format=csv,noheader",
        check=False,
    )
    if smi.returncode == 0:
        report.gpus = [ln.strip() for ln in smi.text.splitlines() if ln.strip()]
    elif smi.returncode == 9:
        report.notes.append("nvidia-smi is not installed there: no NVIDIA GPU found")
    else:
        report.notes.append(f"nvidia-smi failed: {smi.stderr or smi.text}".strip())
    if target.kind == SLURM:
        _check_slurm(conn, target, report)
    elif not report.gpus:
        report.notes.append("runs there train on the CPU (--gpu -1): slow for a real model")
    return report


def _check_slurm(conn: Connection, target: Target, report: CheckReport) -> None:
    for tool in ("sbatch", "squeue", "scontrol", "scancel", "sinfo"):
        if conn.run(["sh", "-c", 'command -v "$1"', "sh", tool], check=False).returncode:
            report.missing.append(f"{tool} is not found on the login node's PATH")
    res = conn.run(["sinfo", "-h", "-o", "%P %a %l %D %t %G"], check=False)
    if res.returncode != 0:
        report.missing.append(f"sinfo failed: {res.stderr or res.text}".strip())
        return
    report.partitions = [ln.strip() for ln in res.text.splitlines() if ln.strip()]
    names = {p.split()[0].rstrip("*") for p in report.partitions}
    if target.partition and target.partition not in names:
        report.missing.append(
            f"there is no partition {target.partition!r} (there are: {', '.join(sorted(names))})"
        )
    if target.gres and not any("gpu" in p.split()[-1] for p in report.partitions):
        report.notes.append(f"no partition lists GPUs (GRES) while --gres {target.gres} is asked")


__all__ = ["CheckReport", "check_target"]
