"""Datasets from audio folders: scanning, pre-flight, the command, its monitor and its result
(no rave needed here; the real `rave preprocess` runs in tests/e2e/test_preprocess_export.py)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest
import yaml

from rave_gui.backend.errors import DatasetError, PreflightError
from rave_gui.backend.jobs import audio
from rave_gui.backend.jobs import preflight as pf
from rave_gui.backend.jobs import preprocess as pp
from rave_gui.backend.rave.logparse import parse_bytes

HAVE_FFMPEG = bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="needs ffmpeg and ffprobe")


def _wav(path: Path, seconds: float, sr: int = 44100, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(b"\0\0" * channels * round(seconds * sr))
    return path


def _request(folders: list[Path], out: Path, **kw) -> pp.PreprocessRequest:
    return pp.PreprocessRequest([str(f) for f in folders], str(out), **kw)


# --- scanning ----------------------------------------------------------------------------------


def test_files_are_picked_as_rave_globs_them() -> None:
    assert audio.rave_reads("a.wav") and audio.rave_reads("a.WAV") and audio.rave_reads("b.flac")
    assert audio.rave_reads("._hidden.wav")  # pathlib's glob does not skip dotfiles
    assert not audio.rave_reads("a.Wav")  # RAVE globs *.wav and *.WAV only
    assert not audio.rave_reads("notes.txt") and not audio.rave_reads("a.wav.bak")


def test_scan_counts_files_and_durations_from_wav_headers(tmp_path: Path) -> None:
    _wav(tmp_path / "a" / "one.wav", 7.5)
    _wav(tmp_path / "a" / "sub" / "two.WAV", 12.0, sr=48000, channels=2)
    (tmp_path / "a" / "readme.txt").write_text("not audio")
    scan = audio.scan_audio([tmp_path / "a"])
    assert [f.path.name for f in scan.files] == ["one.wav", "two.WAV"]
    assert scan.total_s == pytest.approx(19.5)
    assert scan.max_channels == 2
    assert scan.other_files == 1
    assert scan.summary() == "2 audio files · 19 s in all"
    # 44.1 kHz chunks of 5.94 s: 7.5 s gives one, 12 s gives two.
    assert scan.chunks(pp.chunk_seconds(44100)) == 3


def test_scan_reports_missing_folders_and_folders_without_audio(tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    scan = audio.scan_audio([tmp_path / "nope", tmp_path / "texts"])
    assert scan.missing == (tmp_path / "nope",)
    assert scan.without_audio == (tmp_path / "texts",)
    assert scan.files == ()


@needs_ffmpeg
def test_other_formats_are_measured_with_ffprobe_and_broken_files_reported(tmp_path: Path) -> None:
    src = _wav(tmp_path / "src.wav", 3.0)
    (tmp_path / "in").mkdir()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(src), str(tmp_path / "in" / "a.flac")], check=True
    )
    (tmp_path / "in" / "broken.mp3").write_bytes(b"this is not an mp3 file at all")
    scan = audio.scan_audio([tmp_path / "in"])
    by_name = {f.path.name: f for f in scan.files}
    assert by_name["a.flac"].duration_s == pytest.approx(3.0, abs=0.05)
    assert by_name["a.flac"].channels == 1 and by_name["a.flac"].sample_rate == 44100
    assert not by_name["broken.mp3"].readable and by_name["broken.mp3"].error
    assert [f.path.name for f in scan.unreadable] == ["broken.mp3"]


# --- pre-flight --------------------------------------------------------------------------------


def test_preflight_passes_long_enough_files_and_estimates_the_size(tmp_path: Path) -> None:
    for i in range(3):
        _wav(tmp_path / "audio" / f"{i}.wav", 20.0)
    req = _request([tmp_path / "audio"], tmp_path / "out" / "db")
    report = pf.preflight(req, audio.scan_audio([tmp_path / "audio"]))
    assert report.ok == HAVE_FFMPEG, report.problems
    assert report.expected_chunks == 9
    assert report.needed_bytes == pytest.approx(9 * 262144 * 2 * 1.1, rel=0.01)
    assert any("Only 9 chunks" in w for w in report.warnings)  # v2 needs more than 50


def test_preflight_refuses_when_every_file_is_shorter_than_one_chunk(tmp_path: Path) -> None:
    for i in range(3):
        _wav(tmp_path / "audio" / f"{i}.wav", 4.0)
    req = _request([tmp_path / "audio"], tmp_path / "db")
    report = pf.preflight(req, audio.scan_audio([tmp_path / "audio"]))
    text = "\n".join(report.problems)
    assert "Every file is shorter than 5.94 s" in text
    assert "at least 5.9 s each" in text
    with pytest.raises(PreflightError, match="empty dataset"):
        report.raise_for_problems()


def test_preflight_warns_which_files_are_too_short(tmp_path: Path) -> None:
    _wav(tmp_path / "audio" / "long.wav", 30.0)
    _wav(tmp_path / "audio" / "tiny.wav", 2.0)
    req = _request([tmp_path / "audio"], tmp_path / "db")
    report = pf.preflight(req, audio.scan_audio([tmp_path / "audio"]))
    assert not any("shorter" in p for p in report.problems)
    assert any("tiny.wav (2.0 s)" in w and "left out" in w for w in report.warnings)
    # At 22.05 kHz a chunk lasts twice as long: 11.9 s.
    req.sample_rate = 22050
    report = pf.preflight(req, audio.scan_audio([tmp_path / "audio"]))
    assert report.expected_chunks == 2


def test_preflight_refuses_a_single_chunk(tmp_path: Path) -> None:
    _wav(tmp_path / "audio" / "one.wav", 7.0)
    report = pf.preflight(
        _request([tmp_path / "audio"], tmp_path / "db"), audio.scan_audio([tmp_path / "audio"])
    )
    assert any("needs at least 2" in p for p in report.problems)


def test_preflight_explains_folders_and_files_rave_cannot_use(tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "fake.wav").write_text("not audio")
    _wav(bad / "fine.wav", 20.0)
    folders = [tmp_path / "nope", tmp_path / "texts", bad]
    report = pf.preflight(_request(folders, tmp_path / "db"), audio.scan_audio(folders))
    text = "\n".join(report.problems)
    assert f"The folder {tmp_path / 'nope'} does not exist." in text
    assert f"{tmp_path / 'texts'} holds no audio file RAVE reads (.aif, .aiff, .wav" in text
    if HAVE_FFMPEG:
        assert "1 file(s) cannot be decoded: fake.wav" in text
        assert "stalls on a file it cannot read" in text


def test_preflight_refuses_nested_folders(tmp_path: Path) -> None:
    _wav(tmp_path / "a" / "b" / "x.wav", 20.0)
    folders = [tmp_path / "a", tmp_path / "a" / "b"]
    report = pf.preflight(_request(folders, tmp_path / "db"), audio.scan_audio(folders))
    assert any("read its files twice" in p for p in report.problems)


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda p: (p.mkdir(), (p / "metadata.yaml").write_text("sr: 1")), "already holds"),
        (lambda p: (p.mkdir(), (p / "x").write_text("1")), "is not empty"),
        (lambda p: p.write_text("a file"), "is a file"),
    ],
)
def test_the_output_folder_must_be_new(tmp_path: Path, prepare, message) -> None:
    out = tmp_path / "out"
    prepare(out)
    assert message in " ".join(pf.output_problems(out))


def test_output_must_be_writable_and_absolute(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        problems = pf.output_problems(locked / "db")
        import os

        if os.geteuid() != 0:  # root writes anywhere
            assert "Cannot write in" in problems[0]
    finally:
        locked.chmod(0o700)
    assert "full path" in pf.output_problems("relative/db")[0]
    assert pf.output_problems(tmp_path / "new" / "db") == []


def test_preflight_refuses_when_the_disk_is_too_small(tmp_path: Path, monkeypatch) -> None:
    _wav(tmp_path / "audio" / "a.wav", 30.0)
    monkeypatch.setattr(pf.shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(1, 1, 1000))
    report = pf.preflight(
        _request([tmp_path / "audio"], tmp_path / "db"), audio.scan_audio([tmp_path / "audio"])
    )
    assert any("Not enough free disk space" in p for p in report.problems)
    lazy = pf.preflight(
        _request([tmp_path / "audio"], tmp_path / "db", lazy=True),
        audio.scan_audio([tmp_path / "audio"]),
    )
    assert lazy.needed_bytes < report.needed_bytes


def test_missing_ffmpeg_is_explained(monkeypatch) -> None:
    monkeypatch.setattr(pf.shutil, "which", lambda _name: None)
    (problem,) = pf.tool_problems()
    assert problem.startswith("ffmpeg and ffprobe are not installed")


# --- the command -------------------------------------------------------------------------------


def test_argv_is_a_list_with_every_input_folder(tmp_path: Path) -> None:
    req = pp.PreprocessRequest(["/a b/x", "/c"], "/out/db", channels=2, sample_rate=48000)
    assert pp.preprocess_argv("/venv/bin/rave", req) == [
        "/venv/bin/rave", "preprocess",
        "--input_path", "/a b/x", "--input_path", "/c",
        "--output_path", "/out/db", "--channels", "2", "--sampling_rate", "48000",
    ]  # fmt: skip
    req.lazy, req.num_signal = True, 65536
    argv = pp.preprocess_argv("rave", req)
    assert argv[-3:] == ["--num_signal", "65536", "--lazy"]


def test_lazy_runs_the_script_with_yes_on_stdin(tmp_path: Path) -> None:
    plain = ["/venv/bin/rave", "preprocess", "--input_path", "/a"]
    assert pp.launch_command(plain, "/venv/bin/python") == plain
    lazy = [*plain, "--lazy"]
    cmd = pp.launch_command(lazy, "/venv/bin/python")
    assert cmd[:2] == ["/venv/bin/python", "-c"] and cmd[3:] == lazy
    # The wrapper really answers RAVE's question: run it on a script that asks.
    script = tmp_path / "asker"
    script.write_text(
        'import sys\nanswer = input("Continue ? (y/n) ")\nprint("got", answer, sys.argv[1:])\n'
    )
    import sys

    out = subprocess.run(
        [sys.executable, "-c", cmd[2], str(script), "preprocess", "--lazy"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    assert "got y ['preprocess', '--lazy']" in out.stdout


# --- following ---------------------------------------------------------------------------------

PROGRESS = (
    b"0it [00:00, ?it/s]\rdataset length: 0:00:00: : 1it [00:00,  2.95it/s]"
    b"\rdataset length: 0:03:28.050794: : 36it [00:02, 13.63it/s]\n"
)


def test_monitor_reads_chunks_and_length_from_the_bar() -> None:
    mon = pp.PreprocessMonitor(expected_chunks=36)
    assert mon.percent() == 0 and mon.text() == "Starting…"
    assert not mon.feed(parse_bytes(PROGRESS))
    assert (mon.chunks, round(mon.seconds, 2)) == (36, 208.05)
    assert mon.percent() == 100
    assert mon.text() == "36 chunks of 36 · dataset length 3 min 28 s"
    assert pp.PreprocessMonitor().percent() == -1


def test_progress_comes_from_the_length_when_tqdm_count_lags() -> None:
    # tqdm prints a stale count with a fresh description: 160 s is 27 chunks of 5.94 s done.
    mon = pp.PreprocessMonitor(36, chunk_s=pp.chunk_seconds(44100))
    mon.feed(parse_bytes(b"dataset length: 0:02:40.487: : 21it [00:01, 13.6it/s]\r"))
    assert mon.chunks == 28 and mon.percent() == 77


def test_lazy_progress_is_the_share_of_the_audio_measured(tmp_path: Path) -> None:
    for i in range(4):
        _wav(tmp_path / "a" / f"{i}.wav", 30.0)
    req = _request([tmp_path / "a"], tmp_path / "db", lazy=True)
    mon = pp.PreprocessMonitor.for_request(req, audio.scan_audio([tmp_path / "a"]))
    mon.feed(parse_bytes(b"dataset length: 0:01:00: : 2it [00:00, 5.5it/s]\r"))
    assert (mon.percent(), mon.text()) == (50, "2 files of 4 · dataset length 1 min 00 s")


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (
            b"No valid file found in ['/data/nothere']. Aborting\n0it [00:00, ?it/s]",
            "found no audio",
        ),
        (
            b"(TypeError('cannot unpack non-iterable NoneType object'),)\n",
            "failed to decode a file (TypeError: cannot unpack",
        ),
    ],
)
def test_monitor_detects_the_lines_after_which_preprocess_hangs(output: bytes, reason: str) -> None:
    mon = pp.PreprocessMonitor()
    assert mon.feed(parse_bytes(output))
    assert reason in (mon.stalled or "")


# --- the result --------------------------------------------------------------------------------


def _dataset(folder: Path, n_seconds: float, entries: int, sr: int = 44100) -> Path:
    import lmdb

    folder.mkdir(parents=True)
    env = lmdb.open(str(folder), map_size=1 << 22)
    with env.begin(write=True) as txn:
        for i in range(entries):
            txn.put(f"{i:08d}".encode(), b"x")
    env.close()
    meta = {"channels": 1, "lazy": False, "n_seconds": n_seconds, "sr": sr}
    (folder / "metadata.yaml").write_text(yaml.safe_dump(meta))
    return folder


def test_check_result_says_an_empty_dataset_is_empty_and_how_long_files_must_be(
    tmp_path: Path,
) -> None:
    with pytest.raises(DatasetError) as err:
        pp.check_result(_dataset(tmp_path / "empty", 0.0, 0))
    text = str(err.value)
    assert "empty dataset" in text and "n_seconds: 0" in text
    assert "5.94 s (2 × 131,072 samples at 44,100 Hz)" in text
    assert "at least 5.9 s each" in text
    with pytest.raises(DatasetError, match="single chunk"):
        pp.check_result(_dataset(tmp_path / "one", 0.0, 1))
    with pytest.raises(DatasetError, match=r"at 48,000 Hz"):
        pp.check_result(_dataset(tmp_path / "sr", 0.0, 0, sr=48000))
    with pytest.raises(DatasetError, match="did not finish"):
        pp.check_result(tmp_path / "nothing")
    info = pp.check_result(_dataset(tmp_path / "good", 208.05, 36))
    assert (info.duration_s, info.n_examples) == (208.05, 36)


def test_removing_dataset_files_never_touches_anything_else(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "db", 10.0, 3)
    assert pp.remove_dataset_files(folder) == []
    assert not folder.exists()
    folder = _dataset(tmp_path / "mixed", 10.0, 3)
    (folder / "take1.wav").write_bytes(b"RIFF")
    assert pp.remove_dataset_files(folder) == [folder / "take1.wav"]
    assert sorted(p.name for p in folder.iterdir()) == ["take1.wav"]
    pp.discard_output(tmp_path / "never-created")  # no error


def test_removing_a_dataset_is_its_registration_then_its_files(tmp_path: Path) -> None:
    from rave_gui.backend.errors import InUseError
    from rave_gui.backend.manager import TrainingManager

    tm = TrainingManager(tmp_path / "db.sqlite3")
    project = tm.projects.default_id()
    used = _dataset(tmp_path / "used", 10.0, 3)
    (used / "notes.txt").write_text("recorded in room B")
    used_id = tm.datasets.register(project, used)
    exp = tm.start_training({"name": "r", "project_id": project, "dataset_id": used_id})
    tm.stop_training(exp)
    assert pp.remove_dataset(tm, used_id, delete_files=True) == [used / "notes.txt"]
    assert tm.datasets.all() == []
    assert tm.get_experiment(exp).dataset_id is None  # detached, history kept
    assert sorted(p.name for p in used.iterdir()) == ["notes.txt"]

    kept = _dataset(tmp_path / "kept", 10.0, 3)
    assert pp.remove_dataset(tm, tm.datasets.register(project, kept)) == []
    assert tm.datasets.all() == [] and (kept / "data.mdb").exists()

    shared = _dataset(tmp_path / "shared", 10.0, 3)
    mine = tm.datasets.register(project, shared)
    tm.datasets.register(tm.projects.create("Other"), shared)
    with pytest.raises(InUseError, match="another project uses the same folder"):
        pp.remove_dataset(tm, mine, delete_files=True)
    assert len(tm.datasets.all()) == 2 and (shared / "data.mdb").exists()  # nothing removed

    busy = tm.datasets.register(project, _dataset(tmp_path / "busy", 10.0, 3))
    tm.start_training({"name": "live", "project_id": project, "dataset_id": busy})
    with pytest.raises(InUseError, match="active run"):
        pp.remove_dataset(tm, busy, delete_files=True)
    assert (tmp_path / "busy" / "data.mdb").exists()
    tm.close()
