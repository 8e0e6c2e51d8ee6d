"""Bad input and damaged files become messages, never tracebacks: a damaged database, ids too
large for SQLite, a full disk, wrong settings types, two programs creating the first project,
resuming an imported run, pre-flight bounds, and the name rule's message."""

from __future__ import annotations

import json
import os
import sqlite3
import string
import subprocess
import sys
import threading
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import pytest

from rave_gui import cli
from rave_gui.backend.errors import DatabaseError, DatasetError, PreflightError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.command import (
    MAX_STEPS,
    RaveConfig,
    RaveInstall,
    TrainSettings,
    check_gpu,
    preflight,
)
from rave_gui.backend.rave.dataset import read_dataset
from rave_gui.backend.store.db import SQLITE_MAX_INT, connect
from rave_gui.backend.store.names import NAME_PUNCTUATION, check_name
from rave_gui.backend.system import sysmon
from rave_gui.backend.system.paths import resolve_db_path
from rave_gui.backend.system.settings import Settings, load_settings, read_settings, save_settings

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ROOT / "tests" / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))
from damaged_db import damaged_store, make_store  # noqa: E402

RAVE = Path(sys.executable).with_name("rave")
FIXTURES = ROOT.parent / "shared" / "fixtures" / "rave"
METADATA = "channels: 1\nlazy: false\nn_seconds: 208.0\nsr: 44100\n"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """rave_gui.cli.main in this process: (exit code, stdout, stderr); never a traceback."""
    try:
        code = cli.main(list(args))
    except SystemExit as done:  # argparse's usage errors
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def damaged_experiments(tmp_path: Path) -> Path:
    return damaged_store(tmp_path / "damaged.sqlite3", "experiments")


@pytest.fixture
def damaged_metrics(tmp_path: Path) -> Path:
    """Experiments readable, their metric points and tiles not."""
    return damaged_store(tmp_path / "damaged-metrics.sqlite3", "metric_points", "metric_tiles")


# --- a damaged database ------------------------------------------------------------------------


def test_every_read_of_a_damaged_database_is_a_database_error(
    damaged_experiments: Path, damaged_metrics: Path
) -> None:
    tm = TrainingManager(damaged_experiments)  # the header is fine: it opens
    for read in (tm.list_experiments, lambda: tm.get_experiment(20)):
        with pytest.raises(DatabaseError, match=r"is damaged .*malformed.*--db"):
            read()
    with pytest.raises(DatabaseError, match="is damaged"):
        tm.metrics.add_points(20, [("loss", 5000, 1.0, None)])
    tm.close()
    tm = TrainingManager(damaged_metrics)
    assert tm.get_experiment(20).name == "run 19"
    reads: list[Callable[[], object]] = [
        lambda: tm.metrics.stats(20),
        lambda: tm.metrics.reduced(20, "loss"),
        lambda: list(tm.metrics.iter_points(20)),
        lambda: tm.metrics.add_points(20, [("loss", 10, 1.0, None)]),
    ]
    for read in reads:
        with pytest.raises(DatabaseError, match=str(damaged_metrics)):
            read()
    tm.close()


def test_cli_says_the_database_is_damaged(
    capsys: pytest.CaptureFixture[str], damaged_experiments: Path, damaged_metrics: Path
) -> None:
    for db in (damaged_experiments, damaged_metrics):
        for args in (("list",), ("show", "20"), ("export", "20"), ("show", "20", "--json")):
            code, out, err = run_cli(capsys, "runs", *args, "--db", str(db))
            if db == damaged_metrics and args == ("list",):
                assert code == 0 and "run 19" in out  # the experiments themselves are fine
                continue
            assert code == 1, (db, args)
            assert err.startswith(f"rave-gui: error: The database {db} is damaged")
            assert "restore a backup" in err and "--db" in err


def test_export_that_fails_half_way_leaves_no_file(
    capsys: pytest.CaptureFixture[str], damaged_metrics: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "old.csv").write_text("earlier export\n")
    for name in ("new.csv", "old.csv"):
        code, _out, err = run_cli(
            capsys, "runs", "export", "20", "--db", str(damaged_metrics), "-o", str(out_dir / name)
        )
        assert code == 1 and "is damaged" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["old.csv"]  # no temporary file left
    assert (out_dir / "old.csv").read_text() == "earlier export\n"


