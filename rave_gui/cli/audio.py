"""`rave-gui runs audio ID`: list a run's validation clips, write one (or one part) as WAV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..backend.rave.audio import (
    PARTS,
    AudioError,
    AudioIndex,
    decode_clip,
    encode_wav,
    read_clip_bytes,
)
from ..backend.system.units import format_value
from .common import dump_json, open_manager, run_id, table

if TYPE_CHECKING:
    from .common import Subcommands


def cmd_runs_audio(args: argparse.Namespace, out: IO[str]) -> int:
    if (args.example is not None or args.part) and args.index is None:
        raise AudioError("--example and --part pick a part of the clip given by --index K.")
    if args.index is None and not args.list:
        raise AudioError("Say what to do: --list, or --index K -o FILE.wav.")
    if args.index is not None and not args.output:
        raise AudioError("--index needs -o FILE.wav: the file to write the clip to.")
    exp = open_manager(args).get_experiment(args.id)
    index = AudioIndex.for_run(exp.run_dir, exp.config.get("channels"))
    if args.list:
        clips = index.clips
        if args.json:
            dump_json([c.to_json() for c in clips], out)
        elif not clips:
            out.write("No audio clips.\n")
        else:
            rows = [("INDEX", "STEP", "VALIDATION", "LOSS", "SECONDS", "RATE", "EXAMPLES")]
            for c in clips:
                rows.append(
                    (
                        str(c.index),
                        "-" if c.step is None else str(c.step),
                        str(c.validation),
                        format_value(c.loss, missing="-"),
                        f"{c.seconds:.1f}",
                        str(c.sample_rate),
                        str(c.examples),
                    )
                )
            table(rows, out)
    if args.index is None:
        return 0
    clip = index.clip(args.index)
    path = Path(args.output)
    if args.part or args.example is not None:
        audio = decode_clip(clip)
        samples = audio.part(args.example or 0, args.part or "input")
        data = encode_wav(samples, audio.sample_rate)
    else:
        data = read_clip_bytes(clip)
    try:
        path.write_bytes(data)
    except OSError as err:
        raise AudioError(f"Cannot write {path}: {err.strerror or err}") from err
    partial = args.part or args.example is not None
    what = f"example {args.example or 0} {args.part or 'input'} of clip" if partial else "clip"
    out.write(f"Wrote {what} {clip.index} (step {clip.step}) to {path}\n")
    return 0


def add_parser(runs_sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """The `runs audio` action."""
    p = runs_sub.add_parser(
        "audio",
        parents=parents,
        help="list a run's validation audio, or write a clip (or one example's part) as WAV",
    )
    p.add_argument("id", type=run_id)
    p.add_argument("--list", action="store_true", help="list the clips")
    p.add_argument("--json", action="store_true", help="with --list: print JSON")
    p.add_argument("--index", type=int, metavar="K", help="the clip to write (from --list)")
    p.add_argument("--example", type=int, metavar="E", help="only this example of the clip")
    p.add_argument("--part", choices=PARTS, help="only the input or the reconstruction")
    p.add_argument("-o", "--output", metavar="FILE", help="WAV file to write")
    p.set_defaults(func=cmd_runs_audio)
