"""Reading a preprocessed RAVE dataset folder: metadata.yaml, example count, size on disk."""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import DatasetError


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    path: Path
    sample_rate: int
    channels: int
    duration_s: float
    n_examples: int | None
    lazy: bool
    size_bytes: int


_LMDB_MAGIC = 0xBEEFC0DE
_LMDB_META = struct.Struct("<IIQQ")  # mm_magic, mm_version, mm_address, mm_mapsize
# MDB_db: md_pad (the page size, in the free DB of a meta page), md_flags, md_depth,
# md_branch_pages, md_leaf_pages, md_overflow_pages, md_entries, md_root
_LMDB_DB = struct.Struct("<IHHQQQQQ")


def _lmdb_meta(page: bytes) -> tuple[int, int, int] | None:
    """(txnid, main DB entries, page size) of one LMDB meta page, None if it is not one."""
    base = 16  # page header: mp_pgno, mp_pad, mp_flags, mp_lower, mp_upper
    if len(page) < base + _LMDB_META.size + 2 * _LMDB_DB.size + 16:
        return None
    magic, _version, _addr, _mapsize = _LMDB_META.unpack_from(page, base)
    if magic != _LMDB_MAGIC:
        return None
    dbs = base + _LMDB_META.size
    page_size = _LMDB_DB.unpack_from(page, dbs)[0]
    entries = _LMDB_DB.unpack_from(page, dbs + _LMDB_DB.size)[6]
    _last_pg, txnid = struct.unpack_from("<QQ", page, dbs + 2 * _LMDB_DB.size)
    return txnid, entries, page_size


def lmdb_entries(path: Path) -> int | None:
    """Number of records in an LMDB ``data.mdb`` (RAVE stores one example per record).

    Reads the file's two meta pages directly (no lmdb module needed; a 64-bit little-endian
    LMDB, as on every platform RAVE runs on) and takes the main database's ``md_entries``
    from the meta page with the newer transaction id. The second meta page sits one page in;
    the page size (4 KiB on Linux and x86 macOS, 16 KiB on Apple silicon) is in the first.
    None if the file is missing or does not look like LMDB.
    """
    try:
        with open(path, "rb") as f:
            first = _lmdb_meta(f.read(512))
            if first is None:
                return None
            page_size = first[2]
            second = None
            if 512 <= page_size <= 1 << 16 and page_size & (page_size - 1) == 0:
                f.seek(page_size)
                second = _lmdb_meta(f.read(512))
    except OSError:
        return None
    return max(m for m in (first, second) if m is not None)[1]


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def read_dataset(path: str | os.PathLike[str]) -> DatasetInfo:
    """Validate a preprocessed RAVE dataset folder and read what it holds.

    Raises DatasetError saying what is wrong: a missing folder, no metadata.yaml (not
    preprocessed), malformed or incomplete YAML, an empty dataset, or no data.mdb.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DatasetError(f"The dataset folder {folder} does not exist.")
    if not folder.is_dir():
        raise DatasetError(f"{folder} is a file; choose the preprocessed dataset's folder.")
    meta = folder / "metadata.yaml"
    if not meta.is_file():
        raise DatasetError(
            f"{folder} has no metadata.yaml: it is not a preprocessed RAVE dataset. "
            "Run `rave preprocess` on your audio first (or use “New dataset from audio”)."
        )
    try:
        data = yaml.safe_load(meta.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise DatasetError(f"{meta} is not valid YAML: {err}") from err
    except OSError as err:
        raise DatasetError(f"Cannot read {meta}: {err.strerror}") from err
    if not isinstance(data, dict):
        raise DatasetError(f"{meta} does not hold RAVE dataset metadata (expected a mapping).")
    missing = [k for k in ("sr", "channels", "n_seconds") if k not in data]
    if missing:
        raise DatasetError(f"{meta} lacks {', '.join(missing)}: preprocess the dataset again.")
    try:
        sr = int(data["sr"])
        channels = int(data["channels"])
        duration = float(data["n_seconds"])
    except (TypeError, ValueError, OverflowError) as err:
        raise DatasetError(f"{meta} holds a value that is not a number: {err}") from err
    if sr <= 0 or channels <= 0:
        raise DatasetError(f"{meta} gives sample rate {sr} and {channels} channels: not usable.")
    if not math.isfinite(duration):
        raise DatasetError(f"{meta} gives n_seconds: {data['n_seconds']}: not a duration.")
    if duration <= 0:
        raise DatasetError(
            f"The dataset in {folder} is empty (n_seconds: {data['n_seconds']}): every audio "
            "file was shorter than one RAVE chunk (about 6 s at the default --num_signal "
            "131072 and 44.1 kHz). Use longer files."
        )
    if not (folder / "data.mdb").is_file():
        raise DatasetError(
            f"{folder} has metadata.yaml but no data.mdb, which holds the preprocessed audio: "
            "preprocessing did not finish or the file was moved. Preprocess the audio again."
        )
    return DatasetInfo(
        path=folder.resolve(),
        sample_rate=sr,
        channels=channels,
        duration_s=duration,
        n_examples=lmdb_entries(folder / "data.mdb"),
        lazy=bool(data.get("lazy", False)),
        size_bytes=folder_size(folder),
    )
