"""LogParser: bytes of the rave command line in, log lines, progress, metrics, outcomes out."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rave_gui.backend.rave.logparse import (
    Event,
    Failure,
    LogLine,
    LogParser,
    Metrics,
    Outcome,
    Progress,
    is_metric_key,
    parse_bytes,
    parse_progress,
    parse_value,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rave"
RUNS = ("run_40steps", "run_110steps")
CAPTURES = [f"{run}/train.{name}" for run in RUNS for name in ("stdout", "stderr")]


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"captured rave output not found: {path}")
    return path.read_bytes()


def feed_chunks(data: bytes, size: int) -> list[Event]:
    parser = LogParser()
    events: list[Event] = []
    for i in range(0, len(data), size):
        events += parser.feed(data[i : i + size])
    return events + parser.flush()


def feed_pieces(pieces: list[bytes]) -> list[Event]:
    parser = LogParser()
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.flush()


def not_progress(events: list[Event]) -> list[Event]:
    return [e for e in events if not isinstance(e, Progress)]


def of_type(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def only_metrics(line: str) -> Metrics:
    events = parse_bytes(line.encode() + b"\n")
    assert len(events) == 1 and isinstance(events[0], Metrics), events
    return events[0]


def bar(epoch: int, n: int, total: int = 18, postfix: str = ", v_num=0") -> str:
    return f"Epoch {epoch}:  33%|███▎      | {n}/{total} [00:06<00:12,  1.01s/it{postfix}]"


# --- replay of the real captures -------------------------------------------------------------


def test_replay_40_steps_stdout_last_progress_is_epoch_2_batch_6_of_18() -> None:
    events = parse_bytes(fixture("run_40steps/train.stdout"))
    last = of_type(events, Progress)[-1]
    assert last.phase == "train"
    assert (last.epoch, last.batch, last.total) == (2, 6, 18)
    assert last.elapsed == 6.0 and last.remaining == 12.0
    assert last.rate == pytest.approx(1 / 1.01)
    assert last.postfix == {}
    assert last.text == "Epoch 2:  33%|███▎      | 6/18 [00:06<00:12,  1.01s/it, v_num=0]"


def test_replay_40_steps_stdout_keeps_the_plain_lines_in_order() -> None:
    lines = [e.text for e in of_type(parse_bytes(fixture("run_40steps/train.stdout")), LogLine)]
    assert lines == [
        "train set: 35 examples",
        "val set: 1 examples",
        "selected gpu: 0",
        "Computing receptive field for this configuration...",
        "Compression ratio: 512x (~86.1Hz @ 44100Hz)",
        "Receptive field: 240.41ms <-- x --> 227.76ms",
    ]


def test_replay_110_steps_stdout_last_progress_is_epoch_6_batch_8() -> None:
    last = of_type(parse_bytes(fixture("run_110steps/train.stdout")), Progress)[-1]
    assert (last.phase, last.epoch, last.batch, last.total) == ("train", 6, 8, 18)
    assert last.rate == pytest.approx(1 / 1.05)


@pytest.mark.parametrize("run", RUNS)
def test_replay_stderr_yields_completed_outcome_and_no_failure(run: str) -> None:
    events = parse_bytes(fixture(f"{run}/train.stderr"))
    outcomes = of_type(events, Outcome)
    assert [o.kind for o in outcomes] == ["completed"]
    assert outcomes[0].text.startswith("`Trainer.fit` stopped: `max_steps=")
    assert not of_type(events, Failure)


def test_replay_stderr_levels_warnings_and_gin_noise() -> None:
    lines = of_type(parse_bytes(fixture("run_40steps/train.stderr")), LogLine)
    warnings = [ln.text for ln in lines if ln.level == "warning"]
    assert len(warnings) == 2
    assert "FutureWarning:" in warnings[0] and "PossibleUserWarning:" in warnings[1]
    assert not [ln for ln in lines if ln.level == "error"]
    gin_noise = [ln for ln in lines if "Path not found" in ln.text]
    assert len(gin_noise) == 3 and all(ln.level == "info" for ln in gin_noise)


def test_replay_progress_events_are_far_fewer_than_bar_updates() -> None:
    data = fixture("run_40steps/train.stdout")
    updates = data.count(b"it/s]") + data.count(b"s/it]") + data.count(b"v_num=0]")
    assert updates > 100
    assert len(of_type(parse_bytes(data), Progress)) <= 3
    # fed as a pipe delivers it, in 1 KiB reads: still a small fraction
    assert len(of_type(feed_chunks(data, 1024), Progress)) < updates / 4


@pytest.mark.parametrize("name", CAPTURES)
def test_replay_whole_captures_produce_no_metrics(name: str) -> None:
    data = fixture(name)
    for events in (parse_bytes(data), feed_chunks(data, 7)):
        assert not of_type(events, Metrics)


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("size", [1, 13, 4096])
def test_replay_chunking_does_not_change_non_progress_events(name: str, size: int) -> None:
    data = fixture(name)
    assert not_progress(feed_chunks(data, size)) == not_progress(parse_bytes(data))


@pytest.mark.parametrize("name", CAPTURES)
def test_replay_every_event_text_is_clean(name: str) -> None:
    for e in parse_bytes(fixture(name)):
        text = e.text if isinstance(e, LogLine | Progress) else ""
        assert "\x1b" not in text and "\r" not in text and "\n" not in text
        assert text == text.rstrip()


# --- metrics -------------------------------------------------------------------------------


def test_metrics_key_equals_value_with_step() -> None:
    m = only_metrics("step=100 loss=0.25 val_loss=0.31 lr=1e-4")
    assert m == Metrics({"loss": 0.25, "val_loss": 0.31, "lr": 1e-4}, step=100, epoch=None)


def test_metrics_key_colon_value_with_epoch() -> None:
    m = only_metrics("Epoch 3: loss: 0.25, val_loss: 0.30")
    assert m == Metrics({"loss": 0.25, "val_loss": 0.30}, step=None, epoch=3)


def test_metrics_key_space_value_scientific_any_case() -> None:
    m = only_metrics("step 1200 loss 2.5e-01 lr 1E-3")
    assert m == Metrics({"loss": 0.25, "lr": 1e-3}, step=1200, epoch=None)


def test_metrics_iteration_counts_as_step() -> None:
    m = only_metrics("iteration 5 | loss 0.3 | lr 0.001")
    assert m == Metrics({"loss": 0.3, "lr": 0.001}, step=5, epoch=None)


@pytest.mark.parametrize(
    ("line", "step"),
    [("iter=7 loss=1", 7), ("global_step: 9 loss 1", 9), ("Step: 3 LOSS: 1", 3)],
)
def test_metrics_step_aliases(line: str, step: int) -> None:
    m = only_metrics(line)
    assert m.step == step and m.values == {"loss": 1.0}


@pytest.mark.parametrize(
    ("line", "step", "epoch"),
    [
        ("Training step: 5000", 5000, None),
        ("Epoch: 10 completed", None, 10),
        ("global_step=42", 42, None),
        ("Iteration: 7 / 100", 7, None),
    ],
)
def test_line_with_only_a_step_or_an_epoch_gives_its_line_and_the_counter(
    line: str, step: int | None, epoch: int | None
) -> None:
    # another trainer's output: the line shows as it is, and the step / epoch is not lost
    assert parse_bytes(line.encode() + b"\n") == [
        LogLine(line, "info"),
        Metrics({}, step=step, epoch=epoch),
    ]


def test_keras_style_line_keeps_every_named_value() -> None:
    m = only_metrics("187/256 - loss: 0.3421 - acc: 0.8934 - val_loss: 0.4156 - val_acc: 0.8672")
    assert m == Metrics(
        {"loss": 0.3421, "acc": 0.8934, "val_loss": 0.4156, "val_acc": 0.8672},
        step=None,
        epoch=None,
    )


def test_keras_style_fields_need_the_dash_and_a_colon() -> None:
    # "- ETA: 5s" has a unit; "selected gpu: 0" is no field; "- acc 0.5" has no colon
    m = only_metrics("10/20 [====>.....] - ETA: 5s - loss: 0.5 - acc: 0.75 - top 3 - x 0.5")
    assert m.values == {"loss": 0.5, "acc": 0.75}
    assert parse_bytes(b"selected gpu: 0 - ready\n") == [LogLine("selected gpu: 0 - ready", "info")]


def test_metrics_uppercase_key_is_lowercased_and_nan_read() -> None:
    m = only_metrics("LOSS=NaN")
    assert list(m.values) == ["loss"] and math.isnan(m.values["loss"])


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("loss = inf", math.inf),
        ("loss=-inf", -math.inf),
        ("val_loss: Infinity", math.inf),
        ("train_kl -1.5e+2", -150.0),
        ("loss: .5", 0.5),
        ("regularization=+3", 3.0),
    ],
)
def test_metrics_inf_negative_and_signed_values(line: str, value: float) -> None:
    (v,) = only_metrics(line).values.values()
    assert v == value


def test_metrics_key_equals_value_accepts_any_identifier_key() -> None:
    m = only_metrics("fidelity_0.99=0.5 multiband/spectral-distance=2 beta_factor=0.1")
    assert m.values == {
        "fidelity_0.99": 0.5,
        "multiband/spectral-distance": 2.0,
        "beta_factor": 0.1,
    }


@pytest.mark.parametrize(
    "line",
    [
        "train set: 35 examples",
        "val set: 1 examples",
        "selected gpu: 0",
        "Compression ratio: 512x (~86.1Hz @ 44100Hz)",
        "Receptive field: 240.41ms <-- x --> 227.76ms",
        "TPU available: False, using: 0 TPU cores",
        "14.6 M    Trainable params",
        "58.284    Total estimated model params size (MB)",
        "rave train --max_steps=40 --val_every=10",
        "Epoch 3",
        "step 100",
        "loss is low today",
        "gpu 0 size 12",
    ],
)
def test_plain_lines_give_no_metrics(line: str) -> None:
    assert parse_bytes(line.encode() + b"\n") == [LogLine(line, "info")]


def test_warning_line_with_key_value_is_a_warning_not_metrics() -> None:
    line = "trainer.py:1600: PossibleUserWarning: Trainer(log_every_n_steps=50)."
    assert parse_bytes(line.encode() + b"\n") == [LogLine(line, "warning")]


def test_metric_key_vocabulary() -> None:
    for key in (
        "loss",
        "VAL_LOSS",
        "validation",
        "lr",
        "gen_lr",
        "learning_rate",
        "kl_loss",
        "val_acc",
        "train_kl",
        "epoch",
        "step",
        "iteration",
        "iter",
        "global_step",
    ):
        assert is_metric_key(key), key
    for key in ("set", "gpu", "ratio", "field", "size", "lrx", "value"):
        assert not is_metric_key(key), key


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.5", 0.5),
        ("1e-4", 1e-4),
        ("-inf", -math.inf),
        ("Infinity", math.inf),
        (" 3 ", 3.0),
        ("+2.", 2.0),
        ("-.25", -0.25),
        ("1E+3", 1000.0),
        ("INF", math.inf),
    ],
)
def test_parse_value_reads_numbers(text: str, value: float) -> None:
    assert parse_value(text) == value


def test_parse_value_reads_nan() -> None:
    v = parse_value("NaN")
    assert v is not None and math.isnan(v)


@pytest.mark.parametrize("text", ["", "abc", "1_000", "0x10", "1.2.3", "nan1", "5%", "e5", "--1"])
def test_parse_value_none_for_non_numbers(text: str) -> None:
    assert parse_value(text) is None


# --- splitting, partial reads, decoding ----------------------------------------------------


def test_partial_line_is_completed_by_the_next_feed() -> None:
    parser = LogParser()
    assert parser.feed(b"step=3 loss=0.") == []
    assert parser.feed(b"5\nnext") == [Metrics({"loss": 0.5}, step=3, epoch=None)]
    assert parser.flush() == [LogLine("next", "info")]


def test_utf8_character_split_across_feeds_decodes() -> None:
    data = "Receptive field: 240 ms — ok █\n".encode()
    cut = data.index("█".encode()) + 1  # inside the 3-byte character
    events = feed_pieces([data[:cut], data[cut:]])
    assert events == [LogLine("Receptive field: 240 ms — ok █", "info")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse_bytes(b"bad \xff\xfe byte\n") == [LogLine("bad \ufffd\ufffd byte", "info")]


def test_cr_lf_is_one_break_even_split_across_feeds() -> None:
    expected = [LogLine("a", "info"), LogLine("b", "info")]
    assert parse_bytes(b"a\r\nb\r\n") == expected
    assert feed_pieces([b"a\r", b"\nb\r", b"\n"]) == expected


def test_blank_and_whitespace_segments_are_dropped() -> None:
    assert parse_bytes(b"\n\n   \r\t\r\nx  \n") == [LogLine("x", "info")]


def test_flush_emits_the_unterminated_last_line_and_resets() -> None:
    parser = LogParser()
    assert parser.feed(b"no newline at the end") == []
    assert parser.flush() == [LogLine("no newline at the end", "info")]
    assert parser.flush() == []
    assert parser.feed(b"again\n") == [LogLine("again", "info")]


def test_parse_bytes_is_feed_then_flush() -> None:
    data = b"one\ntwo\nthree"
    parser = LogParser()
    assert parse_bytes(data) == parser.feed(data) + parser.flush()


def test_feed_accepts_bytearray_and_memoryview() -> None:
    assert LogParser().feed(bytearray(b"a\n")) == [LogLine("a", "info")]
    assert LogParser().feed(memoryview(b"b\n")) == [LogLine("b", "info")]


# --- ANSI ----------------------------------------------------------------------------------


def test_ansi_colours_and_erase_codes_are_removed() -> None:
    data = b"\x1b[31mERROR\x1b[0m: boom\n\x1b[2Kplain \x1b]0;title\x07text\n"
    assert parse_bytes(data) == [LogLine("ERROR: boom", "error"), LogLine("plain text", "info")]


def test_ansi_sequence_split_across_feeds_is_removed() -> None:
    events = feed_pieces([b"\x1b", b"[3", b"3mWARNING\x1b[", b"0m careful\n"])
    assert events == [LogLine("WARNING careful", "warning")]


def test_validation_bar_with_cursor_up_is_a_validation_progress() -> None:
    events = parse_bytes(
        "\rValidation DataLoader 0: 100%|██████████| 1/1 [00:00<00:00,  6.50it/s]\x1b[A".encode()
    )
    (p,) = events
    assert isinstance(p, Progress)
    assert (p.phase, p.epoch, p.batch, p.total, p.rate) == ("validation", None, 1, 1, 6.5)
    assert p.text.endswith("6.50it/s]")


# --- progress bars -------------------------------------------------------------------------


def test_sanity_checking_bar_is_validation_phase() -> None:
    (p,) = parse_bytes(b"\rSanity Checking DataLoader 0:   0%|          | 0/1 [00:00<?, ?it/s]")
    assert isinstance(p, Progress)
    assert (p.phase, p.batch, p.total, p.rate, p.elapsed, p.remaining) == (
        "validation",
        0,
        1,
        None,
        0.0,
        None,
    )


def test_preprocess_bar_without_total_is_other_phase() -> None:
    (p,) = parse_bytes(b"\rdataset length: 0:05:53.686349: : 120it [00:03, 33.32it/s]")
    assert isinstance(p, Progress)
    assert (p.phase, p.epoch, p.batch, p.total) == ("other", None, 120, None)
    assert (p.rate, p.elapsed, p.remaining) == (33.32, 3.0, None)


def test_bar_times_in_hours_and_seconds_per_iteration() -> None:
    parsed = parse_progress("Epoch 12:  50%|█████     | 9/18 [1:02:03<10:00:00,  1.05s/it]")
    assert parsed is not None
    p, rest = parsed
    assert rest == ""
    assert (p.epoch, p.elapsed, p.remaining) == (12, 3723.0, 36000.0)
    assert p.rate == pytest.approx(1 / 1.05)


def test_bar_postfix_values_are_read_and_v_num_dropped() -> None:
    (p,) = parse_bytes(bar(1, 9, postfix=", loss=0.31, Val_Loss=nan, v_num=0").encode())
    assert isinstance(p, Progress)
    assert p.postfix.keys() == {"loss", "val_loss"}
    assert p.postfix["loss"] == 0.31 and math.isnan(p.postfix["val_loss"])


def test_training_bar_before_epoch_is_train_phase() -> None:
    (p,) = parse_bytes(b"\rTraining:   0%|          | 0/18 [00:00<?, ?it/s]")
    assert isinstance(p, Progress) and (p.phase, p.epoch, p.total) == ("train", None, 18)


def test_tail_bar_is_emitted_at_once_and_not_again_at_its_terminator() -> None:
    parser = LogParser()
    first = parser.feed(f"\r{bar(0, 1)}".encode())
    assert [(p.epoch, p.batch) for p in first] == [(0, 1)]
    assert parser.feed(b"\r") == []
    assert parser.feed(f"{bar(0, 1)}\r".encode()) == []  # RAVE's duplicate write
    second = parser.feed(f"{bar(0, 2)}".encode())
    assert [(p.epoch, p.batch) for p in second] == [(0, 2)]
    assert parser.flush() == []


def test_incomplete_tail_bar_waits_for_its_end() -> None:
    parser = LogParser()
    text = f"\r{bar(0, 3)}".encode()
    assert parser.feed(text[:-5]) == []
    assert [p.batch for p in parser.feed(text[-5:])] == [3]


def test_consecutive_bars_in_one_feed_collapse_to_the_latest() -> None:
    data = "".join(f"\r{bar(0, n)}\r{bar(0, n)}" for n in range(1, 18)).encode()
    (p,) = LogParser().feed(data)
    assert isinstance(p, Progress) and p.batch == 17


def test_bars_with_metric_postfix_are_each_kept() -> None:
    data = "".join(f"\r{bar(0, n, postfix=f', loss={n / 10}, v_num=0')}" * 2 for n in (1, 2, 3))
    events = LogParser().feed(data.encode())
    assert [p.postfix["loss"] for p in of_type(events, Progress)] == [0.1, 0.2, 0.3]


def test_lines_between_bars_keep_their_order_and_the_bar_before_them() -> None:
    data = f"\r{bar(0, 1)}\r{bar(0, 2)}\nUserWarning: careful\n\r{bar(0, 3)}\r{bar(0, 4)}".encode()
    events = LogParser().feed(data)
    assert [(type(e).__name__, getattr(e, "batch", None)) for e in events] == [
        ("Progress", 2),
        ("LogLine", None),
        ("Progress", 4),
    ]
    assert events[1] == LogLine("UserWarning: careful", "warning")


def test_text_glued_after_a_bar_becomes_its_own_line() -> None:
    data = "\rSanity Checking DataLoader 0: 100%|██████████| 1/1 [00:00<00:00,  2.04it/s]"
    data += "Computing receptive field for this configuration...\n"
    events = parse_bytes(data.encode())
    assert [type(e) for e in events] == [Progress, LogLine]
    assert events[0].text.endswith("2.04it/s]")  # type: ignore[union-attr]
    assert events[1] == LogLine("Computing receptive field for this configuration...", "info")


def test_glued_text_after_a_tail_bar_does_not_repeat_the_bar() -> None:
    tail = "\rSanity Checking DataLoader 0: 100%|██████████| 1/1 [00:00<00:00,  2.04it/s]"
    parser = LogParser()
    assert [type(e) for e in parser.feed(tail.encode())] == [Progress]
    assert parser.feed(b"Computing receptive field...\n") == [
        LogLine("Computing receptive field...", "info")
    ]


def test_a_million_bar_updates_in_one_feed_give_one_progress() -> None:
    updates = "".join(f"\r{bar(n // 18, n % 18)}" * 2 for n in range(500_000 // 2)).encode()
    events = LogParser().feed(updates)
    assert len(events) == 1


def test_bar_like_text_that_is_not_tqdm_stays_a_line() -> None:
    line = "UserWarning: throughput [00:01, 3.2it/s] is low"
    assert parse_bytes(line.encode() + b"\n") == [LogLine(line, "warning")]
    odd = "speed [00:01, 3.2it/s]"
    assert parse_bytes(odd.encode() + b"\n") == [LogLine(odd, "info")]


# --- levels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("/x/weight_norm.py:144: FutureWarning: `weight_norm` is deprecated", "warning"),
        ("UserWarning: something", "warning"),
        ("WARNING: low disk", "warning"),
        ("W1122 12:00:00.000000 1 x.py:1] absl says careful", "warning"),
        ("RuntimeError: cannot reshape tensor of 0 elements", "error"),
        ("ERROR something broke", "error"),
        ("E1122 21:22:13.172531 1 loader.py:9] could not load", "error"),
        ("FATAL Flags parsing error: flag --name=None: Flag --name must be set", "error"),
        ("E1122 21:22:13.172531 1 resource_reader.py:55] Path not found: v2_small.gin", "info"),
        ("I1122 21:22:13.172187 1 resource_reader.py:50] system_path_file_exists:v2.gin", "info"),
        ("  WeightNorm.apply(module, name, dim)", "info"),
        ("GPU available: False, used: False", "info"),
        ("|  run_training_epoch  \t|  15.04  \t|  3  \t|", "info"),
        ("-" * 80, "info"),
    ],
)
def test_line_levels(line: str, level: str) -> None:
    assert parse_bytes(line.encode() + b"\n") == [LogLine(line, level)]


# --- tracebacks ----------------------------------------------------------------------------

# the real exception lines (fixture README); paths rewritten to /opt/venv and /data there too
MISSING_DB_REASON = (
    "FileNotFoundError: [Errno 2] No such file or directory: '/data/db/metadata.yaml'"
)
UNKNOWN_CONFIG_REASON = (
    "OSError: Unable to open file: nope.gin. Searched config paths: "
    "['', '/opt/venv/lib/python3.11/site-packages/rave/configs']."
)
PCA_REASON = (
    "ValueError: n_components=128 must be between 0 and min(n_samples, n_features)=64"
    " with svd_solver='full'"
)

MISSING_DB = f"""\
Traceback (most recent call last):
  File "/opt/venv/bin/rave", line 8, in <module>
    sys.exit(main())
             ^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/rave/scripts/train.py", line 155, in main
    dataset = rave.dataset.get_dataset(FLAGS.db_path, model.sr, FLAGS.n_signal)
  File "/opt/venv/lib/python3.11/site-packages/rave/dataset.py", line 174, in get_dataset
    with open(os.path.join(db_path, 'metadata.yaml'), 'r') as metadata:
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
{MISSING_DB_REASON}
"""

UNKNOWN_CONFIG = f"""\
Traceback (most recent call last):
  File "/opt/venv/bin/rave", line 8, in <module>
    sys.exit(main())
  File "/opt/venv/lib/python3.11/site-packages/gin/config.py", line 2352, in parse_config_file
    raise IOError(err_str.format(config_file, prefixes))
{UNKNOWN_CONFIG_REASON}
"""

PCA_ERROR = f"""\
Traceback (most recent call last):
  File "/opt/venv/lib/python3.11/site-packages/rave/model.py", line 480, in validation_epoch_end
    pca = PCA(self.latent_size).fit(latents.cpu())
  File "/opt/venv/lib/python3.11/site-packages/sklearn/decomposition/_pca.py", line 510, in _fit
    raise ValueError(
{PCA_REASON}
"""

CHAINED = """\
Traceback (most recent call last):
  File "a.py", line 1, in <module>
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "a.py", line 3, in <module>
RuntimeError: second
"""

BARE_INTERRUPT = """\
Traceback (most recent call last):
  File "/opt/venv/bin/rave", line 8, in <module>
    sys.exit(main())
  File "/opt/venv/lib/python3.11/site-packages/torch/__init__.py", line 1, in <module>
KeyboardInterrupt
"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (MISSING_DB, MISSING_DB_REASON),
        (UNKNOWN_CONFIG, UNKNOWN_CONFIG_REASON),
        (PCA_ERROR, PCA_REASON),
        (CHAINED, "RuntimeError: second"),
        (BARE_INTERRUPT, "KeyboardInterrupt"),
    ],
)
def test_traceback_failure_reason_is_the_last_exception_line(text: str, reason: str) -> None:
    events = parse_bytes(text.encode())
    assert of_type(events, Failure) == [Failure(reason)]
    assert events[-1] == Failure(reason)
    lines = of_type(events, LogLine)
    assert all(ln.level == "error" for ln in lines)
    assert lines[0].text == "Traceback (most recent call last):"
    assert not of_type(events, Metrics)  # "n_components=128" inside a traceback is no metric


