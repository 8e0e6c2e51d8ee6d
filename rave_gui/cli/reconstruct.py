"""`rave-gui reconstruct`: your own sound through a run's checkpoint or exported model."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from .common import rave_executable

if TYPE_CHECKING:
    from .common import Subcommands


def cmd_reconstruct(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.jobs.reconstruct import reconstruct

    def progress(line: str) -> None:
        sys.stderr.write(line + "\n")

    path = reconstruct(
        rave_executable(args), args.model, args.input, args.output, on_line=progress,
        timeout=args.timeout,
    )  # fmt: skip
    out.write(f"wrote {path}\n")
    return 0


def add_parser(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `reconstruct` command."""
    p = sub.add_parser(
        "reconstruct",
        help="encode and decode a WAV file through a checkpoint (.ckpt) or exported model (.ts)",
    )
    p.add_argument("--model", required=True, metavar="CKPT_OR_TS")
    p.add_argument("--input", required=True, metavar="IN.wav")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds (default: 600)")
    p.add_argument("--rave", help="path of the rave executable (its Python runs the model)")
    p.set_defaults(func=cmd_reconstruct)
