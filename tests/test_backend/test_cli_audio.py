"""`rave-gui runs audio ID`: list a run's clips, write a clip or one part of it as WAV."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.audio import DEFAULT_N_SIGNAL, AudioIndex, decode_wav, read_clip_bytes
from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.backend.runs.engine import import_run
from rave_gui.cli import main

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from replay_helpers import FIXTURES  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (FIXTURES / "run_110steps").exists(), reason="captured RAVE runs not available"
)


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, Path]:
    """(database, run folder): the captured 110-step run laid out as rave train writes it and
    imported as experiment 1."""
    folder = tmp_path / "long_d744cc98b7"
    version = folder / "version_0"
    version.mkdir(parents=True)
    src = FIXTURES / "run_110steps"
    for f in src.glob("events.out.tfevents.*"):
        shutil.copy(f, version / f.name)
    shutil.copy(src / "config.gin", folder / "config.gin")
    db = tmp_path / "db.sqlite3"
    tm = TrainingManager(db)
    assert import_run(tm, folder) == 1
    tm.close()
    return db, folder


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_json_gives_each_clip_at_its_validation_step(run, capsys) -> None:
    db, folder = run
    code, out, err = _run(capsys, "runs", "audio", "1", "--list", "--json", "--db", str(db))
    assert code == 0, err
    clips = json.loads(out)
    validations = [p for p in read_scalars(folder) if p.tag == "validation"]
    assert [c["index"] for c in clips] == list(range(len(validations)))
    assert [c["step"] for c in clips] == [p.step for p in validations]
    for c in clips:
        assert (c["sample_rate"], c["frames"], c["examples"]) == (44100, 2 * DEFAULT_N_SIGNAL, 1)
        assert isinstance(c["wall_time"], float)


def test_list_as_a_table(run, capsys) -> None:
    db, _ = run
    code, out, _ = _run(capsys, "runs", "audio", "1", "--list", "--db", str(db))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "INDEX",
        "STEP",
        "VALIDATION",
        "LOSS",
        "SECONDS",
        "RATE",
        "EXAMPLES",
    ]
    assert len(lines) == 1 + len(AudioIndex.for_run(run[1], 1).clips)
    assert lines[1].split()[:3] == ["0", "16", "0"]


def test_index_writes_the_clip_as_rave_logged_it(run, capsys, tmp_path: Path) -> None:
    db, folder = run
    target = tmp_path / "clip.wav"
    code, out, err = _run(
        capsys, "runs", "audio", "1", "--index", "2", "-o", str(target), "--db", str(db)
    )
    assert code == 0, err
    assert target.read_bytes() == read_clip_bytes(AudioIndex.for_run(folder, 1).clips[2])
    assert "clip 2 (step 50)" in out


@pytest.mark.parametrize("part", ["input", "reconstruction"])
def test_example_part_writes_that_half(run, capsys, tmp_path: Path, part: str) -> None:
    db, folder = run
    target = tmp_path / f"{part}.wav"
    code, _, err = _run(
        capsys, "runs", "audio", "1", "--index", "1", "--example", "0", "--part", part,
        "-o", str(target), "--db", str(db),
    )  # fmt: skip
    assert code == 0, err
    rate, samples = decode_wav(target.read_bytes())
    _, whole = decode_wav(read_clip_bytes(AudioIndex.for_run(folder, 1).clips[1]))
    half = whole[:DEFAULT_N_SIGNAL] if part == "input" else whole[DEFAULT_N_SIGNAL:]
    assert rate == 44100 and samples.shape == (DEFAULT_N_SIGNAL, 1)
    assert np.array_equal(samples, half)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--index", "99", "-o", "x.wav"], "There is no clip 99: the run holds clips 0 to 5"),
        (["--index", "0", "--example", "3", "--part", "input", "-o", "x.wav"], "no example 3"),
        (["--index", "0"], "--index needs -o FILE.wav"),
        ([], "Say what to do"),
        (["--part", "input"], "--example and --part pick a part"),
    ],
)
def test_bad_requests_say_what_is_wrong(run, capsys, tmp_path, args, message) -> None:
    db, _ = run
    code, _, err = _run(capsys, "runs", "audio", "1", *args, "--db", str(db))
    assert code == 1
    assert err.startswith("rave-gui: error: ") and message in err
    assert "Traceback" not in err


def test_unknown_run_and_run_without_folder_fail_cleanly(run, capsys) -> None:
    db, folder = run
    code, _, err = _run(capsys, "runs", "audio", "7", "--list", "--db", str(db))
    assert code == 1 and "no experiment with id 7" in err
    shutil.rmtree(folder)
    code, _, err = _run(capsys, "runs", "audio", "1", "--list", "--db", str(db))
    assert code == 1 and "is gone" in err
