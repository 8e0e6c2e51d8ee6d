"""Runs ON THE TARGET (copied there, started with the target's Python): what a run folder holds
new since the follower's offsets, in one answer.

Standard library only, imports nothing of rave_gui. Usage::

    python remote_files.py RUN_DIR JSON

JSON: ``{"append": {relpath: offset}, "whole": {relpath: [size, mtime]},
"pgid": int|null, "job": str|null, "max": int}``. Prints one JSON header line, then the bytes
it announces, in its order: for each append-only file (train.log, the TensorBoard event files)
what lies past the given offset (at most ``max`` bytes each); for each small whole file (the
supervisor's status, config.gin, hparams.yaml) its content when its size or mtime differ from
the given ones. Checkpoints are only listed (size, mtime): they are copied apart, streamed.

The supervisor's status is read FIRST, the other files after it: a status that says the run
exited comes with everything the run wrote before exiting. The header also says whether the
process group ``pgid`` lives and, for a SLURM ``job``, what ``scontrol show job -o`` says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

APPEND_NAMES = ("train.log",)
APPEND_PREFIX = "events.out.tfevents"
WHOLE_SUFFIXES = (".supervisor.json", "config.gin", "hparams.yaml")


def _stat(path: str) -> tuple[int, float] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime


def _read(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _take_whole(run_dir: str, rels: list, known: dict, header: dict, chunks: list) -> None:
    for rel in rels:
        st = _stat(os.path.join(run_dir, rel))
        if st is None or list(st) == list(known.get(rel) or []):
            continue
        try:
            data = _read(os.path.join(run_dir, rel), 0, st[0])
        except OSError:
            continue
        header["files"].append({"path": rel, "kind": "whole", "length": len(data),
                                "size": st[0], "mtime": st[1]})  # fmt: skip
        chunks.append(data)


def main(argv: list[str]) -> int:
    run_dir, req = argv[0], json.loads(argv[1])
    appended: dict = req.get("append") or {}
    known_whole: dict = req.get("whole") or {}
    limit = int(req.get("max") or 8 << 20)
    header: dict = {"files": [], "missing": not os.path.isdir(run_dir)}
    chunks: list[bytes] = []
    if header["missing"]:
        print(json.dumps(header), flush=True)
        return 0
    # process state first, then the status, then the rest (see above)
    pgid = req.get("pgid")
    if pgid:
        try:
            os.killpg(int(pgid), 0)
            header["group_alive"] = True
        except ProcessLookupError:
            header["group_alive"] = False
        except PermissionError:
            header["group_alive"] = True
    if req.get("job"):
        try:
            p = subprocess.run(
                ["scontrol", "show", "job", "-o", str(req["job"])],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            header["job"] = (p.stdout or p.stderr).strip()
        except (OSError, subprocess.TimeoutExpired) as err:
            header["job"] = f"error: {err}"
    # the status files, read before anything else is even listed
    whole = sorted(n for n in os.listdir(run_dir) if n.endswith(".supervisor.json"))
    _take_whole(run_dir, whole, known_whole, header, chunks)
    whole = []
    append: list[str] = []
    ckpts: list[str] = []
    for root, _dirs, files in os.walk(run_dir):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), run_dir)
            if name.endswith(".supervisor.json"):
                continue
            elif name.endswith(WHOLE_SUFFIXES):
                whole.append(rel)
            elif name in APPEND_NAMES or name.startswith(APPEND_PREFIX):
                append.append(rel)
            elif name.endswith(".ckpt"):
                ckpts.append(rel)
    header["checkpoints"] = {r: _stat(os.path.join(run_dir, r)) for r in ckpts}
    _take_whole(run_dir, whole, known_whole, header, chunks)
    for rel in append:
        st = _stat(os.path.join(run_dir, rel))
        offset = int(appended.get(rel) or 0)
        if st is None:
            continue
        if st[0] < offset:  # shorter than what was read: truncated or rewritten
            header["files"].append({"path": rel, "kind": "shrunk", "length": 0, "size": st[0]})
            continue
        if st[0] == offset:
            continue
        try:
            data = _read(os.path.join(run_dir, rel), offset, min(st[0] - offset, limit))
        except OSError:
            continue
        header["files"].append({"path": rel, "kind": "append", "offset": offset,
                                "length": len(data), "size": st[0]})  # fmt: skip
        chunks.append(data)
    out = sys.stdout.buffer
    out.write(json.dumps(header).encode() + b"\n")
    for c in chunks:
        out.write(c)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
