"""Preprocessed RAVE dataset folders for tests: metadata.yaml and a real LMDB data.mdb."""

from __future__ import annotations

from pathlib import Path

import pytest


def make_lmdb_dataset(folder: Path, examples: int, seconds: float = 60.0) -> Path:
    """A dataset folder whose data.mdb is a real LMDB with ``examples`` records."""
    lmdb = pytest.importorskip("lmdb")
    folder.mkdir(parents=True)
    (folder / "metadata.yaml").write_text(
        f"channels: 1\nlazy: false\nn_seconds: {seconds}\nsr: 44100\n"
    )
    env = lmdb.open(str(folder), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(examples):
            txn.put(f"{i:08d}".encode(), b"\0" * 64)
    env.close()
    return folder
