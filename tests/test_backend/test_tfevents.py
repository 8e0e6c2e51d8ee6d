"""tfevents: scalars out of TensorBoard event files, read whole or followed while written."""

from __future__ import annotations

import gc
import math
import os
import random
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rave_gui.backend.rave.eventproto import ScalarPoint, encode_scalar_event, parse_event_scalars
from rave_gui.backend.rave.tfevents import (
    EventDirFollower,
    EventFileReader,
    read_scalars,
    write_scalar_events,
)
from rave_gui.backend.rave.tfrecord import (
    MAX_RECORD_BYTES,
    DataLoss,
    crc32c,
    frame_record,
    iter_records,
    masked_crc32c,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rave"
RUN_40 = "run_40steps/events.out.tfevents.1795382534.vm.7124.0"
RUN_110 = "run_110steps/events.out.tfevents.1795382599.vm.7190.0"
FIDELITY = ("fidelity_0.8", "fidelity_0.9", "fidelity_0.95", "fidelity_0.99")
TRAIN_TAGS = (
    "fullband_spectral_distance",
    "multiband_spectral_distance",
    "regularization",
    "beta_factor",
)


def fixture_path(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"captured rave event file not found: {path}")
    return path


def by_tag(points: list[ScalarPoint]) -> dict[str, list[ScalarPoint]]:
    out: dict[str, list[ScalarPoint]] = {}
    for p in points:
        out.setdefault(p.tag, []).append(p)
    return out


def key(p: ScalarPoint) -> tuple:
    """A comparable, hashable form of a point in which nan equals nan."""
    return (p.tag, p.step, "nan" if math.isnan(p.value) else p.value, p.wall_time)


def f32(v: float) -> float:
    """v rounded to float32 (what simple_value keeps); out of range gives +-inf."""
    try:
        return struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:
        return math.copysign(math.inf, v)


# --- a tiny protobuf encoder, independent of the module's writer -----------------------------


def varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number: int, wire_type: int, payload: bytes) -> bytes:
    head = varint(number << 3 | wire_type)
    if wire_type == 2:
        return head + varint(len(payload)) + payload
    return head + payload


def event(values: list[bytes], step: int = 7, wall: float = 1.5e9) -> bytes:
    summary = b"".join(field(1, 2, v) for v in values)
    return field(1, 1, struct.pack("<d", wall)) + field(2, 0, varint(step)) + field(5, 2, summary)


def value(
    tag: str,
    *,
    simple: float | None = None,
    tensor: bytes | None = None,
    plugin: str | None = None,
    data_class: int | None = None,
    other: tuple[int, bytes] | None = None,
) -> bytes:
    out = field(1, 2, tag.encode())
    if simple is not None:
        out += field(2, 5, struct.pack("<f", simple))
    if other is not None:
        out += field(other[0], 2, other[1])
    if tensor is not None:
        out += field(8, 2, tensor)
    if plugin is not None or data_class is not None:
        meta = b""
        if plugin is not None:
            meta += field(1, 2, field(1, 2, plugin.encode()))
        if data_class is not None:
            meta += field(4, 0, varint(data_class))
        out += field(9, 2, meta)
    return out


def tensor(dtype: int, *parts: bytes, dims: tuple[int, ...] = ()) -> bytes:
    shape = b"".join(field(2, 2, field(1, 0, varint(d))) for d in dims)
    return field(1, 0, varint(dtype)) + field(2, 2, shape) + b"".join(parts)


def write_records(path: Path, records: list[bytes]) -> None:
    path.write_bytes(b"".join(frame_record(r) for r in records))


# --- the real RAVE event files ---------------------------------------------------------------


def test_real_40_step_run_gives_validation_scalars_at_steps_9_and_26():
    points = read_scalars(fixture_path(RUN_40))
    tags = by_tag(points)
    assert set(tags) == {"validation", "epoch", *FIDELITY}
    # val_every 10 <= 17 batches an epoch: validation after the 10th batch of each epoch
    for tag, series in tags.items():
        assert [p.step for p in series] == [9, 26], tag
    assert [p.value for p in tags["epoch"]] == [0.0, 1.0]
    assert all(0.0 < p.value < 100.0 for p in tags["validation"])
    assert tags["validation"][0].value == pytest.approx(8.964061737060547)