def test_an_sqlite_error_that_reaches_the_cli_is_still_a_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damaged_experiments: Path
) -> None:
    # The last line of defence: a command that reads the file with sqlite3 itself.
    def raw_read(args, out) -> int:
        conn = sqlite3.connect(args.db)
        try:
            conn.execute("SELECT * FROM experiments").fetchall()
        finally:
            conn.close()
        return 0

    parser = cli.build_parser()
    parse = parser.parse_args
    monkeypatch.setattr(
        parser, "parse_args", lambda argv: Namespace(**{**vars(parse(argv)), "func": raw_read})
    )
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    code, out, err = run_cli(capsys, "runs", "list", "--db", str(damaged_experiments))
    assert code == 1 and out == ""
    assert err == (
        f"rave-gui: error: The database {damaged_experiments} is damaged (database disk image "
        "is malformed): restore a backup of it, or start a new database with --db.\n"
    )


# --- ids, --db, output files -------------------------------------------------------------------


def test_run_ids_beyond_sqlite_integers_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "s.sqlite3")
    for action in ("show", "export", "stop", "pause", "resume", "resume-from"):
        for bad in ("99999999999999999999999", str(SQLITE_MAX_INT + 1), "0", "-3"):
            code, out, err = run_cli(capsys, "runs", action, bad, "--db", db)
            assert code == 2 and out == ""
            assert f"{bad} is not a run id" in err and str(SQLITE_MAX_INT) in err
    code, _out, err = run_cli(capsys, "runs", "show", str(SQLITE_MAX_INT), "--db", db)
    assert code == 1 and f"no experiment with id {SQLITE_MAX_INT}" in err
    tm = TrainingManager(db)
    with pytest.raises(ValidationError, match="too large for the database"):
        tm.get_experiment(10**23)  # the backend refuses it too (the GUI never sends one)
    tm.close()


def test_empty_db_flag_is_refused_not_the_default_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for value in ("", "  "):
        code, out, err = run_cli(capsys, "runs", "list", "--db", value)
        assert code == 1 and out == ""
        assert err == "rave-gui: error: --db needs a path (the database file to open).\n"
    with pytest.raises(ValidationError, match="--db needs a path"):
        resolve_db_path("")
    assert resolve_db_path(None).name == "rave-gui.sqlite3"
    assert not resolve_db_path(None).exists()  # nothing was created on the way


def test_export_to_a_full_device_is_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "s.sqlite3"
    make_store(db, n=1, points=50_000).close()
    code, out, err = run_cli(capsys, "runs", "export", "1", "--db", str(db), "-o", "/dev/full")
    assert code == 1 and out == ""
    assert err == "rave-gui: error: Cannot write /dev/full: No space left on device\n"


