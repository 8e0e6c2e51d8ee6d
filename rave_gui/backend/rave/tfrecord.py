"""TFRecord framing: CRC32C, record headers, records read from an offset, resync after damage."""

# Event files, as TensorFlow and torch's SummaryWriter write them, are sequences of TFRecords
#
#     uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
#
# (little endian); what the data holds is read in eventproto.
#
# Robustness rules, shared by every reader of event files (tfevents):
# - A record whose header or body runs past the end of the data is *incomplete*: reading stops
#   before it and the offset stays there, so a later read picks the record up once the writer has
#   flushed the rest of it.
# - A record header whose length CRC is wrong, or whose length is absurd (more than
#   ``MAX_RECORD_BYTES``, 64 MiB), is *corrupt*. ``iter_records`` stops before it. An
#   ``EventFileReader`` skips the damage and resynchronises: it searches for the next position
#   where a header checks out *and* the record's data CRC matches (``find_header``,
#   ``verify_record``), reads on from there, and records what it skipped as a ``DataLoss`` (so
#   the follower can say what was lost).
#   A file that gets shorter than what was already read (truncated or rewritten) is a
#   ``DataLoss`` too; reading goes on from its new end.
# - The data CRC is not checked record by record (pure-Python CRC32C would cost more than
#   parsing), only for the first record after a resynchronisation; a record whose body does not
#   parse as an Event is skipped whole, never half-read.

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CORRUPT",
    "FOOTER_BYTES",
    "HEADER_BYTES",
    "INCOMPLETE",
    "LENGTH_CRCS",
    "MAX_RECORD_BYTES",
    "OK",
    "RECORD_HEADER",
    "DataLoss",
    "check_header",
    "crc32c",
    "find_header",
    "frame_record",
    "iter_records",
    "length_crc",
    "masked_crc32c",
    "verify_record",
]

MAX_RECORD_BYTES = 64 * 1024 * 1024
HEADER_BYTES = 12  # uint64 length + uint32 length crc
FOOTER_BYTES = 4  # uint32 data crc

# --- CRC32C (Castagnoli), table driven --------------------------------------------------------


def _make_crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_crc_table()


# For the writer: CRC32C four bytes at a time with two 65536-entry tables, built on first use.
# With x = crc ^ word, the CRC after the word is _CRC_LO[x & 0xFFFF] ^ _CRC_HI[x >> 16].
_CRC_LO: list[int] = []
_CRC_HI: list[int] = []


def _crc_tables16() -> tuple[list[int], list[int]]:
    if not _CRC_LO:
        table = _CRC_TABLE
        hi = []  # 16 bits shifted through the register
        for x in range(65536):
            c = table[x & 0xFF] ^ (x >> 8)
            hi.append(table[c & 0xFF] ^ (c >> 8))
        lo = [hi[c & 0xFFFF] ^ (c >> 16) for c in hi]  # the same, then 16 zero bits
        _CRC_HI[:] = hi
        _CRC_LO[:] = lo
    return _CRC_LO, _CRC_HI


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of data, continuing from crc."""
    data = bytes(data)
    n = len(data)
    crc ^= 0xFFFFFFFF
    if n >= 16:
        lo, hi = _crc_tables16()
        for w in struct.unpack_from(f"<{n // 4}I", data):
            x = crc ^ w
            crc = lo[x & 0xFFFF] ^ hi[x >> 16]
        data = data[n - (n & 3) :]
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The masked CRC32C that TFRecord framing stores."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- record framing -------------------------------------------------------------------------

RECORD_HEADER = struct.Struct("<QI")
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")

# masked crc of the 8 length bytes, by length: records of one tag share their length, so the
# header check costs one dict lookup. Bounded: past the cap new lengths are computed each time.
LENGTH_CRCS: dict[int, int] = {}
_LENGTH_CRCS_CAP = 1 << 16

OK, INCOMPLETE, CORRUPT = 0, 1, 2


def length_crc(length: int) -> int:
    """The masked CRC of a record's 8 length bytes (remembered in LENGTH_CRCS)."""
    crc = LENGTH_CRCS.get(length)
    if crc is None:
        crc = masked_crc32c(_U64.pack(length))
        if len(LENGTH_CRCS) < _LENGTH_CRCS_CAP:
            LENGTH_CRCS[length] = crc
    return crc


