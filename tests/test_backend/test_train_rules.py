"""Rules that keep a beginner from starting a run that cannot work (issue 15, section 1):
the batch against the dataset's training examples, when validation really happens, the
configuration suggested for a dataset and a device. Shared by the wizard and `rave-gui train`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dataset_helpers import make_lmdb_dataset

from rave_gui.backend.errors import PreflightError, ValidationError
from rave_gui.backend.rave.command import (
    FEW_CHUNKS,
    RaveConfig,
    RaveInstall,
    TrainSettings,
    batch_problem,
    batches_per_epoch,
    config_warnings,
    preflight,
    suggest_config,
    training_examples,
    validation_count,
    validation_note,
    validation_steps,
)
from rave_gui.backend.rave.dataset import read_dataset
from rave_gui.backend.rave.tfevents import read_scalars

FIXTURES = Path(os.environ.get("RAVE_GUI_FIXTURES", "/work/shared/fixtures/rave"))
INSTALL = RaveInstall(
    executable="/opt/rave/bin/rave",
    python="/opt/rave/bin/python",
    version="2.3.1",
    configs=(RaveConfig("v2_small", "base", "", ""), RaveConfig("v2", "base", "", "")),
)


def make_dataset(folder: Path, examples: int) -> Path:
    folder = make_lmdb_dataset(folder, examples)
    assert read_dataset(folder).n_examples == examples
    return folder


def test_training_examples_follow_raves_98_percent_split() -> None:
    # The fixture run printed "train set: 35 examples" and "val set: 1 examples" for 36 chunks.
    assert training_examples(36) == 35
    assert training_examples(8) == 7  # 50 chunks or fewer: one validation example
    assert training_examples(50) == 49
    assert training_examples(120) == 117  # 98 * 120 // 100
    assert training_examples(200_000) == 196_000
    assert training_examples(1) == 1 and training_examples(0) == 0
    assert batches_per_epoch(36, 2) == 17  # the last, incomplete batch is dropped
    assert batches_per_epoch(8, 8) == 0


def test_a_batch_larger_than_the_training_examples_is_refused_with_the_numbers() -> None:
    assert batch_problem(8, 8) == (
        "batch 8 is larger than the 7 training examples of this dataset (8 examples, 1 kept "
        "for validation): use a batch of at most 7."
    )
    assert batch_problem(7, 8) is None
    assert batch_problem(8, None) is None  # unknown size: nothing to say


def test_preflight_refuses_the_batch_before_rave_divides_by_zero(tmp_path: Path) -> None:
    s = TrainSettings(
        name="x",
        dataset_path=str(make_dataset(tmp_path / "ds", 8)),
        out_path=str(tmp_path / "runs"),
        configs=["v2_small"],
        max_steps=100,
        val_every=10,
        batch=8,
    )
    with pytest.raises(PreflightError) as err:
        preflight(s, INSTALL)
    assert str(err.value) == (
        "Batch 8 is larger than the 7 training examples of this dataset (8 examples, 1 kept "
        "for validation): use a batch of at most 7."
    )
    s.batch = 7
    assert preflight(s, INSTALL).channels == 1


def test_validation_within_max_steps_always_happens() -> None:
    # validate() keeps val_every <= max_steps; RAVE's rounding to epochs then still validates.
    for bpe in range(1, 40):
        for val_every in range(1, 60):
            assert validation_steps(val_every, val_every, bpe, limit=1) != []


def test_max_steps_zero_is_refused() -> None:
    s = TrainSettings(name="x", dataset_path="/data/db", max_steps=0, val_every=1)
    with pytest.raises(ValidationError, match="max_steps must be a whole number from 1"):
        s.validate()


@pytest.mark.parametrize(("run", "val_every"), [("run_40steps", 10), ("run_110steps", 30)])
def test_validation_steps_are_those_of_the_real_runs(run: str, val_every: int) -> None:
    events = sorted((FIXTURES / run).glob("events.out.tfevents.*"))
    if not events:
        pytest.skip("needs the captured RAVE runs (RAVE_GUI_FIXTURES)")
    measured = [p.step for p in read_scalars(events[0]) if p.tag == "validation"]
    max_steps = 40 if run == "run_40steps" else 110
    bpe = batches_per_epoch(36, 2)  # 35 training examples, batch 2
    assert validation_steps(val_every, max_steps, bpe, limit=None) == measured
    assert validation_count(val_every, max_steps, bpe) == len(measured)


def test_validation_steps_inside_and_across_epochs() -> None:
    # The case: "every 20" with 7 batches per epoch validates at steps 13 and 27.
    assert validation_steps(20, 30, 7) == [13, 27]
    # Several validations inside one epoch of 25 batches, every 10: batches 9 and 19.
    assert validation_steps(10, 60, 25, limit=None) == [9, 19, 34, 44, 59]
    assert validation_count(10, 60, 25) == 5
    assert validation_steps(10_000, 500_000, 4, limit=3) == [9_999, 19_999, 29_999]
    assert validation_count(10_000, 500_000, 4) == 50
    assert validation_steps(20, 13, 7) == []
    assert validation_steps(20, 100, 0) == []
    for val_every, max_steps, bpe in [(7, 100, 7), (3, 50, 10), (50, 1000, 17), (1, 9, 4)]:
        every = validation_steps(val_every, max_steps, bpe, limit=None)
        assert len(every) == validation_count(val_every, max_steps, bpe)
        assert validation_steps(val_every, max_steps, bpe) == every[:5]


def test_validation_note_says_how_rave_rounds() -> None:
    assert validation_note(20, 30, 7) == (
        "Validation at steps 13, 27 (RAVE rounds to every 2 epoch(s) of 7 batches)."
    )
    assert validation_note(10_000, 500_000, 4) == (
        "Validation at steps 9,999, 19,999, 29,999, 39,999, 49,999 … (50 in all) "
        "(RAVE rounds to every 2,500 epoch(s) of 4 batches)."
    )
    assert validation_note(10, 40, 17) == "Validation at steps 9, 26."
    assert validation_note(20, 13, 7).startswith("No validation happens in this 13-step run")


def test_the_suggested_config_follows_the_dataset_and_the_device() -> None:
    name, why = suggest_config(16, gpu=0)
    assert name == "v2_small" and f"v2 needs more than {FEW_CHUNKS}" in why
    name, why = suggest_config(500, gpu=-1)
    assert name == "v2_small" and "a real model takes weeks" in why and "try-out" in why
    assert suggest_config(500, gpu=0)[0] == "v2"
    assert suggest_config(None, gpu=0)[0] == "v2"


def test_known_failures_are_warned() -> None:
    assert config_warnings(["v2"], 16, gpu=0) == [
        "v2 fails at its first validation on a dataset of 50 examples or fewer (this one has "
        "16): choose v2_small, or add audio."
    ]
    assert config_warnings(["v2"], 51, gpu=0) == []
    assert config_warnings(["v2_small"], 16, gpu=-1) == []
    cpu = config_warnings(["v2"], 500, gpu=-1)
    assert len(cpu) == 1 and "weeks" in cpu[0]
