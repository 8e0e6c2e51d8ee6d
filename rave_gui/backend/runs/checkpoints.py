"""A run's checkpoint files: which are complete, and the store's list made to match them."""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from pathlib import Path

from ..manager import TrainingManager
from ..store.records import Checkpoint

_EPOCH_CKPT = re.compile(r"epoch[=-](\d+)")
_ZIP_MAGIC = b"PK\x03\x04"
_EOCD_SIZE = 22  # the smallest end-of-central-directory record
_complete: dict[str, tuple[int, float, bool]] = {}  # path -> (size, mtime, complete)
_COMPLETE_CAP = 4096


def checkpoint_complete(path: Path, size: int, mtime: float) -> bool:
    """Whether a checkpoint file is completely written. torch.save writes a zip archive whose
    end-of-central-directory record comes last: a file cut short (a full disk, a kill while
    saving) lacks it. Only the file's tail is read, once per (size, mtime). A file in torch's
    old pickle format (not a zip) cannot be checked and counts as complete."""
    key = str(path)
    known = _complete.get(key)
    if known is not None and known[0] == size and known[1] == mtime:
        return known[2]
    ok = False
    if size >= _EOCD_SIZE:
        try:
            with open(path, "rb") as f:
                ok = f.read(4) != _ZIP_MAGIC or zipfile.is_zipfile(f)
        except OSError:
            ok = False
    if len(_complete) >= _COMPLETE_CAP:
        _complete.clear()
    _complete[key] = (size, mtime, ok)
    return ok


def find_checkpoints(folder: Path) -> list[dict]:
    """Every complete ``*.ckpt`` under a run folder, with size, mtime and best flag (one still
    being written, or cut short, is left out until it is complete)."""
    out = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if not name.endswith(".ckpt"):
                continue
            p = Path(root) / name
            try:
                st = p.stat()
            except OSError:
                continue
            if not checkpoint_complete(p, st.st_size, st.st_mtime):
                continue
            m = _EPOCH_CKPT.search(name)
            out.append(
                {
                    "path": str(p),
                    "size": st.st_size,
                    "mtime": st.st_mtime,
                    "is_best": name.startswith("best"),
                    "epoch": int(m.group(1)) if m else None,
                }
            )
    return out


def sync_run_checkpoints(manager: TrainingManager, experiment_id: int, run_dir: Path) -> bool:
    """Make the run's stored checkpoint list match its folder, each dated by the step logged
    when it was written (kept from the store while the file is unchanged). True when it
    changed."""
    found = find_checkpoints(run_dir)
    known = {c.path: c for c in manager.artifacts.checkpoints(experiment_id)}
    for c in found:
        old = known.get(c["path"])
        if old is not None and old.mtime == c["mtime"] and old.step is not None:
            c["step"] = old.step
        else:
            c["step"] = manager.metrics.step_at_time(experiment_id, c["mtime"])
    return bool(manager.artifacts.sync_checkpoints(experiment_id, found))


def with_validation(
    manager: TrainingManager, experiment_id: int, checkpoints: list[Checkpoint]
) -> list[Checkpoint]:
    """The checkpoints with the run's validation loss at or just before each one's step (RAVE
    saves after a validation: that is the loss the checkpoint was judged by)."""
    return [
        dataclasses.replace(
            c,
            validation=None
            if c.step is None
            else manager.metrics.value_at_or_before(experiment_id, "validation", c.step),
        )
        for c in checkpoints
    ]


__all__ = ["checkpoint_complete", "find_checkpoints", "sync_run_checkpoints", "with_validation"]