def check_header(buf: bytes, pos: int) -> tuple[int, int]:
    """(state, length) of the record at pos: OK, INCOMPLETE or CORRUPT."""
    n = len(buf)
    if pos + HEADER_BYTES > n:
        return INCOMPLETE, 0
    length, lcrc = RECORD_HEADER.unpack_from(buf, pos)
    if length > MAX_RECORD_BYTES or length_crc(length) != lcrc:
        return CORRUPT, length
    if pos + HEADER_BYTES + length + FOOTER_BYTES > n:
        return INCOMPLETE, length
    return OK, length


def frame_record(data: bytes) -> bytes:
    """One TFRecord: header with masked length CRC, data, masked data CRC."""
    return b"".join(
        (RECORD_HEADER.pack(len(data), length_crc(len(data))), data, _U32.pack(masked_crc32c(data)))
    )


def iter_records(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[list[bytes], int]:
    """The complete records' data from offset, and the offset just after the last of them.

    Stops, without raising, at an incomplete trailing record (wait for more data) and at a
    corrupt header (bad length CRC, or length over MAX_RECORD_BYTES); see the module comment.
    """
    buf = data if isinstance(data, bytes) else bytes(data)
    records: list[bytes] = []
    pos = offset
    while True:
        state, length = check_header(buf, pos)
        if state != OK:
            return records, pos
        start = pos + HEADER_BYTES
        records.append(buf[start : start + length])
        pos = start + length + FOOTER_BYTES


# --- damage -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataLoss:
    """Bytes of an event file that could not be read as records: their scalars are lost.

    kind: "damaged" (bytes that are not records, skipped: garbage, a torn write), "truncated"
    (the file became shorter than what had been read: what was written past its new end is
    gone) or "incomplete" (a record cut off at the end of a file whose run has ended).
    """

    path: str
    kind: str
    offset: int  # where the lost bytes start
    size: int  # how many bytes (for "truncated": how much shorter the file became)
    after_step: int | None  # the step of the last scalar read before them, if known

    def describe(self) -> str:
        name = Path(self.path).name
        after = f" after step {self.after_step}" if self.after_step is not None else ""
        if self.kind == "truncated":
            return (
                f"{name} became {self.size} bytes shorter while it was read (truncated or "
                f"rewritten at byte {self.offset}): scalars written{after} there may be lost; "
                "reading went on from its new end."
            )
        if self.kind == "incomplete":
            return (
                f"{name} ends with an incomplete record ({self.size} bytes at byte "
                f"{self.offset}){after}: its scalars are lost."
            )
        return (
            f"{name}: {self.size} damaged bytes at byte {self.offset}{after} were skipped "
            "(the scalars in them are lost); the records after them were read."
        )


_ZEROS = b"\x00" * 4
_NONZERO = re.compile(rb"[^\x00]")


def find_header(buf: bytes, start: int) -> int:
    """The first position from start where a record header checks out (length within
    MAX_RECORD_BYTES, length CRC right); else the first position that more data could still
    make one (len(buf) - 11 at most)."""
    last = len(buf) - HEADER_BYTES
    i = start
    while i <= last:
        # a length under 64 MiB has its four high bytes zero: jump to the next such place
        j = buf.find(_ZEROS, i + 4)
        if j < 0 or j - 4 > last:
            break
        p = j - 4
        length, lcrc = RECORD_HEADER.unpack_from(buf, p)
        if length <= MAX_RECORD_BYTES and length_crc(length) == lcrc:
            return p
        if length == 0 and lcrc == 0:  # a run of zeros (a hole): jump past it
            m = _NONZERO.search(buf, p)
            i = max(p + 1, (m.start() if m else len(buf)) - HEADER_BYTES + 1)
        else:
            i = p + 1
    return max(start, len(buf) - HEADER_BYTES + 1)


def verify_record(buf: bytes, pos: int) -> int:
    """OK if a whole record with a right length CRC and a right data CRC is at pos;
    INCOMPLETE if more data is needed to tell; CORRUPT otherwise."""
    state, length = check_header(buf, pos)
    if state != OK:
        return state
    start = pos + HEADER_BYTES
    (crc,) = _U32.unpack_from(buf, start + length)
    return OK if masked_crc32c(buf[start : start + length]) == crc else CORRUPT
