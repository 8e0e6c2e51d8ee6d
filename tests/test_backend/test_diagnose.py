"""Failure diagnoses: the real captured outputs, the replay's real-looking traceback, a
synthetic line for every other known signature, and `rave-gui diagnose`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rave_gui.backend.errors import NotFoundError
from rave_gui.backend.rave.diagnose import SIGNATURES, diagnose_lines, diagnose_log, diagnose_run

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

import replay_run  # noqa: E402
from replay_helpers import FIXTURES  # noqa: E402
from test_cli import fails, rave_gui_cli  # noqa: E402

CAPTURED = [
    FIXTURES / r / f
    for r in ("run_40steps", "run_110steps")
    for f in ("train.stdout", "train.stderr")
]


def _need_fixtures() -> None:
    if not all(p.exists() for p in CAPTURED):
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")


@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_captured_successful_outputs_show_no_failure(path: Path):
    """Real RAVE output is noisy (gin's `E1122 ... Path not found: v2_small.gin`, warnings):
    none of it is taken for a failure."""
    _need_fixtures()
    assert diagnose_log(path) is None


def test_the_real_pca_failure_after_real_output_is_dataset_too_small(tmp_path: Path):
    _need_fixtures()
    log = tmp_path / "train.log"
    real = (FIXTURES / "run_40steps" / "train.stderr").read_bytes()
    log.write_bytes(real[: len(real) // 2] + b"\n" + replay_run.TRACEBACK.encode())
    found = diagnose_log(log)
    assert found is not None
    assert found.kind == "dataset_too_small"
    assert found.evidence == replay_run.FAIL_REASON
    assert "add audio" in found.advice


SYNTHETIC = {
    "dataset_not_found": "FileNotFoundError: [Errno 2] No such file or directory: "
    "'/nowhere/db/metadata.yaml'",
    "dataset_empty": "ValueError: num_samples should be a positive integer value, but got "
    "num_samples=0",
    "dataset_too_small": "ValueError: n_components=128 must be between 0 and min(n_samples, "
    "n_features)=64",
    "unknown_config": "OSError: Unable to open file: v9_huge.gin. Searched config paths: ['']",
    "channels_missing": "RuntimeError: cannot reshape tensor of 0 elements into shape [0, -1] "
    "because the unspecified dimension size -1 can be any value and is ambiguous",
    "signal_too_short": "RuntimeError: cannot reshape tensor of 0 elements into shape [-1, 0] "
    "because the unspecified dimension size -1 can be any value and is ambiguous",
    "cuda_oom": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "batch_too_large": "    nepoch = FLAGS.val_every // len(train)\n"
    "ZeroDivisionError: integer division or modulo by zero",
    "no_audio_found": "No valid file found in ['/data/audio']. Aborting",
    "ffmpeg_missing": "FileNotFoundError: [Errno 2] No such file or directory: 'ffprobe'",
    "config_incompatible": "ValueError: No configurable matching 'model.NewThing'.",
    "nn_tilde_missing": "ModuleNotFoundError: No module named 'nn_tilde'",
    "module_missing": "ModuleNotFoundError: No module named 'cached_conv'",
    "config_missing": "Config file not found in /runs/x_d744cc98b7",
    "checkpoint_mismatch": "RuntimeError: Error(s) in loading state_dict for RAVE:",
    "checkpoint_damaged": "RuntimeError: PytorchStreamReader failed reading zip archive: "
    "failed finding central directory",
}


def test_every_signature_has_a_synthetic_example():
    assert set(SYNTHETIC) == {s.kind for s in SIGNATURES}


@pytest.mark.parametrize("kind", sorted(SYNTHETIC))
def test_each_known_signature_is_recognised_amid_a_traceback(kind: str):
    lines = [
        "I1122 10:00:00.000 train.py:100] Creating dataset",
        "Traceback (most recent call last):",
        '  File "/opt/venv/lib/python3.11/site-packages/scripts/train.py", line 200, in main',
        *SYNTHETIC[kind].splitlines(),
    ]
    found = diagnose_lines(lines)
    assert found is not None and found.kind == kind
    assert found.evidence == SYNTHETIC[kind].splitlines()[-1].strip()
    assert found.title and found.advice


def test_a_zero_division_elsewhere_is_not_taken_for_a_batch_too_large():
    found = diagnose_lines(["ZeroDivisionError: integer division or modulo by zero"])
    assert found is not None and found.kind == "unknown"


def test_an_unknown_failure_gives_its_last_exception_line():
    found = diagnose_lines(
        [
            "Traceback (most recent call last):",
            "KeyError: 'a'",
            "during handling...",
            "RuntimeError: something new",
            "W1122 a warning after it",
        ]
    )
    assert found is not None
    assert (found.kind, found.evidence) == ("unknown", "RuntimeError: something new")
    assert diagnose_lines(["all fine", "UserWarning: deprecated"]) is None


def test_a_missing_dataset_says_which_problem_when_the_path_can_be_checked(tmp_path: Path):
    missing = diagnose_lines(
        [f"FileNotFoundError: [Errno 2] No such file or directory: '{tmp_path}/gone/metadata.yaml'"]
    )
    assert (
        missing is not None
        and missing.title == f"The dataset folder {tmp_path}/gone does not exist"
    )
    (tmp_path / "audio").mkdir()
    not_db = diagnose_lines(
        [
            "FileNotFoundError: [Errno 2] No such file or directory: "
            f"'{tmp_path}/audio/metadata.yaml'"
        ]
    )
    assert not_db is not None and "is not a preprocessed RAVE dataset" in not_db.title


def test_a_failed_run_is_diagnosed_from_its_log_or_its_recorded_error(tmp_path: Path):
    log = tmp_path / "train.log"
    log.write_text("Traceback (most recent call last):\n" + SYNTHETIC["batch_too_large"] + "\n")
    d = diagnose_run(str(log), "ZeroDivisionError: integer division or modulo by zero")
    assert d is not None and d.kind == "batch_too_large"
    gone = diagnose_run(str(tmp_path / "deleted.log"), "torch.OutOfMemoryError: CUDA out of memory")
    assert gone is not None and gone.kind == "cuda_oom"
    assert diagnose_run(None, None) is None
    with pytest.raises(NotFoundError, match="is not a file"):
        diagnose_log(tmp_path / "nothing.log")


def test_cli_diagnose_prints_the_cause_and_json(tmp_path: Path):
    log = tmp_path / "preprocess.log"
    log.write_bytes(b"\x1b[31mNo valid file found in ['/data/x']. Aborting\x1b[0m\r\n")
    proc = rave_gui_cli("diagnose", str(log))
    assert proc.returncode == 0
    assert "No audio file was found (no_audio_found)" in proc.stdout
    assert "Evidence: No valid file found in ['/data/x']. Aborting" in proc.stdout
    data = json.loads(rave_gui_cli("diagnose", str(log), "--json").stdout)
    assert set(data) == {"kind", "title", "advice", "evidence"}
    assert data["kind"] == "no_audio_found"
    ok = tmp_path / "ok.log"
    ok.write_text("train set: 35 examples\n")
    assert json.loads(rave_gui_cli("diagnose", str(ok), "--json").stdout) == {"kind": None}
    assert "No failure found" in rave_gui_cli("diagnose", str(ok)).stdout
    fails(rave_gui_cli("diagnose", str(tmp_path / "missing.log")), "is not a file")
