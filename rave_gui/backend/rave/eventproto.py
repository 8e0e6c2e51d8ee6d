"""The Event protobuf and its scalars: ScalarPoint, records decoded into points, Events encoded."""

# Each TFRecord of an event file (tfrecord) holds a serialized ``tensorflow.Event`` protobuf. The
# first record of a file holds ``file_version`` ("brain.Event:2"); scalars come as
# ``Summary.Value.simple_value`` (torch, Lightning, RAVE) or as a rank-0 ``TensorProto`` (TF2 and
# newer writers).

from __future__ import annotations

import gc
import math
import struct
from dataclasses import dataclass
from typing import Literal

from .protobuf import Malformed, encode_varint, fields, len_field, varint
from .tfrecord import CORRUPT, INCOMPLETE, LENGTH_CRCS, MAX_RECORD_BYTES, RECORD_HEADER, length_crc

__all__ = [
    "FILE_VERSION",
    "Encoding",
    "ScalarPoint",
    "encode_file_version",
    "encode_scalar_event",
    "parse_event_scalars",
    "scan_records",
]

FILE_VERSION = "brain.Event:2"

_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


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


# --- decoding -------------------------------------------------------------------------------


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
    v, _ = varint(buf, s)
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
    for field, wire_type, fs, fe in fields(buf, s, e):
        if field == 1 and wire_type == 0:
            dtype = varint(buf, fs)[0]
        elif field == 2 and wire_type == 2:  # TensorShapeProto: count its dims
            for f2, w2, _, _ in fields(buf, fs, fe):
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
    for field, wire_type, fs, fe in fields(buf, s, e):
        if field == 1 and wire_type == 2:  # PluginData
            for f2, w2, ps, pe in fields(buf, fs, fe):
                if f2 == 1 and w2 == 2:
                    plugin = buf[ps:pe]
        elif field == 4 and wire_type == 0:
            data_class = varint(buf, fs)[0]
    return plugin in _SCALAR_PLUGINS or data_class == _DATA_CLASS_SCALAR


def _summary_values(buf: bytes, s: int, e: int, values: list[tuple[str, float]]) -> None:
    """Append (tag, value) of each scalar Summary.Value in the Summary in buf[s:e]."""
    for field, wire_type, vs, ve in fields(buf, s, e):
        if field != 1 or wire_type != 2:
            continue
        tag = b""
        simple: float | None = None
        tensor: tuple[int, int] | None = None
        metadata: tuple[int, int] | None = None
        for f2, w2, fs, fe in fields(buf, vs, ve):
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
        for field, wire_type, fs, fe in fields(buf, s, e):
            if field == 1 and wire_type == 1:
                wall = _F64.unpack_from(buf, fs)[0]
            elif field == 2 and wire_type == 0:
                step = varint(buf, fs)[0]
                if step >= 1 << 63:
                    step -= 1 << 64
            elif field == 5 and wire_type == 2:
                summaries.append((fs, fe))
        if not summaries:
            return True
        values: list[tuple[str, float]] = []
        for ss, se in summaries:
            _summary_values(buf, ss, se, values)
    except (Malformed, IndexError, struct.error, KeyError, ValueError, OverflowError):
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
        l1, i = varint(key, 1)
        if l1 != len(key) - i + 4 or key[i] != 0x0A:
            return None
        l2, i = varint(key, i + 1)
        if l2 != len(key) - i + 4 or key[i] != 0x0A:
            return None
        tl, i = varint(key, i + 1)
        if tl != len(key) - i - 1 or key[-1] != 0x15:
            return None
        return _tag(key[i:-1])
    except (IndexError, Malformed):
        return None


# 26 bytes: record header, then the 09 <wall> 10 that start such an Event, then 4 step bytes
_FAST_HEAD = struct.Struct("<QIBdBBBBB")


def _scan(
    buf: bytes, pos: int, out: list[ScalarPoint], bad: list[tuple[int, int, int]] | None = None
) -> tuple[int, int]:
    """Parse the complete records of buf from pos, appending their scalars to out (and the
    (offset, size, len(out)) of each record whose body is not an Event to bad).

    Returns (offset after the last complete record, what stopped it: INCOMPLETE or CORRUPT).
    """
    n = len(buf)
    unpack_head = _FAST_HEAD.unpack_from
    unpack_hdr = RECORD_HEADER.unpack_from
    unpack_f32 = _F32.unpack_from
    len_crc_get = LENGTH_CRCS.get
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
            length > MAX_RECORD_BYTES or length_crc(length) != lcrc
        ):
            return pos, CORRUPT
        s = pos + 12
        e = s + length
        if e + 4 > n:
            return pos, INCOMPLETE
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
                    step, i = varint(buf, s + 10)
                except Malformed:
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
    return pos, INCOMPLETE


def scan_records(
    buf: bytes, pos: int, out: list[ScalarPoint], bad: list[tuple[int, int, int]] | None = None
) -> tuple[int, int]:
    """Parse the complete records of buf from pos into out, as _scan does (its docstring says
    what comes back), with the cyclic GC paused: building 100,000s of points otherwise triggers
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


# --- encoding -------------------------------------------------------------------------------

Encoding = Literal["simple_value", "tensor_float", "tensor_double"]


_SCALARS_METADATA = len_field(0x0A, len_field(0x0A, b"scalars"))  # plugin_data{plugin_name}


_WALL_STEP = struct.Struct("<BdB")  # 09 <wall_time> 10, then the step varint


def _event_header(wall_time: float, step: int) -> bytes:
    if wall_time != 0.0 and step != 0:
        return _WALL_STEP.pack(0x09, wall_time, 0x10) + encode_varint(step)
    parts = b""  # proto3 leaves default values out
    if wall_time != 0.0:
        parts += b"\x09" + _F64.pack(wall_time)
    if step != 0:
        parts += b"\x10" + encode_varint(step)
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
    tag_field = len_field(0x0A, tag.encode("utf-8"))
    suffix = b""
    if encoding == "simple_value":
        size, value = 4, tag_field + b"\x15" + bytes(4)
    elif encoding == "tensor_float":  # dtype DT_FLOAT, shape {} (rank 0), packed float_val
        suffix = len_field(0x4A, _SCALARS_METADATA)
        size, value = 4, tag_field + len_field(0x42, b"\x08\x01\x12\x00\x2a\x04" + bytes(4))
    elif encoding == "tensor_double":  # DT_DOUBLE, packed double_val
        suffix = len_field(0x4A, _SCALARS_METADATA)
        size, value = 8, tag_field + len_field(0x42, b"\x08\x02\x12\x00\x32\x08" + bytes(8))
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    summary = len_field(0x2A, len_field(0x0A, value + suffix))
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


def encode_file_version(wall_time: float) -> bytes:
    """A serialized Event holding the file_version, the first record of every event file."""
    return _event_header(wall_time, 0) + len_field(0x1A, FILE_VERSION.encode())
