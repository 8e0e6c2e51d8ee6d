"""`rave-gui diagnose LOGFILE`: why a rave command failed, in plain words, and what to do."""

from __future__ import annotations

import argparse
from typing import IO, Any

from .common import dump_json


def cmd_diagnose(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.rave.diagnose import diagnose_log

    found = diagnose_log(args.logfile)
    if args.json:
        dump_json(found.to_dict() if found else {"kind": None}, out)
    elif found is None:
        out.write(f"No failure found in {args.logfile}.\n")
    else:
        out.write(f"{found.title} ({found.kind})\n{found.advice}\nEvidence: {found.evidence}\n")
    return 0


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diagnose",
        help="say why a rave command failed, from its output (a run's train.log, ...)",
        description="Read a captured output of rave (train, preprocess, export) and say why it "
        "failed and what to do. JSON: kind, title, advice, evidence (the line that gave it "
        "away); kind is null when the output shows no failure.",
    )
    p.add_argument("logfile", metavar="LOGFILE", help="the output of a rave command")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_diagnose)