def test_real_110_step_run_gives_training_losses_every_50_steps_and_validation_each_epoch():
    tags = by_tag(read_scalars(fixture_path(RUN_110)))
    assert set(tags) == {"validation", "epoch", *FIDELITY, *TRAIN_TAGS}
    for tag in TRAIN_TAGS:
        assert [p.step for p in tags[tag]] == [49, 99], tag
    # 17 batches an epoch < val_every 30: RAVE validates every 30 // 17 = 1 epoch, at its end
    val_steps = [16, 33, 50, 67, 84, 101]
    assert [p.step for p in tags["validation"]] == val_steps
    for tag in FIDELITY:
        assert [p.step for p in tags[tag]] == val_steps
        assert all(0.0 <= p.value <= 1.0 for p in tags[tag])
    # Lightning logs "epoch" with the training scalars too
    assert [(p.step, p.value) for p in tags["epoch"]] == [
        (16, 0.0),
        (33, 1.0),
        (49, 2.0),
        (50, 2.0),
        (67, 3.0),
        (84, 4.0),
        (99, 5.0),
        (101, 5.0),
    ]
    assert [p.value for p in tags["beta_factor"]] == [f32(0.01)] * 2
    for tag in ("fullband_spectral_distance", "multiband_spectral_distance", "validation"):
        assert all(1.0 < p.value < 50.0 for p in tags[tag]), tag
    assert all(0.0 < p.value < 1.0 for p in tags["regularization"])
    assert (
        tags["fullband_spectral_distance"][-1].value < tags["fullband_spectral_distance"][0].value
    )


def test_real_files_wall_times_are_seconds_since_the_epoch_and_never_go_back():
    for name in (RUN_40, RUN_110):
        path = fixture_path(name)
        started = int(path.name.split(".")[3])  # events.out.tfevents.<start>.<host>.<pid>.<n>
        points = read_scalars(path)
        walls = [p.wall_time for p in points]
        assert walls == sorted(walls)
        assert started <= walls[0] and walls[-1] - started < 600
        assert all(isinstance(p.step, int) and isinstance(p.value, float) for p in points)


def test_real_files_audio_and_text_summaries_are_skipped():
    data = fixture_path(RUN_110).read_bytes()
    records, end = iter_records(data)
    assert end == len(data)
    assert sum(b"audio_val" in r for r in records) == 6
    assert sum(b"text_summary" in r for r in records) == 2
    points = [p for r in records for p in parse_event_scalars(r)]
    assert not {p.tag for p in points} & {"audio_val", "config/text_summary", "model/text_summary"}
    assert points == read_scalars(fixture_path(RUN_110))


def test_real_files_first_record_is_the_file_version_and_holds_no_scalar():
    records, _ = iter_records(fixture_path(RUN_40).read_bytes())
    assert b"brain.Event:2" in records[0]
    assert parse_event_scalars(records[0]) == []


def test_masked_crc32c_matches_every_crc_in_the_real_files():
    for name in (RUN_40, RUN_110):
        data = fixture_path(name).read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack_from("<Q", data, pos)
            (length_crc,) = struct.unpack_from("<I", data, pos + 8)
            (data_crc,) = struct.unpack_from("<I", data, pos + 12 + length)
            assert masked_crc32c(data[pos : pos + 8]) == length_crc
            assert masked_crc32c(data[pos + 12 : pos + 12 + length]) == data_crc
            pos += 16 + length


def test_crc32c_gives_the_castagnoli_check_value_and_continues():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    data = bytes(range(256)) * 3
    for cut in (0, 1, 17, 500, len(data)):
        assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)


# --- writer -> reader --------------------------------------------------------------------------


def test_round_trip_keeps_nan_inf_negative_values_and_large_steps(tmp_path):
    points = [
        ScalarPoint("loss", 0, 1.0, 1795382534.25),
        ScalarPoint("loss", 1, -2.5, 1795382534.5),
        ScalarPoint("loss", 127, math.nan, 1795382535.0),
        ScalarPoint("loss", 128, math.inf, 1795382536.0),
        ScalarPoint("loss", 2**21, -math.inf, 1795382537.0),
        ScalarPoint("loss", 2**28, 1e-30, 1795382538.0),
        ScalarPoint("loss", 2**40, 3.0e38, 1795382539.0),
        ScalarPoint("loss", 2**63 - 1, 0.0, 1795382540.0),
        ScalarPoint("loss", -5, -0.0, 1795382541.0),
        ScalarPoint("grad/norm é", 10**9, 0.1, 0.0),
    ]
    path = tmp_path / "events.out.tfevents.1.host.1.0"
    write_scalar_events(path, points)
    got = read_scalars(path)
    assert [key(p) for p in got] == [
        key(ScalarPoint(p.tag, p.step, f32(p.value), p.wall_time)) for p in points
    ]
    assert math.copysign(1.0, got[8].value) == -1.0


