"""Pure-Python incremental reader (and minimal writer) of TensorBoard event files' scalars."""

# File format, as TensorFlow and torch's SummaryWriter write it: a sequence of TFRecords
#
#     uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
#
# (little endian), each data a serialized ``tensorflow.Event`` protobuf. The first record of a
# file holds ``file_version`` ("brain.Event:2"); scalars come as ``Summary.Value.simple_value``
# (torch, Lightning, RAVE) or as a rank-0 ``TensorProto`` (TF2 and newer writers).
#
# Robustness rules, shared by every reader here:
# - A record whose header or body runs past the end of the data is *incomplete*: reading stops
#   before it and the offset stays there, so a later read picks the record up once the writer has
#   flushed the rest of it.
# - A record header whose length CRC is wrong, or whose length is absurd (more than
#   ``MAX_RECORD_BYTES``, 64 MiB), is *corrupt*. ``iter_records`` stops before it. An
#   ``EventFileReader`` skips the damage and resynchronises: it searches for the next position
#   where a header checks out *and* the record's data CRC matches, reads on from there, and
#   records what it skipped as a ``DataLoss`` (so the follower can say what was lost).
#   A file that gets shorter than what was already read (truncated or rewritten) is a
#   ``DataLoss`` too; reading goes on from its new end.
# - The data CRC is not checked record by record (pure-Python CRC32C would cost more than
#   parsing), only for the first record after a resynchronisation; a record whose body does not
#   parse as an Event is skipped whole, never half-read.

from __future__ import annotations

import gc
import math
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "EVENT_FILE_PREFIX",
    "FILE_VERSION",
    "MAX_RECORD_BYTES",
    "DataLoss",
    "EventDirFollower",
    "EventFileReader",
    "ScalarPoint",
    "crc32c",
    "encode_scalar_event",
    "frame_record",
    "iter_records",
    "masked_crc32c",
    "parse_event_scalars",
    "read_scalars",
    "write_scalar_events",
]

MAX_RECORD_BYTES = 64 * 1024 * 1024
EVENT_FILE_PREFIX = "events.out.tfevents."
FILE_VERSION = "brain.Event:2"

_READ_CHUNK = 4 * 1024 * 1024
_HEADER = 12  # uint64 length + uint32 length crc
_FOOTER = 4  # uint32 data crc


@dataclass(frozen=True, slots=True)
class ScalarPoint:
    """One scalar: its tag, global step, value (nan and inf kept) and the event's wall time."""

    tag: str
    step: int
    value: float
    wall_time: float


# A frozen dataclass's __init__ (object.__setattr__ per field) costs as much as parsing; the
# readers fill its slots through the member descriptors instead (same object, same semantics).
_new_object = object.__new__
_set_tag = vars(ScalarPoint)["tag"].__set__
_set_step = vars(ScalarPoint)["step"].__set__
_set_value = vars(ScalarPoint)["value"].__set__
_set_wall = vars(ScalarPoint)["wall_time"].__set__


def _point(tag: str, step: int, value: float, wall_time: float) -> ScalarPoint:
    p = _new_object(ScalarPoint)
    _set_tag(p, tag)
    _set_step(p, step)
    _set_value(p, value)
    _set_wall(p, wall_time)
    return p


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

_HDR = struct.Struct("<QI")
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")

# masked crc of the 8 length bytes, by length: records of one tag share their length, so the
# header check costs one dict lookup. Bounded: past the cap new lengths are computed each time.
_LEN_CRC: dict[int, int] = {}
_LEN_CRC_CAP = 1 << 16

_OK, _INCOMPLETE, _CORRUPT = 0, 1, 2


def _length_crc(length: int) -> int:
    crc = _LEN_CRC.get(length)
    if crc is None:
        crc = masked_crc32c(_U64.pack(length))
        if len(_LEN_CRC) < _LEN_CRC_CAP:
            _LEN_CRC[length] = crc
    return crc