def test_failure_waits_until_the_traceback_has_ended() -> None:
    parser = LogParser()
    events = parser.feed(MISSING_DB.encode())
    assert not of_type(events, Failure)
    events = parser.feed(b"after the traceback\n")
    assert [type(e) for e in events] == [Failure, LogLine]
    assert events[1] == LogLine("after the traceback", "info")


def test_exception_message_continuation_lines_belong_to_the_traceback() -> None:
    text = PCA_ERROR + "  In call to configurable 'RAVE'\n"
    events = parse_bytes(text.encode())
    assert events[-2] == LogLine("  In call to configurable 'RAVE'", "error")
    assert events[-1].reason.startswith("ValueError: n_components=128")  # type: ignore[union-attr]


def test_progress_bar_after_an_exception_line_ends_the_traceback() -> None:
    events = parse_bytes((PCA_ERROR + f"\r{bar(1, 2)}\n").encode())
    assert [type(e) for e in events[-2:]] == [Failure, Progress]


def test_truncated_traceback_still_fails_at_flush() -> None:
    text = 'Traceback (most recent call last):\n  File "a.py", line 1, in <module>\n'
    events = parse_bytes(text.encode())
    assert events[-1] == Failure('File "a.py", line 1, in <module>')


# --- outcomes ------------------------------------------------------------------------------