@pytest.mark.parametrize("encoding", ["tensor_float", "tensor_double"])
def test_round_trip_of_rank_0_tensor_scalars(tmp_path, encoding):
    points = [
        ScalarPoint("v", s, v, 1e9 + s)
        for s, v in enumerate([0.1, -1e300, math.nan, math.inf, 123456789.123456789])
    ]
    path = tmp_path / "events.out.tfevents.1.host.1.0"
    write_scalar_events(path, points, encoding=encoding)
    convert = f32 if encoding == "tensor_float" else float
    expected = [key(ScalarPoint(p.tag, p.step, convert(p.value), p.wall_time)) for p in points]
    assert [key(p) for p in read_scalars(path)] == expected


def test_writer_starts_the_file_with_a_file_version_record_and_frames_with_masked_crcs(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host.1.0"
    write_scalar_events(path, [ScalarPoint("a", 3, 1.0, 12.0)])
    data = path.read_bytes()
    records, end = iter_records(data)
    assert end == len(data) and len(records) == 2
    assert records[0] == field(1, 1, struct.pack("<d", 12.0)) + field(3, 2, b"brain.Event:2")
    pos = 0
    for r in records:
        assert data[pos + 8 : pos + 12] == struct.pack("<I", masked_crc32c(data[pos : pos + 8]))
        assert data[pos + 12 + len(r) : pos + 16 + len(r)] == struct.pack("<I", masked_crc32c(r))
        pos += 16 + len(r)


def test_writer_encodes_simple_value_events_like_protobuf_does():
    p = ScalarPoint("loss", 300, 0.5, 2.0)
    expected = event([value("loss", simple=0.5)], step=300, wall=2.0)
    assert encode_scalar_event(p) == expected


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.builds(
            ScalarPoint,
            st.text(min_size=0, max_size=30),
            st.integers(-(2**63), 2**63 - 1),
            st.floats(width=32, allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=40,
    )
)
def test_any_written_points_are_read_back_exactly(tmp_path_factory, points):
    path = tmp_path_factory.mktemp("rt") / "events.out.tfevents.1.h.1.0"
    write_scalar_events(path, points)
    assert [key(p) for p in read_scalars(path)] == [key(p) for p in points]


# --- other encodings: hand-built records -------------------------------------------------------


@pytest.mark.parametrize(
    ("tensor_bytes", "expected"),
    [
        (tensor(1, field(4, 2, struct.pack("<f", 1.5))), 1.5),  # tensor_content float
        (tensor(2, field(4, 2, struct.pack("<d", 0.1))), 0.1),  # tensor_content double
        (tensor(1, field(5, 5, struct.pack("<f", -2.0))), -2.0),  # float_val not packed
        (tensor(1, field(5, 2, struct.pack("<f", 3.0))), 3.0),  # float_val packed
        (tensor(2, field(6, 1, struct.pack("<d", 1e300))), 1e300),  # double_val not packed
        (tensor(2, field(6, 2, struct.pack("<d", -1e-300))), -1e-300),  # double_val packed
        (tensor(3, field(7, 2, varint(-7))), -7.0),  # int_val packed, negative
        (tensor(9, field(10, 0, varint(2**40))), float(2**40)),  # int64_val
        (tensor(9, field(4, 2, struct.pack("<q", -3))), -3.0),  # int64 tensor_content
        (tensor(19, field(13, 0, varint(0x3C00))), 1.0),  # half_val
        (tensor(10, field(11, 0, varint(1))), 1.0),  # bool_val
    ],
)
def test_rank_0_numeric_tensors_are_scalars(tensor_bytes, expected):
    record = event([value("t", tensor=tensor_bytes, plugin="scalars")], step=42, wall=9.0)
    assert parse_event_scalars(record) == [ScalarPoint("t", 42, expected, 9.0)]


def test_tensor_without_metadata_is_a_scalar():
    record = event([value("t", tensor=tensor(1, field(5, 2, struct.pack("<f", 0.5))))])
    assert [p.value for p in parse_event_scalars(record)] == [0.5]


@pytest.mark.parametrize(
    "val",
    [
        value("vec", tensor=tensor(1, field(5, 2, struct.pack("<2f", 1, 2)), dims=(2,))),
        value("one", tensor=tensor(1, field(5, 2, struct.pack("<f", 1)), dims=(1,))),
        value("txt", tensor=tensor(7, field(8, 2, b"hello"), dims=(1,)), plugin="text"),
        value("hp", tensor=tensor(1, field(5, 2, struct.pack("<f", 0))), plugin="hparams"),
        value("_hparams_/experiment", plugin="hparams"),
        value("audio_val", other=(6, field(1, 5, struct.pack("<f", 44100.0)))),
        value("img", other=(4, field(1, 0, varint(3)))),
        value("h", other=(5, field(1, 1, struct.pack("<d", 0.0)))),
        value("empty", tensor=tensor(1)),
    ],
    ids=[
        "vector",
        "shape_1",
        "text",
        "hparams_tensor",
        "hparams",
        "audio",
        "image",
        "histo",
        "no_values",
    ],
)
def test_non_scalar_values_are_skipped(val):
    record = event([val, value("kept", simple=1.0)])
    assert [p.tag for p in parse_event_scalars(record)] == ["kept"]


def test_scalar_of_another_plugin_counts_when_its_data_class_is_scalar():
    t = tensor(1, field(5, 2, struct.pack("<f", 4.0)))
    assert parse_event_scalars(event([value("x", tensor=t, plugin="custom", data_class=1)]))
    assert not parse_event_scalars(event([value("x", tensor=t, plugin="custom")]))


def test_one_event_with_many_values_gives_a_point_each_at_its_step():
    record = event([value("a", simple=1.0), value("b", simple=2.0)], step=5, wall=3.0)
    assert parse_event_scalars(record) == [
        ScalarPoint("a", 5, 1.0, 3.0),
        ScalarPoint("b", 5, 2.0, 3.0),
    ]


def test_event_fields_in_any_order_and_unknown_fields_are_read():
    summary = field(5, 2, field(1, 2, value("a", simple=1.0)))
    record = (
        field(6, 2, b"log message")
        + summary
        + field(2, 0, varint(99))
        + field(15, 0, varint(1))
        + field(1, 1, struct.pack("<d", 4.0))
    )
    assert parse_event_scalars(record) == [ScalarPoint("a", 99, 1.0, 4.0)]


def test_field_after_the_summary_is_not_mistaken_for_the_value(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    canonical = event([value("a", simple=1.0)], step=1)
    trailing = event([value("a", simple=2.0)], step=2) + field(6, 2, b"\x00\x00\x80\x7f")
    write_records(path, [canonical, trailing, canonical])
    assert [(p.step, p.value) for p in read_scalars(path)] == [(1, 1.0), (2, 2.0), (1, 1.0)]


def test_step_zero_and_missing_wall_time_default_to_zero():
    record = field(5, 2, field(1, 2, value("a", simple=1.0)))
    assert parse_event_scalars(record) == [ScalarPoint("a", 0, 1.0, 0.0)]


@pytest.mark.parametrize(
    "record",
    [
        b"",
        b"\xff" * 20,
        event([value("a", simple=1.0)])[:-2],  # cut inside the value
        field(5, 2, b"\x0a\x20abc"),  # a Value longer than its Summary
        b"\x0b\x00\x00",  # a group
    ],
)
def test_malformed_event_gives_no_point_and_no_error(record):
    assert parse_event_scalars(record) == []


def test_malformed_record_is_skipped_and_the_next_ones_are_read(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    good = event([value("a", simple=1.0)], step=1)
    write_records(path, [good, b"\x0a\xff\xff\xff", event([value("a", simple=2.0)], step=2)])
    assert [p.value for p in read_scalars(path)] == [1.0, 2.0]


# --- framing: incomplete and corrupt tails -----------------------------------------------------


def test_iter_records_of_every_truncation_returns_whole_records_and_their_end():
    records = [event([value("a", simple=float(i))], step=i) for i in range(1, 4)]
    data = b"".join(frame_record(r) for r in records)
    ends = [0]
    for r in records:
        ends.append(ends[-1] + 16 + len(r))
    for cut in range(len(data) + 1):
        got, end = iter_records(data[:cut])
        n = max(i for i, e in enumerate(ends) if e <= cut)
        assert (got, end) == (records[:n], ends[n]), cut
        assert iter_records(memoryview(data)[:cut]) == (got, end)


def test_iter_records_from_an_offset():
    records = [b"one", b"two", b"three"]
    data = b"".join(frame_record(r) for r in records)
    assert iter_records(data, 19) == ([b"two", b"three"], len(data))
    assert iter_records(data, len(data)) == ([], len(data))


def test_corrupt_length_crc_is_skipped_reported_and_reading_goes_on(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    first = frame_record(event([value("a", simple=1.0)], step=1))
    bad = bytearray(frame_record(event([value("a", simple=2.0)], step=2)))
    bad[9] ^= 0x40  # the length's crc
    path.write_bytes(first + bytes(bad))
    assert iter_records(bytes(path.read_bytes())) == ([first[12:-4]], len(first))
    reader = EventFileReader(path)
    assert [p.value for p in reader.read_new()] == [1.0]
    assert reader.corrupt and reader.losses == []  # still inside the damage: more may come
    with open(path, "ab") as f:
        f.write(frame_record(event([value("a", simple=3.0)], step=3)))
    assert [p.value for p in reader.read_new()] == [3.0]
    assert not reader.corrupt and reader.offset == path.stat().st_size
    assert reader.losses == [DataLoss(str(path), "damaged", len(first), len(bad), 1)]
    assert "after step 1" in reader.losses[0].describe()


def test_absurd_length_is_corrupt_not_incomplete(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    first = frame_record(event([value("a", simple=1.0)], step=1))
    length = struct.pack("<Q", MAX_RECORD_BYTES + 1)
    huge = length + struct.pack("<I", masked_crc32c(length)) + b"\x00" * 100
    last = frame_record(event([value("a", simple=2.0)], step=2))
    path.write_bytes(first + huge + last)
    assert iter_records(path.read_bytes()) == ([first[12:-4]], len(first))
    reader = EventFileReader(path)
    assert [p.step for p in reader.read_new()] == [1, 2]
    assert not reader.corrupt and reader.offset == path.stat().st_size
    assert reader.losses == [DataLoss(str(path), "damaged", len(first), len(huge), 1)]


def test_shrunk_file_is_reported_and_read_on_from_its_new_end(tmp_path):
    reader = EventFileReader(tmp_path / "nope")
    assert reader.read_new() == [] and reader.offset == 0 and reader.losses == []
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    write_scalar_events(path, [ScalarPoint("a", i, float(i), 1.0) for i in range(1, 11)])
    reader = EventFileReader(path)
    assert len(reader.read_new()) == 10
    size = path.stat().st_size
    os.truncate(path, size // 2)  # cut inside a record
    assert reader.read_new() == []
    assert reader.losses == [DataLoss(str(path), "truncated", size // 2, size - size // 2, 10)]
    assert "shorter" in reader.losses[0].describe()
    reader.losses.clear()
    with open(path, "ab") as f:  # the writer goes on (appending) after the cut
        f.write(frame_record(encode_scalar_event(ScalarPoint("a", 11, 11.0, 2.0))))
    assert [p.step for p in reader.read_new()] == [11]
    assert reader.offset == path.stat().st_size and reader.losses == []


def test_zero_hole_after_a_truncation_is_skipped(tmp_path):
    """A writer not in append mode goes on at its own position after a truncation: the file
    gets a hole of zeros, then records again."""
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    write_scalar_events(path, [ScalarPoint("a", i, float(i), 1.0) for i in range(1, 6)])
    reader = EventFileReader(path)
    assert len(reader.read_new()) == 5
    old = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(10)
        assert reader.read_new() == []
        f.seek(old + 300_000)
        f.write(frame_record(encode_scalar_event(ScalarPoint("a", 6, 6.0, 2.0))))
    assert [p.step for p in reader.read_new()] == [6]
    kinds = [(loss.kind, loss.offset) for loss in reader.losses]
    assert kinds == [("truncated", 10), ("damaged", 10)]
    assert reader.losses[1].size == old + 300_000 - 10


def _damaged_copy(data: bytes, start: int, length: int, seed: int) -> bytes:
    garbage = random.Random(seed).randbytes(length)
    return data[:start] + garbage + data[start + length :]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_damage_inside_a_real_file_loses_only_the_records_it_covers(tmp_path, seed):
    """Garbage written over scalar records: exactly the records it touches are lost, as one
    loss, and the rest of the file is read, in one go or followed while written."""
    data = fixture_path(RUN_110).read_bytes()
    records, _ = iter_records(data)
    bounds = [0]
    for r in records:
        bounds.append(bounds[-1] + 16 + len(r))
    rng = random.Random(seed)
    small = [i for i, r in enumerate(records) if len(r) < 100 and i > 2]
    first = rng.choice(small[: len(small) // 2])  # garbage over scalar records, from a header
    start = bounds[first] + rng.randrange(0, 12)
    length = rng.randrange(20, 600)
    damaged = _damaged_copy(data, start, length, seed)
    kept = [
        r for r, a, b in zip(records, bounds, bounds[1:], strict=False)
        if b <= start or a >= start + length
    ]  # fmt: skip
    expected = [p for r in kept for p in parse_event_scalars(r)]
    path = tmp_path / "events.out.tfevents.1795382599.vm.7190.0"
    path.write_bytes(damaged)
    reader = EventFileReader(path)
    assert reader.read_new() == expected
    (loss,) = reader.losses
    first_lost = max(a for a in bounds if a <= start)
    first_kept = min(a for a in bounds if a >= start + length)
    assert (loss.kind, loss.offset, loss.offset + loss.size) == ("damaged", first_lost, first_kept)
    # followed while written in random pieces: the same points, the same loss
    path.write_bytes(b"")
    reader = EventFileReader(path)
    got = []
    pos = 0
    with open(path, "ab") as f:
        while pos < len(damaged):
            n = rng.choice([1, 7, 13, 100, 4096, 70_000])
            f.write(damaged[pos : pos + n])
            f.flush()
            pos += n
            got.extend(reader.read_new())
    assert got == expected
    assert reader.losses == [loss]


def test_garbage_appended_at_the_end_is_lost_when_the_run_ends(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    path = run / "events.out.tfevents.1.h.1.0"
    write_scalar_events(path, [ScalarPoint("a", i, float(i), 1.0) for i in range(1, 47)])
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(random.Random(0).randbytes(5000))
    follower = EventDirFollower(run)
    assert len(follower.poll()) == 46
    assert follower.take_losses() == []  # more may come after the damage while the run goes on
    (loss,) = follower.take_losses(ended=True)
    assert (loss.kind, loss.offset, loss.size, loss.after_step) == ("damaged", size, 5000, 46)
    assert follower.take_losses(ended=True) == []  # said once


def test_record_cut_off_at_the_end_is_lost_when_the_run_ends(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    path = run / "events.out.tfevents.1.h.1.0"
    write_scalar_events(path, [ScalarPoint("a", i, float(i), 1.0) for i in range(1, 4)])
    with open(path, "ab") as f:
        f.write(frame_record(encode_scalar_event(ScalarPoint("a", 4, 4.0, 1.0)))[:-3])
    follower = EventDirFollower(run)
    assert [p.step for p in follower.poll()] == [1, 2, 3]
    assert follower.take_losses() == []
    (loss,) = follower.take_losses(ended=True)
    assert (loss.kind, loss.after_step) == ("incomplete", 3)


def test_skipping_megabytes_of_garbage_is_fast(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    garbage = random.Random(0).randbytes(4 << 20) + bytes(4 << 20)  # random, then a zero hole
    last = frame_record(encode_scalar_event(ScalarPoint("a", 2, 2.0, 1.0)))
    path.write_bytes(garbage + last)
    reader = EventFileReader(path)
    t0 = time.perf_counter()
    assert [p.step for p in reader.read_new()] == [2]
    assert time.perf_counter() - t0 < 5.0
    assert [(loss.offset, loss.size) for loss in reader.losses] == [(0, len(garbage))]


def test_trailing_partial_record_waits_until_complete(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    rec = frame_record(event([value("a", simple=2.0)], step=2))
    path.write_bytes(frame_record(event([value("a", simple=1.0)], step=1)) + rec[:5])
    reader = EventFileReader(path)
    assert [p.step for p in reader.read_new()] == [1]
    offset = reader.offset
    with open(path, "ab") as f:
        f.write(rec[5:20])
    assert reader.read_new() == [] and reader.offset == offset and not reader.corrupt
    with open(path, "ab") as f:
        f.write(rec[20:])
    assert [p.step for p in reader.read_new()] == [2]
    assert reader.offset == path.stat().st_size


# --- following a file while it is written ------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_file_written_in_random_pieces_gives_the_one_shot_points_once(tmp_path, seed):
    data = fixture_path(RUN_110).read_bytes()
    expected = read_scalars(fixture_path(RUN_110))
    rng = random.Random(seed)
    path = tmp_path / "events.out.tfevents.1795382599.vm.7190.0"
    path.write_bytes(b"")
    reader = EventFileReader(path)
    got: list[ScalarPoint] = []
    pos = 0
    with open(path, "ab") as f:
        while pos < len(data):
            n = rng.choice([1, 7, 13, 100, 4096, 70_000, 300_000])
            f.write(data[pos : pos + n])
            f.flush()
            pos += n
            got.extend(reader.read_new())
            assert reader.offset <= pos
    got.extend(reader.read_new())
    assert got == expected
    assert reader.offset == len(data)


def test_follower_polled_while_two_real_files_grow_gives_each_point_once(tmp_path):
    sources = [fixture_path(RUN_40), fixture_path(RUN_110)]
    run = tmp_path / "run"
    targets = [run / f"version_{i}" / src.name for i, src in enumerate(sources)]
    follower = EventDirFollower(run)
    rng = random.Random(7)
    data = [src.read_bytes() for src in sources]
    written = [0, 0]
    got: list[ScalarPoint] = []
    while written != [len(d) for d in data]:
        i = rng.randrange(2)
        n = rng.choice([3, 50, 999, 20_000, 200_000])
        targets[i].parent.mkdir(parents=True, exist_ok=True)
        with open(targets[i], "ab") as f:
            f.write(data[i][written[i] : written[i] + n])
        written[i] = min(written[i] + n, len(data[i]))
        got.extend(follower.poll())
    got.extend(follower.poll())
    assert sorted(got, key=key) == sorted(
        read_scalars(sources[0]) + read_scalars(sources[1]), key=key
    )
    assert len(set(map(key, got))) == len(got)
    assert follower.offsets == {str(t): len(d) for t, d in zip(targets, data, strict=True)}


def test_reading_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    path = fixture_path(RUN_40)
    assert gc.isenabled()
    read_scalars(path)
    assert gc.isenabled()
    gc.disable()
    try:
        read_scalars(path)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_read_new_with_max_bytes_smaller_than_a_record_still_advances():
    path = fixture_path(RUN_110)
    reader = EventFileReader(path)
    got: list[ScalarPoint] = []
    calls = 0
    while reader.offset < path.stat().st_size:
        got.extend(reader.read_new(max_bytes=1000))
        calls += 1
        assert calls < 10_000
    assert got == read_scalars(path)


def test_written_file_followed_in_chunks_equals_one_shot(tmp_path):
    src = tmp_path / "src"
    points = [ScalarPoint(f"t{i % 7}", i, float(i), 1e9 + i) for i in range(5000)]
    write_scalar_events(src, points)
    data = src.read_bytes()
    dst = tmp_path / "events.out.tfevents.1.h.1.0"
    reader = EventFileReader(dst)
    got: list[ScalarPoint] = []
    for cut in range(0, len(data) + 997, 997):
        dst.write_bytes(data[:cut])  # rewritten with more each time, as a flush would add
        got.extend(reader.read_new())
    assert got == points


# --- a run folder ------------------------------------------------------------------------------


def write_points(path: Path, tag: str, steps: range, t0: float = 1e9) -> list[ScalarPoint]:
    points = [ScalarPoint(tag, s, float(s), t0 + s) for s in steps]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_scalar_events(path, points)
    return points


def append_points(path: Path, tag: str, steps: range) -> list[ScalarPoint]:
    points = [ScalarPoint(tag, s, float(s), 2e9 + s) for s in steps]
    with open(path, "ab") as f:
        f.write(b"".join(frame_record(encode_scalar_event(p)) for p in points))
    return points


def test_follower_discovers_a_new_version_folder_and_a_new_file_later(tmp_path):
    run = tmp_path / "t1_abc"
    follower = EventDirFollower(run)
    assert follower.poll() == []  # the folder does not exist yet
    v0 = run / "version_0" / "events.out.tfevents.100.h.1.0"
    first = write_points(v0, "loss", range(0, 10))
    assert follower.poll() == first
    assert follower.poll() == []
    more = append_points(v0, "loss", range(10, 15))
    v1 = run / "version_1" / "events.out.tfevents.200.h.2.0"
    resumed = write_points(v1, "loss", range(15, 20))
    assert follower.poll() == more + resumed
    v1b = run / "version_1" / "events.out.tfevents.300.h.2.0"
    late = write_points(v1b, "validation", range(20, 22))
    assert follower.poll() == late
    assert follower.files == [v0, v1, v1b]
    assert follower.offsets == {str(p): p.stat().st_size for p in (v0, v1, v1b)}


def test_follower_reads_files_in_order_of_version_number_then_name(tmp_path):
    run = tmp_path / "run"
    write_points(run / "version_10" / "events.out.tfevents.1.h.1.0", "d", range(1))
    write_points(run / "version_2" / "events.out.tfevents.9.h.1.0", "c", range(1))
    write_points(run / "version_2" / "events.out.tfevents.5.h.1.0", "b", range(1))
    write_points(run / "events.out.tfevents.7.h.1.0", "a", range(1))
    write_points(run / "version_2" / "checkpoints" / "events.out.tfevents.1.h.1.0", "x", range(1))
    (run / "version_2" / "hparams.yaml").write_text("{}\n")
    assert [p.tag for p in EventDirFollower(run).poll()] == ["a", "b", "c", "d"]
    assert [p.tag for p in read_scalars(run)] == ["a", "b", "c", "d"]


def test_follower_resumed_from_saved_offsets_gives_only_new_points(tmp_path):
    run = tmp_path / "run"
    v0 = run / "version_0" / "events.out.tfevents.1.h.1.0"
    old = write_points(v0, "loss", range(100))
    first = EventDirFollower(run)
    assert first.poll() == old
    saved = dict(first.offsets)
    new = append_points(v0, "loss", range(100, 110))
    new += write_points(run / "version_1" / "events.out.tfevents.2.h.1.0", "loss", range(110, 120))
    second = EventDirFollower(run, offsets=saved)
    assert second.offsets == saved  # known before the first poll
    assert second.poll() == new
    assert second.poll() == []


def test_saved_offsets_match_whether_the_root_is_relative_or_absolute(tmp_path, monkeypatch):
    run = tmp_path / "run"
    v0 = run / "version_0" / "events.out.tfevents.1.h.1.0"
    write_points(v0, "loss", range(10))
    absolute = EventDirFollower(run)
    absolute.poll()
    monkeypatch.chdir(tmp_path)
    relative = EventDirFollower("run", offsets=absolute.offsets)
    assert relative.poll() == []
    assert relative.offsets == {os.path.join("run", "version_0", v0.name): v0.stat().st_size}


def test_follower_poll_with_max_bytes_gets_everything_in_order_over_several_polls(tmp_path):
    run = tmp_path / "run"
    a = write_points(run / "version_0" / "events.out.tfevents.1.h.1.0", "a", range(300))
    b = write_points(run / "version_1" / "events.out.tfevents.2.h.1.0", "b", range(300))
    follower = EventDirFollower(run)
    batches = [follower.poll(max_bytes=2000) for _ in range(20)]
    assert 0 < sum(p.tag == "a" for p in batches[0]) < 100  # about 2000 / 36 records
    got = [p for batch in batches for p in batch]
    assert [p for p in got if p.tag == "a"] == a and [p for p in got if p.tag == "b"] == b


def test_follower_on_a_single_file(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    points = write_points(path, "a", range(3))
    assert EventDirFollower(path).poll() == points


# --- cross-check with TensorBoard's own reader -------------------------------------------------


def tensorboard_scalars(path: Path) -> list[tuple]:
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    tensor_util = pytest.importorskip("tensorboard.util.tensor_util")
    acc = ea_mod.EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    out = [
        (tag, e.step, e.value, e.wall_time)
        for tag in acc.Tags()["scalars"]
        for e in acc.Scalars(tag)
    ]
    for tag in acc.Tags()["tensors"]:
        for e in acc.Tensors(tag):
            arr = tensor_util.make_ndarray(e.tensor_proto)
            if arr.shape == () and arr.dtype.kind in "fiub":
                out.append((tag, e.step, float(arr), e.wall_time))
    return sorted(out, key=repr)


def ours(path: Path) -> list[tuple]:
    return sorted(((p.tag, p.step, p.value, p.wall_time) for p in read_scalars(path)), key=repr)


@pytest.mark.parametrize("name", [RUN_40, RUN_110])
def test_tensorboard_reads_the_same_scalars_from_the_real_files(name):
    path = fixture_path(name)
    expected = tensorboard_scalars(path)
    assert len(expected) > 10
    assert ours(path) == expected


@pytest.mark.parametrize("encoding", ["simple_value", "tensor_float", "tensor_double"])
def test_tensorboard_reads_the_same_scalars_from_a_written_file(tmp_path, encoding):
    path = tmp_path / "events.out.tfevents.1.h.1.0"
    points = [ScalarPoint(f"tag{i % 3}", i * 1000, i * 0.25 - 3, 1.7e9 + i) for i in range(50)]
    points.append(ScalarPoint("big", 2**50, -1e30, 1.7e9 + 99))
    write_scalar_events(path, points, encoding=encoding)
    expected = tensorboard_scalars(path)
    assert len(expected) == len(points)
    assert ours(path) == expected
