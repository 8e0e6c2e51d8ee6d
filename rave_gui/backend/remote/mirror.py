"""The local copy of a remote run folder, brought up to date by one round trip per sync.

The run's local folder is the cache: its ``train.log`` and TensorBoard event files are byte
for byte the remote ones up to where they were read (append-only: each sync asks for what lies
past the local file's size and appends it), so the follower reads them exactly as it reads a
local run's, from the offsets it stored, and nothing is read twice or lost even when a sync or
the follower is killed half-way (a sync appends whole chunks; the next asks from the new size).
Small files the run rewrites (the supervisor's status, config.gin, hparams.yaml) are replaced
whole when their size or mtime changed; checkpoints are copied when asked (``ckpt=True``: at
the run's end, or when a view needs them).
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .ssh import Connection, RemoteError

MANIFEST = ".remote-mirror.json"  # the whole files' remote size and mtime, as copied
# every checkpoint on the target (path in the run folder: [size, mtime]), copied here or not
REMOTE_CHECKPOINTS = ".remote-checkpoints.json"
MAX_CHUNK = 8 << 20  # bytes per file per sync


@dataclass
class SyncResult:
    bytes: int = 0  # payload bytes copied
    group_alive: bool | None = None  # SSH: whether the run's process group lives
    job: dict[str, str] = field(default_factory=dict)  # SLURM: scontrol's fields
    missing: bool = False  # the remote run folder is gone
    job_unknown: str = ""  # SLURM: scontrol answered without the job's state (a busy controller)
    shrunk: list[str] = field(default_factory=list)  # files shorter than what was read
    checkpoints: dict[str, list] = field(default_factory=dict)  # on the target: [size, mtime]


def parse_scontrol(line: str) -> dict[str, str]:
    """``scontrol show job -o`` as a dict (JobState, Reason, ExitCode, Restarts, ...)."""
    out: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep and key and key not in out:
            out[key] = value
    return out


def job_answer(text: str) -> tuple[dict[str, str], str]:
    """What ``scontrol show job -o`` answered: the job's fields, and the answer itself when it
    holds no state yet does not say the job is gone (``Invalid job id``: purged, the status
    file tells the end) — a controller busy or restarting, which decides nothing."""
    fields = parse_scontrol(text)
    unknown = "JobState" not in fields and "invalid job id" not in text.lower()
    return fields, text.strip() if unknown else ""


def _manifest(local: Path) -> dict[str, list]:
    try:
        data = json.loads((local / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _append_offsets(local: Path) -> dict[str, int]:
    """Each append-only file's local size: where the next sync starts."""
    out = {}
    for root, _dirs, files in os.walk(local):
        for name in files:
            if name == "train.log" or name.startswith("events.out.tfevents"):
                p = Path(root) / name
                out[str(p.relative_to(local))] = p.stat().st_size
    return out


def sync(
    conn: Connection,
    python: str,
    helper: str,
    remote_dir: str,
    local: Path,
    *,
    pgid: int | None = None,
    job: str | None = None,
    ckpt: bool = False,
    copy: str = "all",
    timeout: float = 300.0,
) -> SyncResult:
    """Copy what is new in ``remote_dir`` into ``local`` (see the module's text); with
    ``ckpt``, the checkpoints ``copy`` chooses (chosen_checkpoints), the others listed in
    REMOTE_CHECKPOINTS."""
    local.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(local)
    request = {
        "append": _append_offsets(local),
        "whole": manifest,
        "pgid": pgid,
        "job": job,
        "max": MAX_CHUNK,
    }
    line = " ".join(shlex.quote(a) for a in (python, helper, remote_dir, json.dumps(request)))
    res = conn.run(line, timeout=timeout)
    data = res.stdout
    nl = data.find(b"\n")
    if nl < 0:
        raise RemoteError(f"{conn.target.name}: no answer from the file helper ({res.stderr})")
    try:
        header = json.loads(data[:nl])
    except ValueError as err:
        raise RemoteError(f"{conn.target.name}: the file helper answered {data[:200]!r}") from err
    out = SyncResult(missing=bool(header.get("missing")), group_alive=header.get("group_alive"))
    if header.get("job"):
        out.job, out.job_unknown = job_answer(header["job"])
    pos = nl + 1
    for f in header.get("files", []):
        rel, length = f["path"], int(f["length"])
        chunk = data[pos : pos + length]
        pos += length
        if len(chunk) != length:
            raise RemoteError(f"{conn.target.name}: the answer was cut short ({rel})")
        target = _inside(local, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if f["kind"] == "append":
            have = target.stat().st_size if target.exists() else 0
            if have != int(f["offset"]):  # another sync appended meanwhile: never twice
                continue
            with open(target, "ab") as fh:
                fh.write(chunk)
        elif f["kind"] == "whole":
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(chunk)
            os.utime(tmp, (f["mtime"], f["mtime"]))
            os.replace(tmp, target)
            manifest[rel] = [f["size"], f["mtime"]]
        elif f["kind"] == "shrunk":
            out.shrunk.append(rel)
        out.bytes += length
    found = {r: list(st) for r, st in (header.get("checkpoints") or {}).items() if st}
    out.checkpoints = found
    wanted = chosen_checkpoints(found, copy) if ckpt else set()
    for rel, st in found.items():
        if rel not in wanted or manifest.get(rel) == list(st):
            continue
        target = _inside(local, rel)
        out.bytes += conn.download(posixpath.join(remote_dir, rel), target, int(st[0]))
        os.utime(target, (st[1], st[1]))
        manifest[rel] = list(st)
    tmp = local / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, local / MANIFEST)
    if ckpt:
        tmp = local / (REMOTE_CHECKPOINTS + ".tmp")
        tmp.write_text(json.dumps(found))
        os.replace(tmp, local / REMOTE_CHECKPOINTS)
    return out


def chosen_checkpoints(found: dict[str, list], policy: str) -> set[str]:
    """Which of ``found`` (path: [size, mtime]) to copy: "all", "none", or "last": the
    newest that is not a best one (what a resume takes) and the best ones (what an export
    takes)."""
    if policy == "all":
        return set(found)
    if policy == "none":
        return set()
    best = {r for r in found if posixpath.basename(r).startswith("best")}
    others = [r for r in found if r not in best]
    newest = max(others, key=lambda r: (found[r][1], r), default=None)
    return best | ({newest} if newest else set())


def remote_only_checkpoints(local: Path) -> list[tuple[str, int]]:
    """The checkpoints of a remote run left on the target (not copied here): path in the run
    folder and size, oldest first."""
    return [(r, size) for r, size, _mtime in left_on_target(local)]


def left_on_target(local: Path) -> list[tuple[str, int, float]]:
    """Like ``remote_only_checkpoints``, with each file's mtime on the target."""
    try:
        found = json.loads((local / REMOTE_CHECKPOINTS).read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(found, dict):
        return []
    left = []
    for r, st in found.items():
        try:
            size, mtime = int(st[0]), float(st[1])
        except (TypeError, ValueError, IndexError):
            continue
        if not (local / r).is_file():
            left.append((r, size, mtime))
    return sorted(left, key=lambda x: (x[2], x[0]))


def _inside(local: Path, rel: str) -> Path:
    p = (local / rel).resolve()
    if not p.is_relative_to(local.resolve()):
        raise RemoteError(f"the target named a file outside the run folder: {rel!r}")
    return p


__all__ = [
    "MANIFEST", "REMOTE_CHECKPOINTS", "SyncResult", "chosen_checkpoints", "left_on_target",
    "parse_scontrol", "remote_only_checkpoints", "sync",
]  # fmt: skip
