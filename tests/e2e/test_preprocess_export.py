"""End to end with the real RAVE command line: `rave preprocess` on synthesized audio (a usable
dataset, files too short, non-audio files, a missing folder) and `rave export` of checkpoints
of a short real training run, through the backend and through the Export page."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rave_gui.backend.errors import DatasetError
from rave_gui.backend.jobs import export as ex
from rave_gui.backend.jobs import preflight as pf
from rave_gui.backend.jobs import preprocess as pp
from rave_gui.backend.jobs.audio import scan_audio
from rave_gui.backend.jobs.demo import synthesize_audio
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process.procinfo import group_members
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.system.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def tm(tmp_path: Path):
    m = TrainingManager(tmp_path / "e2e.sqlite3")
    yield m
    m.close()


def _run(rave: str, folders: list[Path], out: Path, **kw) -> tuple[pp.PreprocessRun, float]:
    req = pp.PreprocessRequest([str(f) for f in folders], str(out), **kw)
    scan = scan_audio(folders)
    command = pp.launch_command(pp.preprocess_argv(rave, req))
    started = time.monotonic()
    result = pp.run_preprocess(
        command, req, log_folder=out.parent / f"{out.name}-log",
        monitor=pp.PreprocessMonitor.for_request(req, scan), timeout=300,
    )  # fmt: skip
    return result, time.monotonic() - started


def _group_of(result: pp.PreprocessRun) -> int:
    import json

    status = json.loads(result.log_path.with_name("preprocess.supervisor.json").read_text())
    return int(status["supervisor_pid"])


def test_preprocess_of_synthesized_audio_is_registered(rave_executable, tm, tmp_path) -> None:
    audio = tmp_path / "audio"
    synthesize_audio(audio, n_files=4, seconds=20.0, sample_rate=44100, channels=1)
    out = tmp_path / "datasets" / "synth"
    req = pp.PreprocessRequest([str(audio)], str(out))
    report = pf.preflight(req, scan_audio([audio]))
    assert report.ok, report.problems
    assert report.expected_chunks == 12
    result, elapsed = _run(rave_executable, [audio], out)
    assert result.ok, result.message
    assert result.exit_code == 0
    info = result.info
    assert info is not None and info.n_examples == 12
    ds = tm.datasets.get(tm.datasets.register(tm.projects.default_id(), info.path, "synth"))
    assert (ds.sample_rate, ds.channels, ds.n_examples) == (44100, 1, 12)
    assert ds.duration_s == pytest.approx(11 * pp.chunk_seconds(44100))  # RAVE's n_seconds
    assert group_members(_group_of(result)) == []
    print(f"\nrave preprocess, 4 x 20 s: {elapsed:.1f} s")


def test_files_too_short_give_a_clear_error_and_nothing_registered(
    rave_executable, tm, tmp_path
) -> None:
    audio = tmp_path / "short"
    synthesize_audio(audio, n_files=3, seconds=4.0, sample_rate=44100, channels=1)
    out = tmp_path / "datasets" / "short"
    report = pf.preflight(pp.PreprocessRequest([str(audio)], str(out)), scan_audio([audio]))
    assert any("Every file is shorter than 5.94 s" in p for p in report.problems)
    # What the real command does with them anyway: an "empty" dataset, told as such.
    result, _ = _run(rave_executable, [audio], out)
    assert not result.ok and result.exit_code == 0
    assert "empty dataset" in result.message and "at least 5.9 s each" in result.message
    with pytest.raises(DatasetError, match="n_seconds: 0"):
        tm.datasets.register(tm.projects.default_id(), out)
    assert tm.datasets.all() == []


def test_a_folder_of_non_audio_files_is_refused_and_never_hangs(rave_executable, tmp_path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("notes.txt", "cover.jpg", "score.pdf"):
        (docs / name).write_bytes(b"not audio")
    out = tmp_path / "datasets" / "docs"
    report = pf.preflight(pp.PreprocessRequest([str(docs)], str(out)), scan_audio([docs]))
    assert report.problems == [f"{docs} holds no audio file RAVE reads (.aif, .aiff, .wav, "
                               ".opus, .mp3, .aac, .flac, .ogg)."]  # fmt: skip
    result, elapsed = _run(rave_executable, [docs], out)
    assert not result.ok and "found no audio file" in result.message
    assert elapsed < 60
    assert group_members(_group_of(result)) == []


def test_a_missing_input_path_does_not_hang_or_leave_a_process(rave_executable, tmp_path) -> None:
    missing = tmp_path / "no-such-folder"
    out = tmp_path / "datasets" / "missing"
    report = pf.preflight(pp.PreprocessRequest([str(missing)], str(out)), scan_audio([missing]))
    assert report.problems == [f"The folder {missing} does not exist."]
    result, elapsed = _run(rave_executable, [missing], out)
    assert not result.ok
    assert "found no audio file" in result.message and "No valid file found" in result.message
    assert elapsed < 60, "the hang after 'No valid file found' was not stopped"
    assert group_members(_group_of(result)) == []  # the pool workers too


def test_a_file_ffmpeg_cannot_decode_is_refused_and_never_hangs(rave_executable, tmp_path) -> None:
    audio = tmp_path / "mixed"
    synthesize_audio(audio, n_files=1, seconds=14.0)
    (audio / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    out = tmp_path / "datasets" / "mixed"
    report = pf.preflight(pp.PreprocessRequest([str(audio)], str(out)), scan_audio([audio]))
    assert any("cannot be decoded: broken.wav" in p for p in report.problems)
    result, elapsed = _run(rave_executable, [audio], out)
    assert not result.ok and "failed to decode a file" in result.message
    assert elapsed < 60
    assert group_members(_group_of(result)) == []


def test_lazy_preprocess_answers_its_question(rave_executable, tmp_path) -> None:
    audio = tmp_path / "audio"
    synthesize_audio(audio, n_files=2, seconds=14.0)
    result, _ = _run(rave_executable, [audio], tmp_path / "datasets" / "lazy", lazy=True)
    assert result.ok, result.message
    assert result.info is not None and result.info.lazy
    assert result.info.duration_s == pytest.approx(28.0, abs=0.1)


# --- export of a real training run ---------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(rave_executable, rave_dataset, tmp_path_factory):
    """A real 20-step v2_small run on CPU with validations at steps 10 and 20."""
    root = tmp_path_factory.mktemp("trained")
    manager = TrainingManager(root / "runs.sqlite3")
    engine = Engine(manager, Settings(rave_executable=rave_executable))
    started = time.monotonic()
    exp_id = engine.submit(
        {
            "name": "tiny",
            "dataset_path": str(rave_dataset),
            "configs": ["v2_small"],
            "max_steps": 20,
            "val_every": 10,
            "batch": 2,
            "workers": 0,
            "gpu": -1,
            "out_path": str(root / "runs"),
        }
    )
    status = engine.finish(exp_id, timeout=1800)
    exp = manager.get_experiment(exp_id)
    assert status == "completed", (status, exp.error)
    print(f"\nrave train, 20 steps v2_small: {time.monotonic() - started:.0f} s")
    yield manager, exp_id
    manager.close()


def test_best_checkpoint_of_a_real_run_exports_to_a_recorded_model(
    trained, rave_executable, tmp_path
) -> None:
    manager, exp_id = trained
    checkpoints = ex.scan_checkpoints(manager, exp_id)
    assert any(c.is_best for c in checkpoints), checkpoints
    plan = ex.plan_export(
        manager, exp_id, "best", streaming=False, output_dir=tmp_path / "models",
        rave_executable=rave_executable,
    )  # fmt: skip
    started = time.monotonic()
    model_id = ex.run_export(manager, plan, timeout=600)
    elapsed = time.monotonic() - started
    model = next(m for m in manager.artifacts.exported_models(exp_id) if m.id == model_id)
    path = Path(model.path)
    assert path == tmp_path / "models" / "tiny.ts"
    assert path.is_file() and path.stat().st_size == model.size > 1_000_000
    assert path.read_bytes()[:2] == b"PK"  # TorchScript archives are zip files
    assert model.streaming is False
    assert Path(model.checkpoint).name == "best.ckpt"
    assert not plan.staging.exists()
    print(f"\nrave export of best.ckpt (non-streaming): {elapsed:.1f} s")


def test_the_export_page_exports_a_given_step_streaming(
    trained, rave_executable, qtbot, tmp_path
) -> None:
    from rave_gui.core.signals import AppSignals
    from rave_gui.ui.pages.export_page import ExportPage

    manager, exp_id = trained
    page = ExportPage(manager, AppSignals(), settings=Settings(rave_executable=rave_executable))
    qtbot.addWidget(page)
    page.set_project(manager.get_experiment(exp_id).project_id)
    assert page.select_run(exp_id)
    step_ckpt = next(c for c in page.checkpoints if not c.is_best)
    page.set_checkpoint(step_ckpt.path)
    page.output_edit.setText(str(tmp_path / "page-models"))
    page._output_touched = True
    assert page.streaming_check.isChecked()
    with qtbot.waitSignal(page.export_finished, timeout=600_000) as blocker:
        page.start_export()
    ok, text = blocker.args
    assert ok, text
    model = manager.artifacts.exported_models(exp_id)[0]
    assert model.streaming is True and model.path.endswith("_streaming.ts")
    assert model.checkpoint == step_ckpt.path
    assert Path(model.path).is_file()
    page.shutdown()
