"""TensorBoard from RAVE's environment: the command built, the message when it is missing and a
real TensorBoard serving imported runs (when the environment has it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from compare_helpers import have_captures, import_captures
from fake_rave import rave_script

from rave_gui.backend.errors import NotFoundError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.system import tensorboard as tb
from rave_gui.backend.system.settings import Settings
from rave_gui.cli import main

HAS_TB = (
    subprocess.run([sys.executable, "-c", "import tensorboard"], capture_output=True).returncode
    == 0
)


def _python_without_tensorboard() -> str | None:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import tensorboard"], capture_output=True)
            if probe.returncode != 0:
                return candidate
    return None


def test_logdir_spec_names_each_run_uniquely_without_separators() -> None:
    spec = tb.logdir_spec([("a:b", "/r/1"), ("a b", "/r/2"), ("a_b", "/r/3"), ("", "/r/4")])
    assert spec == "a_b:/r/1,a_b-2:/r/2,a_b-3:/r/3,run:/r/4"
    with pytest.raises(tb.TensorBoardError, match="comma"):
        tb.logdir_spec([("x", "/r/a,b")])


def test_the_command_uses_raves_python_and_a_free_port(tmp_path: Path) -> None:
    rave = rave_script(tmp_path, sys.executable)
    settings = Settings(rave_executable=str(rave))
    assert tb.rave_python(settings) == sys.executable
    (tmp_path / "r1").mkdir()
    (tmp_path / "r2").mkdir()
    one = tb.plan_for([("one", str(tmp_path / "r1"))], settings, check=False)
    assert one.argv[:3] == [sys.executable, "-m", "tensorboard.main"]
    assert one.argv[3:5] == ["--logdir", str(tmp_path / "r1")]
    assert one.argv[-4:] == ["--host", "127.0.0.1", "--port", str(one.port)]
    assert one.url == f"http://127.0.0.1:{one.port}/"
    assert not tb.port_answers(one.port)
    two = tb.plan_for(
        [("one", str(tmp_path / "r1")), ("two", str(tmp_path / "r2"))], settings, check=False
    )
    assert two.argv[3:5] == ["--logdir_spec", f"one:{tmp_path / 'r1'},two:{tmp_path / 'r2'}"]


def test_a_run_without_its_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no run folder on disk"):
        tb.plan_for([("gone", str(tmp_path / "nope"))], Settings(), check=False)
    with pytest.raises(NotFoundError, match="no run folder"):
        tb.plan_for([("queued", None)], Settings(), check=False)


def test_missing_tensorboard_says_how_to_install_it(tmp_path: Path, capsys) -> None:
    python = _python_without_tensorboard()
    if python is None:
        pytest.skip("no Python without TensorBoard on this machine")
    rave = rave_script(tmp_path, python)
    (tmp_path / "r").mkdir()
    with pytest.raises(tb.TensorBoardNotInstalled) as err:
        tb.plan_for([("r", str(tmp_path / "r"))], Settings(rave_executable=str(rave)))
    assert f"{python} -m pip install tensorboard" in str(err.value)
    # the command line says the same, without a traceback
    db = tmp_path / "db.sqlite3"
    tm = TrainingManager(db)
    exp = tm.start_training({"name": "r", "dataset_path": "/d"})
    tm.experiments.update(exp, run_dir=str(tmp_path / "r"))
    tm.close()
    code = main(["runs", "tensorboard", str(exp), "--rave", str(rave), "--db", str(db)])
    captured = capsys.readouterr()
    assert code == 1
    assert "rave-gui: error: TensorBoard is not installed" in captured.err


@pytest.mark.skipif(not HAS_TB or not have_captures(), reason="no TensorBoard or captures")
def test_a_real_tensorboard_serves_the_runs_under_their_names(tmp_path: Path) -> None:
    tm = TrainingManager(tmp_path / "db.sqlite3")
    try:
        ids = import_captures(tm, tmp_path / "runs")
        runs = tb.run_folders(tm, ids)
    finally:
        tm.close()
    rave = rave_script(tmp_path, sys.executable)
    plan = tb.plan_for(runs, Settings(rave_executable=str(rave)))
    server = tb.start(plan)
    try:
        server.wait_until_serving(timeout=90)
        served: list[str] = []
        for _ in range(50):  # TensorBoard loads the event files in the background
            with urllib.request.urlopen(plan.url + "data/runs", timeout=5) as r:
                served = json.loads(r.read())
            if len(served) == 2:
                break
            time.sleep(0.2)
        assert sorted(served) == ["long/version_0", "t1/version_0"]
    finally:
        server.stop()
    assert server.process.poll() is not None  # stopped, and reaped
    assert not tb.port_answers(plan.port)
    assert not server.log_path.exists()


def test_cli_prints_the_command_for_several_runs(tmp_path: Path, capsys) -> None:
    db = tmp_path / "db.sqlite3"
    tm = TrainingManager(db)
    ids = []
    for name in ("a", "b"):
        rid = tm.start_training({"name": name, "dataset_path": "/d"})
        (tmp_path / name).mkdir()
        tm.experiments.update(rid, run_dir=str(tmp_path / name))
        ids.append(rid)
    tm.close()
    rave = rave_script(tmp_path, sys.executable)
    args = ["runs", "tensorboard", *map(str, ids), "--print-command", "--rave", str(rave)]
    code = main([*args, "--db", str(db)])
    out = capsys.readouterr().out.split()
    assert code == 0
    assert out[:3] == [sys.executable, "-m", "tensorboard.main"]
    assert out[3:5] == ["--logdir_spec", f"a:{tmp_path / 'a'},b:{tmp_path / 'b'}"]
    code = main(["runs", "tensorboard", "42", "--db", str(db)])
    assert code == 1 and "no experiment with id 42" in capsys.readouterr().err