def test_export_to_a_full_disk_leaves_no_partial_file_and_keeps_the_old_one(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.sqlite3"
    make_store(db, n=1, points=50_000).close()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "kept.csv").write_text("earlier export\n")
    # A real write error: the process may write at most 64 KiB to any file (RLIMIT_FSIZE;
    # Python ignores SIGXFSZ, so write() fails with EFBIG as on a full disk).
    script = (
        "import resource, sys; from rave_gui import cli;"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.RLIM_INFINITY));"
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    for name in ("new.csv", "kept.csv"):
        proc = subprocess.run(
            [sys.executable, "-c", script, "runs", "export", "1", "--db", str(db),
             "-o", str(out_dir / name)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr == f"rave-gui: error: Cannot write {out_dir / name}: File too large\n"
    assert sorted(p.name for p in out_dir.iterdir()) == ["kept.csv"]
    assert (out_dir / "kept.csv").read_text() == "earlier export\n"


def test_export_replaces_a_file_whole_with_its_permissions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "s.sqlite3"
    make_store(db, n=1, points=300).close()
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "points.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    code, _out, err = run_cli(capsys, "runs", "export", "1", "--db", str(db), "-o", str(target))
    assert code == 0 and err == f"Wrote 300 points to {target}\n"
    lines = target.read_text().splitlines()
    assert lines[0] == "metric,step,value,wall_time" and len(lines) == 301
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["points.csv"]  # no temporary file


# --- settings.json -----------------------------------------------------------------------------


def test_settings_of_the_wrong_type_fall_back_to_defaults_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {
                "rave_executable": 5,
                "runs_dir": "/data/runs",
                "max_concurrent_runs": "2",
                "use_launcher": "yes",
                "notifications": 0,
                "unknown": 1,
            }
        )
    )
    settings, warnings = read_settings(path)
    assert settings == Settings(runs_dir="/data/runs")
    assert len(warnings) == 4
    assert "rave_executable must be the path of the rave executable (text), not 5" in warnings[0]
    assert "max_concurrent_runs must be a whole number from 1 to 64, not '2'" in warnings[1]
    assert "use_launcher must be true or false, not 'yes'" in warnings[2]
    assert "notifications must be true or false, not 0" in warnings[3]
    assert all(str(path) in w and "Using the default" in w for w in warnings)
    assert load_settings(path) == settings
    settings.resolved_rave()  # usable: no TypeError anywhere


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "does not hold settings"),
        (b"\xff\xfe{", "Cannot read"),
    ],
)
def test_a_settings_file_that_is_not_settings_is_reported(
    tmp_path: Path, content: str | bytes, words: str
) -> None:
    path = tmp_path / "settings.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    settings, warnings = read_settings(path)
    assert settings == Settings()
    assert len(warnings) == 1 and words in warnings[0] and "using the defaults" in warnings[0]
    assert read_settings(tmp_path / "missing.json") == (Settings(), [])