def _check_header(buf: bytes, pos: int) -> tuple[int, int]:
    """(state, length) of the record at pos: _OK, _INCOMPLETE or _CORRUPT."""
    n = len(buf)
    if pos + _HEADER > n:
        return _INCOMPLETE, 0
    length, lcrc = _HDR.unpack_from(buf, pos)
    if length > MAX_RECORD_BYTES or _length_crc(length) != lcrc:
        return _CORRUPT, length
    if pos + _HEADER + length + _FOOTER > n:
        return _INCOMPLETE, length
    return _OK, length


def frame_record(data: bytes) -> bytes:
    """One TFRecord: header with masked length CRC, data, masked data CRC."""
    return b"".join(
        (_HDR.pack(len(data), _length_crc(len(data))), data, _U32.pack(masked_crc32c(data)))
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
        state, length = _check_header(buf, pos)
        if state != _OK:
            return records, pos
        start = pos + _HEADER
        records.append(buf[start : start + length])
        pos = start + length + _FOOTER


# --- protobuf decoding ----------------------------------------------------------------------


class _Malformed(Exception):
    """A record's body is not a well-formed Event (caught per record)."""


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    b = buf[i]
    if b < 0x80:
        return b, i + 1
    result = b & 0x7F
    shift = 7
    i += 1
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise _Malformed("varint too long")


def _skip(buf: bytes, i: int, wire_type: int) -> int:
    if wire_type == 0:
        while buf[i] >= 0x80:
            i += 1
        return i + 1
    if wire_type == 2:
        n, i = _varint(buf, i)
        return i + n
    if wire_type == 1:
        return i + 8
    if wire_type == 5:
        return i + 4
    raise _Malformed(f"wire type {wire_type}")  # groups (3, 4) never occur in an Event


def _fields(buf: bytes, i: int, end: int) -> Iterable[tuple[int, int, int, int]]:
    """(field number, wire type, payload start, payload end) of each field in buf[i:end].

    For wire type 0 the payload is the varint's bytes; for 2 the bytes after the length.
    """
    while i < end:
        key, i = _varint(buf, i)
        wire_type = key & 7
        if wire_type == 2:
            n, i = _varint(buf, i)
            j = i + n
        else:
            j = _skip(buf, i, wire_type)
        if j > end:
            raise _Malformed("field runs past its message")
        yield key >> 3, wire_type, i, j
        i = j


_TAGS: dict[bytes, str] = {}  # raw tag bytes -> interned str
_TAGS_CAP = 1 << 16


def _tag(raw: bytes) -> str:
    tag = _TAGS.get(raw)
    if tag is None:
        tag = raw.decode("utf-8", "replace")
        if len(_TAGS) < _TAGS_CAP:
            _TAGS[raw] = tag
    return tag


# TensorFlow DataType numbers of the numeric types, with the struct format of one element in
# tensor_content and the TensorProto field that holds typed values otherwise.
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_UINT8, _DT_INT16, _DT_INT8 = 1, 2, 3, 4, 5, 6
_DT_INT64, _DT_BOOL, _DT_BFLOAT16, _DT_UINT16 = 9, 10, 14, 17
_DT_HALF, _DT_UINT32, _DT_UINT64 = 19, 22, 23
_CONTENT_FORMAT = {
    _DT_FLOAT: "<f",
    _DT_DOUBLE: "<d",
    _DT_INT32: "<i",
    _DT_UINT8: "<B",
    _DT_INT16: "<h",
    _DT_INT8: "<b",
    _DT_INT64: "<q",
    _DT_BOOL: "<?",
    _DT_BFLOAT16: "<H",  # upper half of a float32
    _DT_UINT16: "<H",
    _DT_HALF: "<e",
    _DT_UINT32: "<I",
    _DT_UINT64: "<Q",
}
_VAL_FIELD = {  # dtype -> TensorProto field of its typed values
    _DT_FLOAT: 5,
    _DT_DOUBLE: 6,
    _DT_INT32: 7,
    _DT_UINT8: 7,
    _DT_INT16: 7,
    _DT_INT8: 7,
    _DT_INT64: 10,
    _DT_BOOL: 11,
    _DT_BFLOAT16: 13,
    _DT_UINT16: 7,
    _DT_HALF: 13,
    _DT_UINT32: 16,
    _DT_UINT64: 17,
}
_SCALAR_PLUGINS = frozenset({b"", b"scalars"})
_DATA_CLASS_SCALAR = 1


def _first_typed_value(buf: bytes, s: int, e: int, wire_type: int, field: int) -> float:
    """The first element of a repeated numeric field, packed (wire type 2) or not."""
    if field == 5:  # float_val
        return _F32.unpack_from(buf, s)[0] if e - s >= 4 else math.nan
    if field == 6:  # double_val
        return _F64.unpack_from(buf, s)[0] if e - s >= 8 else math.nan
    v, _ = _varint(buf, s)
    if field in (7, 10) and v >= 1 << 63:
        v -= 1 << 64
    elif field == 7 and v >= 1 << 31:  # int32 sign-extended to 64 bits
        v -= 1 << 32
    return float(v)


def _tensor_scalar(buf: bytes, s: int, e: int) -> float | None:
    """The value of a rank-0 numeric TensorProto in buf[s:e]; None for anything else."""
    dtype = 0
    rank = 0
    content: tuple[int, int] | None = None
    typed: dict[int, tuple[int, int, int]] = {}
    for field, wire_type, fs, fe in _fields(buf, s, e):
        if field == 1 and wire_type == 0:
            dtype = _varint(buf, fs)[0]
        elif field == 2 and wire_type == 2:  # TensorShapeProto: count its dims
            for f2, w2, _, _ in _fields(buf, fs, fe):
                if f2 == 2 and w2 == 2:
                    rank += 1
                elif f2 == 3 and w2 == 0 and buf[fs]:
                    rank = -1  # unknown rank
        elif field == 4 and wire_type == 2:
            content = (fs, fe)
        elif field not in typed and (field in (5, 6, 7, 10, 11, 13, 16, 17)):
            typed[field] = (wire_type, fs, fe)
    fmt = _CONTENT_FORMAT.get(dtype)
    if fmt is None or rank != 0:
        return None
    if content is not None and content[1] > content[0]:
        if content[1] - content[0] < struct.calcsize(fmt):
            return None
        v = struct.unpack_from(fmt, buf, content[0])[0]
    else:
        field = _VAL_FIELD[dtype]
        if field not in typed:
            return None
        wire_type, fs, fe = typed[field]
        if wire_type == 2 and fe == fs:
            return None
        v = _first_typed_value(buf, fs, fe, wire_type, field)
        if dtype == _DT_HALF:
            v = struct.unpack("<e", struct.pack("<H", int(v) & 0xFFFF))[0]
    if dtype == _DT_BFLOAT16:
        v = struct.unpack("<f", struct.pack("<I", (int(v) & 0xFFFF) << 16))[0]
    return float(v)


def _metadata_is_scalar(buf: bytes, s: int, e: int) -> bool:
    """SummaryMetadata: plugin "scalars" (or none), or data class scalar."""
    plugin = b""
    data_class = 0
    for field, wire_type, fs, fe in _fields(buf, s, e):
        if field == 1 and wire_type == 2:  # PluginData
            for f2, w2, ps, pe in _fields(buf, fs, fe):
                if f2 == 1 and w2 == 2:
                    plugin = buf[ps:pe]
        elif field == 4 and wire_type == 0:
            data_class = _varint(buf, fs)[0]
    return plugin in _SCALAR_PLUGINS or data_class == _DATA_CLASS_SCALAR


def _summary_values(buf: bytes, s: int, e: int, values: list[tuple[str, float]]) -> None:
    """Append (tag, value) of each scalar Summary.Value in the Summary in buf[s:e]."""
    for field, wire_type, vs, ve in _fields(buf, s, e):
        if field != 1 or wire_type != 2:
            continue
        tag = b""
        simple: float | None = None
        tensor: tuple[int, int] | None = None
        metadata: tuple[int, int] | None = None
        for f2, w2, fs, fe in _fields(buf, vs, ve):
            if f2 == 1 and w2 == 2:
                tag = buf[fs:fe]
            elif f2 == 2 and w2 == 5:
                simple = _F32.unpack_from(buf, fs)[0]
            elif f2 == 8 and w2 == 2:
                tensor = (fs, fe)
            elif f2 == 9 and w2 == 2:
                metadata = (fs, fe)
            # 3 old-style histogram, 4 image, 5 histo, 6 audio, 7 node_name: not scalars
        if simple is not None:
            values.append((_tag(tag), simple))
        elif tensor is not None:
            if metadata is not None and not _metadata_is_scalar(buf, *metadata):
                continue  # text, hparams, histograms... written as tensors
            v = _tensor_scalar(buf, *tensor)
            if v is not None:
                values.append((_tag(tag), v))


def _parse_event_into(buf: bytes, s: int, e: int, out: list[ScalarPoint]) -> bool:
    """Append the scalars of the Event in buf[s:e]; a malformed Event appends nothing and
    gives False."""
    try:
        wall = 0.0
        step = 0
        summaries = []
        for field, wire_type, fs, fe in _fields(buf, s, e):
            if field == 1 and wire_type == 1:
                wall = _F64.unpack_from(buf, fs)[0]
            elif field == 2 and wire_type == 0:
                step = _varint(buf, fs)[0]
                if step >= 1 << 63:
                    step -= 1 << 64
            elif field == 5 and wire_type == 2:
                summaries.append((fs, fe))
        if not summaries:
            return True
        values: list[tuple[str, float]] = []
        for ss, se in summaries:
            _summary_values(buf, ss, se, values)
    except (_Malformed, IndexError, struct.error, KeyError, ValueError, OverflowError):
        return False
    for tag, value in values:
        out.append(_point(tag, step, value, wall))
    return True


# Fast path. torch's SummaryWriter writes each scalar as its own Event laid out exactly as
#     09 <wall f64> 10 <step varint> 2a L1 0a L2 0a TL <tag> 15 <value f32>
# so the bytes between the step and the value ("the key") depend on the tag only. A key seen
# once and proven to have that exact layout maps straight to its tag; the record is then read
# with two struct unpacks and one dict lookup. Anything else takes the general parser.
_FAST: dict[bytes, str] = {}
_FAST_CAP = 1 << 16
_FAST_MAX_RECORD = 300


def _fast_key_tag(key: bytes) -> str | None:
    """The tag if key is exactly ``2a L1 0a L2 0a TL tag 15`` before a 4-byte value, else None."""
    try:
        if key[0] != 0x2A:
            return None
        l1, i = _varint(key, 1)
        if l1 != len(key) - i + 4 or key[i] != 0x0A:
            return None
        l2, i = _varint(key, i + 1)
        if l2 != len(key) - i + 4 or key[i] != 0x0A:
            return None
        tl, i = _varint(key, i + 1)
        if tl != len(key) - i - 1 or key[-1] != 0x15:
            return None
        return _tag(key[i:-1])
    except (IndexError, _Malformed):
        return None


# 26 bytes: record header, then the 09 <wall> 10 that start such an Event, then 4 step bytes
_FAST_HEAD = struct.Struct("<QIBdBBBBB")


def _scan(
    buf: bytes, pos: int, out: list[ScalarPoint], bad: list[tuple[int, int, int]] | None = None
) -> tuple[int, int]:
    """Parse the complete records of buf from pos, appending their scalars to out (and the
    (offset, size, len(out)) of each record whose body is not an Event to bad).

    Returns (offset after the last complete record, what stopped it: _INCOMPLETE or _CORRUPT).
    """
    n = len(buf)
    unpack_head = _FAST_HEAD.unpack_from
    unpack_hdr = _HDR.unpack_from
    unpack_f32 = _F32.unpack_from
    len_crc_get = _LEN_CRC.get
    fast = _FAST
    fast_get = fast.get
    append = out.append
    new = _new_object
    cls = ScalarPoint
    set_tag, set_step, set_value, set_wall = _set_tag, _set_step, _set_value, _set_wall
    while pos + 12 <= n:
        if pos + 26 <= n:
            length, lcrc, t1, wall, t2, b0, b1, b2, b3 = unpack_head(buf, pos)
        else:
            length, lcrc = unpack_hdr(buf, pos)
            t1 = 0
        if len_crc_get(length) != lcrc and (
            length > MAX_RECORD_BYTES or _length_crc(length) != lcrc
        ):
            return pos, _CORRUPT
        s = pos + 12
        e = s + length
        if e + 4 > n:
            return pos, _INCOMPLETE
        pos = e + 4
        if t1 == 0x09 and t2 == 0x10 and 16 < length < _FAST_MAX_RECORD:
            # Event starts with wall_time then step: decode the step varint (up to 4 bytes here)
            if b0 < 0x80:
                step = b0
                i = s + 11
            elif b1 < 0x80:
                step = (b0 & 0x7F) | b1 << 7
                i = s + 12
            elif b2 < 0x80:
                step = (b0 & 0x7F) | (b1 & 0x7F) << 7 | b2 << 14
                i = s + 13
            elif b3 < 0x80:
                step = (b0 & 0x7F) | (b1 & 0x7F) << 7 | (b2 & 0x7F) << 14 | b3 << 21
                i = s + 14
            else:
                try:
                    step, i = _varint(buf, s + 10)
                except _Malformed:
                    step, i = 0, e
                if step >= 1 << 63:
                    step -= 1 << 64
            if i < e - 4:
                key = buf[i : e - 4]
                tag = fast_get(key)
                if tag is None:
                    tag = _fast_key_tag(key)
                    if tag is not None and len(fast) < _FAST_CAP:
                        fast[key] = tag
                if tag is not None:
                    p = new(cls)
                    set_tag(p, tag)
                    set_step(p, step)
                    set_value(p, unpack_f32(buf, e - 4)[0])
                    set_wall(p, wall)
                    append(p)
                    continue
        if not _parse_event_into(buf, s, e, out) and bad is not None:
            bad.append((s - 12, length + 16, len(out)))
    return pos, _INCOMPLETE


def _scan_without_gc(
    buf: bytes, pos: int, out: list[ScalarPoint], bad: list[tuple[int, int, int]] | None = None
) -> tuple[int, int]:
    """_scan with the cyclic GC paused: building 100,000s of points otherwise triggers
    collections that cost a third of the time. Callers pass at most a few MB at a time, so
    the pause stays short."""
    if not gc.isenabled():
        return _scan(buf, pos, out, bad)
    gc.disable()
    try:
        return _scan(buf, pos, out, bad)
    finally:
        gc.enable()


def parse_event_scalars(record: bytes | bytearray | memoryview) -> list[ScalarPoint]:
    """The scalars in one record's data (a serialized Event); [] for anything without one."""
    data = record if isinstance(record, bytes) else bytes(record)
    out: list[ScalarPoint] = []
    _parse_event_into(data, 0, len(data), out)
    return out


# --- readers --------------------------------------------------------------------------------


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


def _find_header(buf: bytes, start: int) -> int:
    """The first position from start where a record header checks out (length within
    MAX_RECORD_BYTES, length CRC right); else the first position that more data could still
    make one (len(buf) - 11 at most)."""
    last = len(buf) - _HEADER
    i = start
    while i <= last:
        # a length under 64 MiB has its four high bytes zero: jump to the next such place
        j = buf.find(_ZEROS, i + 4)
        if j < 0 or j - 4 > last:
            break
        p = j - 4
        length, lcrc = _HDR.unpack_from(buf, p)
        if length <= MAX_RECORD_BYTES and _length_crc(length) == lcrc:
            return p
        if length == 0 and lcrc == 0:  # a run of zeros (a hole): jump past it
            m = _NONZERO.search(buf, p)
            i = max(p + 1, (m.start() if m else len(buf)) - _HEADER + 1)
        else:
            i = p + 1
    return max(start, len(buf) - _HEADER + 1)


def _verify_record(buf: bytes, pos: int) -> int:
    """_OK if a whole record with a right length CRC and a right data CRC is at pos;
    _INCOMPLETE if more data is needed to tell; _CORRUPT otherwise."""
    state, length = _check_header(buf, pos)
    if state != _OK:
        return state
    start = pos + _HEADER
    (crc,) = _U32.unpack_from(buf, start + length)
    return _OK if masked_crc32c(buf[start : start + length]) == crc else _CORRUPT


class EventFileReader:
    """Follows one event file: each read_new() parses only the whole records added since.

    ``offset`` counts the bytes consumed; a record still being written stays unread until
    complete. Damaged bytes are skipped (see the module comment) and each loss is appended to
    ``losses`` (the caller takes them from there); ``corrupt`` is true while the reader is
    inside damaged bytes, looking for the next good record.
    """

    __slots__ = ("_last_step", "_loss_start", "_loss_step", "_verify", "losses", "offset", "path")

    def __init__(self, path: str | os.PathLike[str], offset: int = 0) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.losses: list[DataLoss] = []
        self._verify = False  # check the data CRC of the next record before trusting it
        self._loss_start: int | None = None  # start of the damaged bytes being skipped
        self._loss_step: int | None = None
        self._last_step: int | None = None

    def __repr__(self) -> str:
        return f"EventFileReader({str(self.path)!r}, offset={self.offset})"

    @property
    def corrupt(self) -> bool:
        """Inside damaged bytes: reading resumes at the next record that checks out."""
        return self._loss_start is not None

    def _lose(self, kind: str, offset: int, size: int, step: int | None) -> None:
        last = self.losses[-1] if self.losses else None
        if kind == "damaged" and last and last.kind == kind and last.offset + last.size == offset:
            self.losses[-1] = DataLoss(
                last.path, kind, last.offset, last.size + size, last.after_step
            )
            return  # one stretch of damage, one loss
        self.losses.append(DataLoss(str(self.path), kind, offset, size, step))

    def _consume(self, buf: bytes, base: int, out: list[ScalarPoint]) -> int:
        """Parse buf (the file's bytes from offset base), skipping damage; returns how many of
        its bytes are consumed (the rest waits for more data)."""
        i = 0
        while True:
            if self._verify:
                state = _verify_record(buf, i)
                if state == _INCOMPLETE:
                    return i
                if state == _CORRUPT:
                    if self._loss_start is None:
                        self._loss_start, self._loss_step = base + i, self._last_step
                    i = _find_header(buf, i + 1)
                    continue
                if self._loss_start is not None:
                    size = base + i - self._loss_start
                    self._lose("damaged", self._loss_start, size, self._loss_step)
                    self._loss_start = None
                self._verify = False
            n = len(out)
            bad: list[tuple[int, int, int]] = []
            i, state = _scan_without_gc(buf, i, out, bad)
            for start, size, k in bad:  # a whole record whose body is not an Event
                step = out[k - 1].step if k > n else self._last_step
                self._lose("damaged", base + start, size, step)
            if len(out) > n:
                self._last_step = out[-1].step
            if state != _CORRUPT:
                return i
            self._verify = True  # the record at i is bad: the check above skips it

    def read_new(self, max_bytes: int | None = None) -> list[ScalarPoint]:
        """Scalars of the whole records after offset; a missing file gives [].

        max_bytes bounds the bytes read in this call, but a call always reads at least one
        whole record when one is there, however large. A file shorter than offset is reported
        in ``losses`` and read on from its new end.
        """
        out: list[ScalarPoint] = []
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError:
            return out
        pos = self.offset
        with f:
            try:
                size = os.fstat(f.fileno()).st_size
                if size < pos:
                    self._lose("truncated", size, pos - size, self._last_step)
                    pos = self.offset = size
                    self._loss_start = None
                    self._verify = True  # the new end may cut a record: check what comes
                if size <= pos:
                    return out
                f.seek(pos)
                end = size
                if max_bytes is not None:
                    end = min(size, pos + max(int(max_bytes), 1))
                    head = f.read(_HEADER)
                    f.seek(pos)
                    state, length = _check_header(head + bytes(_FOOTER), 0)
                    if state != _CORRUPT and len(head) == _HEADER:
                        end = min(size, max(end, pos + _HEADER + length + _FOOTER))
                buf = b""
                while pos + len(buf) < end:
                    want = min(end - pos - len(buf), _READ_CHUNK)
                    if len(buf) >= _HEADER:  # a record bigger than a chunk: read all of it
                        state, length = _check_header(buf[:_HEADER] + bytes(_FOOTER), 0)
                        if state != _CORRUPT:
                            need = _HEADER + length + _FOOTER - len(buf)
                            want = min(end - pos - len(buf), max(want, need))
                    chunk = f.read(want)
                    if not chunk:
                        break
                    buf = buf + chunk if buf else chunk
                    used = self._consume(buf, pos, out)
                    pos += used
                    buf = buf[used:]
            except OSError:
                pass
            self.offset = pos
        return out

    def end(self) -> None:
        """The run that writes the file has ended: bytes left unread are lost for good
        (damage still being skipped, a record cut off at the end); add them to ``losses``."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if self._loss_start is not None:
            if size > self._loss_start:
                self._lose("damaged", self._loss_start, size - self._loss_start, self._loss_step)
            self._loss_start = None
        elif size > self.offset:
            self._lose("incomplete", self.offset, size - self.offset, self._last_step)
        self.offset = max(self.offset, size)


def _version_number(rel_parts: tuple[str, ...]) -> int:
    """N of the innermost version_N folder on a file's path below the root; -1 if none."""
    for part in reversed(rel_parts):
        m = _VERSION_RE.fullmatch(part)
        if m:
            return int(m.group(1))
    return -1


_VERSION_RE = re.compile(r"version_(\d+)")


class EventDirFollower:
    """Follows every event file under a run folder (recursively), each from its own offset.

    Files are found again at each poll, so a new ``version_N/`` folder or a new event file is
    picked up as it appears. ``offsets`` (keyed by str(path) of each file, path being the root
    as given joined with the file's path below it) lets a later follower resume where this one
    stopped; keys given to __init__ are matched by absolute path, so a relative or absolute root
    both work. Files are read in order of (version number, file name); files not below any
    ``version_N`` folder come first. ``checkpoints`` folders are not searched.
    """

    def __init__(self, root: str | os.PathLike[str], offsets: dict[str, int] | None = None) -> None:
        self.root = Path(root)
        self._saved = {os.path.abspath(k): int(v) for k, v in (offsets or {}).items()}
        self._readers: dict[str, EventFileReader] = {}
        self._versions: dict[str, int] = {}
        self._walked: set[str] = set()  # os.walk paths already turned into readers
        self._order: list[EventFileReader] = []

    def _add(self, path: Path, version: int) -> bool:
        key = str(path)
        if key in self._readers:
            return False
        self._readers[key] = EventFileReader(path, self._saved.get(os.path.abspath(path), 0))
        self._versions[key] = version
        return True

    def _discover(self) -> None:
        root = self.root
        added = False
        if root.is_file():
            added = self._add(root, -1)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "checkpoints"]
            for name in filenames:
                if not name.startswith(EVENT_FILE_PREFIX):
                    continue
                raw = os.path.join(dirpath, name)
                if raw in self._walked:
                    continue
                self._walked.add(raw)
                p = Path(raw)
                added |= self._add(p, _version_number(p.relative_to(root).parts[:-1]))
        if added:
            self._order = [
                self._readers[k]
                for k in sorted(self._readers, key=lambda k: (self._versions[k], Path(k).name, k))
            ]

    def poll(self, max_bytes: int | None = None) -> list[ScalarPoint]:
        """New points of all files, never re-reading consumed bytes.

        max_bytes bounds the bytes read from each file in this call (see read_new).
        """
        self._discover()
        out: list[ScalarPoint] = []
        for reader in self._order:
            out.extend(reader.read_new(max_bytes))
        return out

    def take_losses(self, *, ended: bool = False) -> list[DataLoss]:
        """What could not be read since the last call (see DataLoss). ended: the run is over,
        so what is still unread (a cut-off last record, damage at the end) is lost too."""
        out: list[DataLoss] = []
        if ended:
            self._discover()
        for reader in self._order:
            if ended:
                reader.end()
            out.extend(reader.losses)
            reader.losses.clear()
        return out

    @property
    def files(self) -> list[Path]:
        """The event files found so far, in reading order."""
        return [r.path for r in self._order]

    @property
    def offsets(self) -> dict[str, int]:
        """Bytes consumed per file (str(path) -> offset), for a follower that resumes later."""
        result = {k: v for k, v in self._saved.items()}
        for key, reader in self._readers.items():
            result.pop(os.path.abspath(reader.path), None)
            result[key] = reader.offset
        return result


