"""`rave-gui targets add|set|list|check|upload|remove`: where runs execute (SSH hosts, SLURM
clusters), and datasets copied there."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from .common import dump_json, open_manager, table

if TYPE_CHECKING:
    from ..backend.store.targets import TargetStore
    from .common import Subcommands


def _store(args: argparse.Namespace) -> TargetStore:
    from ..backend.store.targets import TargetStore

    return TargetStore(open_manager(args).db)


def cmd_add(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.store.targets import SLURM, SSH, Target

    target = Target(
        name=args.name, kind=SLURM if args.slurm else SSH, host=args.host, port=args.port,
        user=args.user or "", key_file=args.key or "", rave=args.rave,
        workdir=args.workdir, partition=args.partition or "", gres=args.gres or "",
        cpus=args.cpus, memory=args.mem or "", time_limit=args.time or "",
        account=args.account or "", extra_sbatch=args.sbatch or [],
        copy_checkpoints=args.copy_checkpoints,
    )  # fmt: skip
    if not args.slurm and any(
        (args.partition, args.gres, args.time, args.cpus, args.mem, args.account, args.sbatch)
    ):
        from ..backend.errors import ValidationError

        raise ValidationError("--partition, --gres, --time... are SLURM options: add --slurm.")
    _store(args).add(target)
    out.write(f"target {target.name!r} added ({target.describe()}); "
              f"check it: rave-gui targets check {target.name}\n")  # fmt: skip
    return 0


def cmd_list(args: argparse.Namespace, out: IO[str]) -> int:
    targets = _store(args).all()
    if args.json:
        dump_json([t.to_json() for t in targets], out)
        return 0
    if not targets:
        out.write("no targets (runs execute here); add one: rave-gui targets add NAME --host H\n")
        return 0
    rows = [["NAME", "KIND", "WHERE", "RAVE", "WORK FOLDER", "SLURM"]]
    for t in targets:
        slurm = " ".join(x for x in (t.partition, t.gres, t.time_limit) if x)
        rows.append([t.name, t.kind, t.describe().split(" ", 1)[1], t.rave, t.workdir, slurm])
    table(rows, out)
    return 0


def cmd_check(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.remote.check import check_target
    from ..backend.remote.ssh import accept_host_key, scan_host_key

    target = _store(args).get(args.name)
    if args.accept_host_key:
        keys, prints = scan_host_key(target)
        accept_host_key(target, keys)
        out.write("accepted the host key of {}:\n  {}\n".format(target.host, "\n  ".join(prints)))
    report = check_target(target)
    if args.json:
        dump_json(report.__dict__ | {"ok": report.ok}, out)
    else:
        out.write("\n".join(report.lines()) + "\n")
    out.flush()
    if report.fingerprints and not args.json:
        sys.stderr.write("rave-gui: the host is not known yet: see its fingerprints above\n")
    return 0 if report.ok else 1


def cmd_upload(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.remote.ssh import Connection
    from ..backend.remote.upload import human_bytes, upload_dataset

    target = _store(args).get(args.name)
    last = [-1]

    def progress(done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if pct != last[0]:
            last[0] = pct
            out.write(f"\r{human_bytes(done)} of {human_bytes(total)} ({pct}%)")
            out.flush()

    result = upload_dataset(
        Connection(target), args.dataset, args.to, progress=progress, method=args.method
    )
    out.write(
        f"\nuploaded {result.files} files ({human_bytes(result.bytes_total)}, {result.method}) "
        f"to {target.name}:{result.remote_path}\n"
        f"train there: rave-gui train --target {target.name} --dataset {result.remote_path} ...\n"
    )
    return 0


def cmd_set(args: argparse.Namespace, out: IO[str]) -> int:
    _store(args).set_copy_checkpoints(args.name, args.copy_checkpoints)
    out.write(f"target {args.name!r}: copy checkpoints {args.copy_checkpoints}\n")
    return 0


def _copy_checkpoints_option(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument(
        "--copy-checkpoints",
        choices=("all", "last", "none"),
        default=default,
        required=default is None,
        help="which checkpoints of a run are copied here once it ends: all, last (the newest "
        "and the best; the default) or none; the others stay on the target, listed",
    )


def cmd_remove(args: argparse.Namespace, out: IO[str]) -> int:
    _store(args).remove(args.name)
    out.write(f"target {args.name!r} removed\n")
    return 0


def add_parser(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `targets` command and its actions."""
    targets = sub.add_parser("targets", help="SSH hosts and SLURM clusters runs execute on")
    tsub = targets.add_subparsers(dest="targets_command", metavar="ACTION", required=True)
    p = tsub.add_parser("add", parents=parents, help="add an SSH host or a SLURM cluster")
    p.add_argument("name")
    p.add_argument("--host", required=True, help="host name or address (the login node)")
    p.add_argument("--port", type=int, help="SSH port (default 22)")
    p.add_argument("--user", help="user name there (default: yours, or ~/.ssh/config's)")
    p.add_argument("--key", help="private key file (default: the agent's / ~/.ssh keys)")
    p.add_argument("--workdir", default="rave-gui-runs", help="remote folder for run folders")
    p.add_argument("--rave", default="rave", help="the rave command there (a path or a name)")
    p.add_argument("--slurm", action="store_true", help="a SLURM cluster: runs go through sbatch")
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--gres", help="SLURM generic resources, e.g. gpu:1")
    p.add_argument("--time", help="SLURM time limit, HH:MM:SS or D-HH:MM:SS")
    p.add_argument("--cpus", type=int, help="SLURM CPUs per task")
    p.add_argument("--mem", help="SLURM memory, e.g. 32G")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--sbatch", action="append", help="an extra #SBATCH option (repeatable)")
    _copy_checkpoints_option(p, "last")
    p.set_defaults(func=cmd_add)
    p = tsub.add_parser("set", parents=parents, help="change a target's settings")
    p.add_argument("name")
    _copy_checkpoints_option(p, None)
    p.set_defaults(func=cmd_set)
    p = tsub.add_parser("list", parents=parents, help="list targets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = tsub.add_parser("check", parents=parents, help="connect and say what is there/missing")
    p.add_argument("name")
    p.add_argument(
        "--accept-host-key",
        action="store_true",
        help="trust the host key the host offers now (compare its fingerprint!)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)
    p = tsub.add_parser("upload", parents=parents, help="copy a preprocessed dataset there")
    p.add_argument("name")
    p.add_argument("dataset", help="the local preprocessed dataset's folder")
    p.add_argument("--to", help="the folder there (default: WORKDIR/datasets/NAME)")
    p.add_argument("--method", choices=("rsync", "tar"), help="default: rsync if both have it")
    p.set_defaults(func=cmd_upload)
    p = tsub.add_parser("remove", parents=parents, help="remove a target")
    p.add_argument("name")
    p.set_defaults(func=cmd_remove)