def test_settings_of_the_wrong_type_cannot_be_saved(tmp_path: Path) -> None:
    for bad in (
        Settings(rave_executable=5),  # type: ignore[arg-type]
        Settings(runs_dir=None),  # type: ignore[arg-type]
        Settings(max_concurrent_runs=True),
        Settings(use_launcher=1),  # type: ignore[arg-type]
        Settings(notifications="no"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValidationError):
            save_settings(bad, tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()


def test_cli_shows_settings_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = Path(os.environ["RAVE_GUI_DATA"]) / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"rave_executable": 5}')
    code, _out, err = run_cli(capsys, "runs", "stop", "7", "--db", str(tmp_path / "s.sqlite3"))
    assert code == 1
    assert err.splitlines() == [
        f"rave-gui: warning: In {path}: rave_executable must be the path of the rave "
        'executable (text), not 5. Using the default ("").',
        "rave-gui: error: There is no experiment with id 7.",
    ]


# --- two programs opening a new database at once -----------------------------------------------


def _first_project(tm: TrainingManager, barrier: threading.Barrier, results: list) -> None:
    barrier.wait()
    try:
        results.append(tm.projects.default_id())
    except Exception as err:
        results.append(err)


def test_programs_creating_the_default_project_at_once_get_the_same_one(tmp_path: Path) -> None:
    # Before the fix, 28 of 30 such races ended in DuplicateNameError for some of them.
    for attempt in range(25):
        path = tmp_path / f"race{attempt}.sqlite3"
        connect(path).close()
        managers = [TrainingManager(path) for _ in range(4)]  # a connection each
        barrier = threading.Barrier(len(managers))
        results: list[object] = []
        threads = [
            threading.Thread(target=_first_project, args=(tm, barrier, results)) for tm in managers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 4 and all(isinstance(r, int) for r in results), results
        assert len(set(results)) == 1
        assert [p.name for p in managers[0].projects.all()] == ["Default"]
        for tm in managers:
            tm.close()


def test_default_project_is_the_first_existing_one(tmp_path: Path) -> None:
    tm = TrainingManager(tmp_path / "s.sqlite3")
    drums = tm.projects.create("Drums")
    assert tm.projects.default_id() == drums
    assert [p.name for p in tm.projects.all()] == ["Drums"]
    tm.close()


# --- datasets and pre-flight -------------------------------------------------------------------


def make_dataset(folder: Path, *, mdb: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "metadata.yaml").write_text(METADATA)
    if mdb:
        (folder / "data.mdb").touch()
    return folder


def test_a_dataset_without_data_mdb_is_refused(tmp_path: Path) -> None:
    folder = make_dataset(tmp_path / "half", mdb=False)
    with pytest.raises(DatasetError) as err:
        read_dataset(folder)
    assert str(err.value) == (
        f"{folder} has metadata.yaml but no data.mdb, which holds the preprocessed audio: "
        "preprocessing did not finish or the file was moved. Preprocess the audio again."
    )
    tm = TrainingManager(tmp_path / "s.sqlite3")
    with pytest.raises(DatasetError, match=r"no data\.mdb"):
        tm.datasets.register(tm.projects.default_id(), folder)
    assert tm.datasets.all() == []
    tm.close()


INSTALL = RaveInstall(
    executable="/opt/rave/bin/rave",
    python="/opt/rave/bin/python",
    version="2.3.1",
    configs=(RaveConfig("v2_small", "base", "", ""),),
)


def test_preflight_refuses_a_gpu_this_machine_does_not_have(tmp_path: Path) -> None:
    gpus = sysmon.list_gpus()
    missing = len(gpus)  # one past the last index: never there
    problem = check_gpu(missing)
    assert problem is not None
    if gpus:
        assert problem.startswith(f"There is no GPU {missing}: this machine has {len(gpus)}")
        assert gpus[0].name in problem
        assert check_gpu(0) is None
    else:
        assert problem == (
            f"GPU {missing} was asked for but {sysmon.gpu_error()}: use --gpu -1 for the CPU."
        )
        assert "no NVIDIA GPU found" in problem
        assert check_gpu(0) is not None
    assert check_gpu(-1) is None
    s = TrainSettings(
        name="x",
        dataset_path=str(make_dataset(tmp_path / "ds")),
        out_path=str(tmp_path / "runs"),
        configs=["v2_small"],
        gpu=7 if len(gpus) <= 7 else missing,
    )
    with pytest.raises(PreflightError) as err:
        preflight(s, INSTALL)
    assert str(err.value) == check_gpu(s.gpu)
    s.gpu = -1
    assert preflight(s, INSTALL).channels == 1


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("max_steps", 10**23, "max_steps must be a whole number from 1 to 1,000,000,000"),
        ("max_steps", 0, "max_steps must be a whole number from 1 to"),
        ("max_steps", 1e6, "not 1000000.0"),
        ("val_every", MAX_STEPS + 1, "val_every must be a whole number from 1 to 1,000,000,000"),
        ("save_every", 10**12, "save_every must be a whole number from 1 to 1,000,000,000"),
        ("batch", 10**6, "batch must be a whole number from 1 to 4,096"),
        ("workers", 10**4, "workers must be a whole number from 0 to 256"),
        ("channels", 1000, "channels must be a whole number from 1 to 64"),
        ("gpu", True, "gpu must be -1 (CPU) or a GPU index"),
    ],
)
def test_training_numbers_are_bounded(key: str, value: object, text: str) -> None:
    s = TrainSettings(name="x", dataset_path="/data/db")
    s.validate()
    setattr(s, key, value)
    with pytest.raises(ValidationError, match=text.replace("(", r"\(").replace(")", r"\)")):
        s.validate()
    s.max_steps = MAX_STEPS  # validating every MAX_STEPS steps needs a run that long
    setattr(s, key, MAX_STEPS if key.endswith(("steps", "every")) else 1)
    if key != "gpu":
        s.validate()