def test_graceful_keyboard_interrupt_is_interrupted_outcome() -> None:
    line = "Detected KeyboardInterrupt, attempting graceful shutdown..."
    assert parse_bytes(line.encode() + b"\n") == [
        LogLine(line, "info"),
        Outcome("interrupted", line),
    ]


def test_trainer_fit_stopped_is_completed_outcome_without_metrics() -> None:
    line = "`Trainer.fit` stopped: `max_steps=40` reached."
    assert parse_bytes(line.encode() + b"\n") == [LogLine(line, "info"), Outcome("completed", line)]


@pytest.mark.parametrize(
    "line",
    [
        "all good ! model exported to /x/y.ts",
        "I1122 21:30:00.000000 1 export.py:200] all good ! model exported to /x/y.ts",
    ],
)
def test_export_line_is_exported_outcome_with_the_path(line: str) -> None:
    assert parse_bytes(line.encode() + b"\r\n")[-1] == Outcome("exported", "/x/y.ts")


# --- robustness (hypothesis) ---------------------------------------------------------------

FRAGMENTS = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\x1b",
    b"\x1b[A",
    b"\x1b[31m",
    b"\xe2\x96",
    b"\x88",
    b"\xff",
    b" ",
    b"\t",
    b"]",
    b"[",
    b"|",
    b"-",
    b"=",
    b":",
    b"0",
    b"1.5",
    b"nan",
    b"loss",
    b"loss=0.5",
    b"step 3 loss 0.1",
    b"Training step: 5000",
    b"Epoch: 10 completed",
    b"12/20 - loss: 0.3 - acc: 0.9",
    b"Epoch 0:  33%|\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88 | 6/18 ",
    b"[00:06<00:12,  1.01s/it, v_num=0]",
    b"[00:01, 2.0it/s, loss=0.3]",
    b"120it ",
    b"Traceback (most recent call last):\n",
    b'  File "a.py", line 1\n',
    b"ValueError: x\n",
    b"During handling of the above exception, another exception occurred:\n",
    b"KeyboardInterrupt\n",
    b"UserWarning: w\n",
    b"E1122 21:22:13.1 1 a.py:1] Path not found",
    b"Detected KeyboardInterrupt, attempting graceful shutdown...",
    b"all good ! model exported to /a.ts",
    b"`Trainer.fit` stopped: x",
    b"| table |",
]