def read_scalars(path_or_dir: str | os.PathLike[str]) -> list[ScalarPoint]:
    """Every scalar in an event file, or in every event file under a folder."""
    path = Path(path_or_dir)
    if path.is_dir():
        return EventDirFollower(path).poll()
    return EventFileReader(path).read_new()


# --- writer ---------------------------------------------------------------------------------

Encoding = Literal["simple_value", "tensor_float", "tensor_double"]


def _encode_varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    if v < 0x80:
        return bytes((v,))
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _len_field(key: int, payload: bytes) -> bytes:
    return bytes((key,)) + _encode_varint(len(payload)) + payload


_SCALARS_METADATA = _len_field(0x0A, _len_field(0x0A, b"scalars"))  # plugin_data{plugin_name}


_WALL_STEP = struct.Struct("<BdB")  # 09 <wall_time> 10, then the step varint


def _event_header(wall_time: float, step: int) -> bytes:
    if wall_time != 0.0 and step != 0:
        return _WALL_STEP.pack(0x09, wall_time, 0x10) + _encode_varint(step)
    parts = b""  # proto3 leaves default values out
    if wall_time != 0.0:
        parts += b"\x09" + _F64.pack(wall_time)
    if step != 0:
        parts += b"\x10" + _encode_varint(step)
    return parts


