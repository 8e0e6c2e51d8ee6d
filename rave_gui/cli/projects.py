"""`rave-gui projects list`: the projects and how many experiments each holds."""

from __future__ import annotations

import argparse
from typing import IO, TYPE_CHECKING

from .common import dump_json, open_manager

if TYPE_CHECKING:
    from .common import Subcommands


def cmd_projects_list(args: argparse.Namespace, out: IO[str]) -> int:
    tm = open_manager(args)
    projects = tm.projects.all()
    if args.json:
        dump_json([p.to_json() for p in projects], out)
        return 0
    for p in projects:
        out.write(f"{p.id}  {p.name}  ({p.n_experiments} experiments)\n")
    return 0


def add_parser(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `projects` command and its action."""
    projects = sub.add_parser("projects", help="list projects")
    projects_sub = projects.add_subparsers(dest="projects_command", metavar="ACTION", required=True)
    p = projects_sub.add_parser("list", parents=parents, help="list projects")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_projects_list)