@pytest.mark.skipif(not RAVE.exists(), reason="needs the RAVE command line")
def test_cli_train_reports_every_preflight_problem_and_records_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "s.sqlite3")
    dataset = make_dataset(tmp_path / "half", mdb=False)
    gpu = max(7, len(sysmon.list_gpus()))
    code, out, err = run_cli(
        capsys,
        "train", "--dataset", str(dataset), "--config", "v2_small", "--name", "x",
        "--gpu", str(gpu), "--max-steps", str(10**23), "--db", db, "--rave", str(RAVE),
        "--out", str(tmp_path / "runs"),
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "max_steps must be a whole number from 1 to 1,000,000,000" in err
    assert "no data.mdb" in err
    assert check_gpu(gpu) in err  # type: ignore[operator]
    assert run_cli(capsys, "runs", "list", "--json", "--db", db)[1] == "[]\n"


# --- resuming an imported run ------------------------------------------------------------------


@pytest.mark.skipif(
    not (RAVE.exists() and FIXTURES.exists()), reason="needs the RAVE command line + fixtures"
)
def test_resuming_an_imported_run_asks_for_its_dataset(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from test_cli_runs import make_run_folder

    from rave_gui.backend.runs.engine import Engine, import_run

    run = make_run_folder(tmp_path, "run_40steps", "t1_d744cc98b7")
    db = tmp_path / "s.sqlite3"
    tm = TrainingManager(db)
    exp_id = import_run(tm, run)
    engine = Engine(tm, Settings(rave_executable=str(RAVE), runs_dir=str(tmp_path / "runs")))
    with pytest.raises(ValidationError) as err:
        engine.resume_from_checkpoint(exp_id, start=False)
    assert str(err.value) == (
        "Experiment 't1' does not record the dataset it trained on (a run imported from a "
        "folder does not): choose the preprocessed dataset to continue with (on the command "
        f"line: rave-gui runs resume-from {exp_id} --dataset FOLDER)."
    )
    assert len(tm.list_experiments()) == 1  # nothing recorded
    code, _out, cli_err = run_cli(capsys, "runs", "resume-from", str(exp_id), "--db", str(db))
    assert code == 1 and cli_err == f"rave-gui: error: {err.value}\n"
    # --dataset reaches pre-flight (this folder lacks data.mdb: refused, nothing recorded)
    half = make_dataset(tmp_path / "half", mdb=False)
    code, _out, cli_err = run_cli(
        capsys, "runs", "resume-from", str(exp_id), "--dataset", str(half), "--db", str(db)
    )
    assert code == 1 and f"{half} has metadata.yaml but no data.mdb" in cli_err
    assert len(tm.list_experiments()) == 1
    # with a dataset, the new run is recorded with it and linked to the imported one
    dataset = make_dataset(tmp_path / "ds")
    new_id = engine.resume_from_checkpoint(exp_id, start=False, dataset=dataset)
    new = tm.get_experiment(new_id)
    assert new.config["dataset_path"] == str(dataset.resolve())
    assert new.parent_id == exp_id and new.status == "queued"
    assert Path(new.config["ckpt"]).is_dir()
    tm.close()


# --- the name rule -----------------------------------------------------------------------------


def test_the_name_message_lists_exactly_the_signs_the_rule_accepts() -> None:
    with pytest.raises(ValidationError) as err:
        check_name("a/b", "project")
    message = str(err.value)
    listed = message.split("these signs: ", 1)[1].split(" ")
    assert listed == list(NAME_PUNCTUATION)
    accepted = {ch for ch in string.punctuation if _accepted(f"a{ch}b")}
    assert accepted == set(listed)
    assert "letters, digits, spaces" in message


def _accepted(name: str) -> bool:
    try:
        check_name(name, "run")
    except ValidationError:
        return False
    return True


def test_names_take_letters_of_any_script_digits_and_spaces_only() -> None:
    for good in ("kick v2", "Études", "e\u0301tude", "ドラム 3", "Ωmega_(1)", "a'b", "x+y=z"):
        assert check_name(f"  {good} ", "run") == good
    for bad in ("a\tb", "a\u00a0b", "a€b", "a♪b", "a²b", "a/b", "a\\b", 'a"b', "a|b", "a\x00b"):
        with pytest.raises(ValidationError) as err:
            check_name(bad, "run")
        assert repr(bad[1]) in str(err.value)
    for lead in (".hidden", "-x"):
        with pytest.raises(ValidationError, match="cannot start with"):
            check_name(lead, "run")