streams = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=12)), max_size=40).map(
    b"".join
)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=streams, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_feed_never_raises_on_any_bytes_in_any_chunking(data: bytes, cuts: list[int]) -> None:
    events = feed_pieces(split_at(data, cuts))
    for e in events:
        assert isinstance(e, LogLine | Progress | Metrics | Outcome | Failure)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=streams, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_chunking_does_not_change_non_progress_events(data: bytes, cuts: list[int]) -> None:
    assert not_progress(feed_pieces(split_at(data, cuts))) == not_progress(parse_bytes(data))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), size=st.integers(min_value=1, max_value=50))
def test_arbitrary_binary_in_fixed_chunks_matches_one_feed(data: bytes, size: int) -> None:
    assert not_progress(feed_chunks(data, size)) == not_progress(parse_bytes(data))


def test_fast_path_log_lines_are_ordinary_frozen_log_lines() -> None:
    (line,) = parse_bytes(b"| a table row |\n")
    assert line == LogLine("| a table row |", "info") and type(line) is LogLine
    assert hash(line) == hash(LogLine("| a table row |", "info"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.text = "changed"  # type: ignore[misc]


def test_overlong_unterminated_line_is_cut_instead_of_growing_forever() -> None:
    parser = LogParser()
    events: list[Event] = []
    for _ in range(24):  # 1.5 MiB without a line break
        events += parser.feed(b"x" * 65536)
    events += parser.feed(b"\n")
    assert [type(e) for e in events] == [LogLine, LogLine]
    assert sum(len(e.text) for e in events) == 24 * 65536  # type: ignore[union-attr]
