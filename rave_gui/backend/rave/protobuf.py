"""The protobuf wire format, as far as event files need it: varints, fields, length-delimited."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Malformed", "encode_varint", "fields", "len_field", "skip", "varint"]

# --- decoding -------------------------------------------------------------------------------


class Malformed(Exception):
    """A record's body is not a well-formed Event (caught per record)."""


def varint(buf: bytes, i: int) -> tuple[int, int]:
    """(value, position after it) of the varint at buf[i]."""
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
            raise Malformed("varint too long")


def skip(buf: bytes, i: int, wire_type: int) -> int:
    """The position after the payload of wire_type that starts at buf[i]."""
    if wire_type == 0:
        while buf[i] >= 0x80:
            i += 1
        return i + 1
    if wire_type == 2:
        n, i = varint(buf, i)
        return i + n
    if wire_type == 1:
        return i + 8
    if wire_type == 5:
        return i + 4
    raise Malformed(f"wire type {wire_type}")  # groups (3, 4) never occur in an Event


def fields(buf: bytes, i: int, end: int) -> Iterable[tuple[int, int, int, int]]:
    """(field number, wire type, payload start, payload end) of each field in buf[i:end].

    For wire type 0 the payload is the varint's bytes; for 2 the bytes after the length.
    """
    while i < end:
        key, i = varint(buf, i)
        wire_type = key & 7
        if wire_type == 2:
            n, i = varint(buf, i)
            j = i + n
        else:
            j = skip(buf, i, wire_type)
        if j > end:
            raise Malformed("field runs past its message")
        yield key >> 3, wire_type, i, j
        i = j


# --- encoding -------------------------------------------------------------------------------


def encode_varint(v: int) -> bytes:
    """v as a varint (a negative v as its 64-bit two's complement)."""
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


def len_field(key: int, payload: bytes) -> bytes:
    """A length-delimited field: its one-byte key, the payload's length, the payload."""
    return bytes((key,)) + encode_varint(len(payload)) + payload