def _pack_f32(v: float) -> bytes:
    """v as float32, out-of-range values rounding to +-inf as a float32 cast does."""
    try:
        return _F32.pack(v)
    except OverflowError:
        return _F32.pack(math.copysign(math.inf, v))


# (tag, encoding) -> the Event's summary bytes before and after the value's bytes
_TEMPLATES: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _template(tag: str, encoding: str) -> tuple[bytes, bytes]:
    found = _TEMPLATES.get((tag, encoding))
    if found is not None:
        return found
    tag_field = _len_field(0x0A, tag.encode("utf-8"))
    suffix = b""
    if encoding == "simple_value":
        size, value = 4, tag_field + b"\x15" + bytes(4)
    elif encoding == "tensor_float":  # dtype DT_FLOAT, shape {} (rank 0), packed float_val
        suffix = _len_field(0x4A, _SCALARS_METADATA)
        size, value = 4, tag_field + _len_field(0x42, b"\x08\x01\x12\x00\x2a\x04" + bytes(4))
    elif encoding == "tensor_double":  # DT_DOUBLE, packed double_val
        suffix = _len_field(0x4A, _SCALARS_METADATA)
        size, value = 8, tag_field + _len_field(0x42, b"\x08\x02\x12\x00\x32\x08" + bytes(8))
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    summary = _len_field(0x2A, _len_field(0x0A, value + suffix))
    cut = len(summary) - len(suffix) - size
    found = (summary[:cut], summary[cut + size :])
    if len(_TEMPLATES) < _TAGS_CAP:
        _TEMPLATES[(tag, encoding)] = found
    return found


def encode_scalar_event(point: ScalarPoint, encoding: Encoding = "simple_value") -> bytes:
    """A serialized Event holding one scalar, as torch ("simple_value") or TF2 (tensor) write it."""
    before, after = _template(point.tag, encoding)
    value = _F64.pack(point.value) if encoding == "tensor_double" else _pack_f32(point.value)
    return _event_header(point.wall_time, point.step) + before + value + after


def write_scalar_events(
    path: str | os.PathLike[str],
    points: Iterable[ScalarPoint],
    *,
    encoding: Encoding = "simple_value",
    wall_time: float | None = None,
) -> None:
    """Write a valid event file: the file_version record, then one Event per point.

    wall_time is the file_version record's (default: the first point's, else 0).
    """
    points = iter(points)
    first = next(points, None)
    if wall_time is None:
        wall_time = first.wall_time if first is not None else 0.0
    version = _event_header(wall_time, 0) + _len_field(0x1A, FILE_VERSION.encode())
    with open(path, "wb") as f:
        f.write(frame_record(version))
        if first is None:
            return
        batch = [frame_record(encode_scalar_event(first, encoding))]
        for p in points:
            batch.append(frame_record(encode_scalar_event(p, encoding)))
            if len(batch) >= 8192:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))
