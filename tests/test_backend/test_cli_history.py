"""`rave-gui runs list` filters and `runs tag | note | archive | delete`, on a real store."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from history_helpers import T0, fill_runs

from rave_gui.backend.manager import TrainingManager
from rave_gui.cli import main

N = 60


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.sqlite3"
    tm = TrainingManager(path)
    fill_runs(tm, N, tmp_path / "data")
    tm.close()
    return path


def run(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--db", str(db)])
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> list[str]:
    code, out, err = run(capsys, db, "runs", "list", "--json", *args)
    assert code == 0, err
    return [r["name"] for r in json.loads(out)]


def test_list_filters_sort_and_limit(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    assert len(listed(capsys, db)) == N
    assert listed(capsys, db, "--status", "failed", "--dataset", "ds2") == [
        f"run-{i:05d}" for i in reversed(range(N)) if i % 3 == 2
    ]
    assert listed(capsys, db, "--config", "causal", "--tag", "good", "--sort", "id",
                  "--ascending") == ["run-00010", "run-00030", "run-00050"]  # fmt: skip
    assert listed(capsys, db, "--search", "more noise", "--limit", "2") == [
        "run-00056", "run-00049"
    ]  # fmt: skip
    since, until = (
        dt.datetime.fromtimestamp(T0 + i * 1200).strftime("%Y-%m-%dT%H:%M") for i in (30, 33)
    )
    assert listed(capsys, db, "--since", since, "--until", until) == [
        "run-00032", "run-00031", "run-00030"
    ]  # fmt: skip
    day = dt.datetime.fromtimestamp(T0 + 59 * 1200).strftime("%Y-%m-%d")
    assert "run-00059" in listed(capsys, db, "--since", day, "--until", day)
    assert listed(capsys, db, "--sort", "best_validation", "--limit", "1") == ["run-00000"]
    code, out, _ = run(capsys, db, "runs", "list", "--tag", "long", "--limit", "2")
    assert code == 0 and out.splitlines()[0].split()[-4:] == ["VAL", "CONFIG", "DATASET", "TAGS"]
    assert "good,long" in out and "(2 of 4 shown" in out
    code, _, err = run(capsys, db, "runs", "list", "--since", "last week")
    assert code == 1 and err.startswith("rave-gui: error: 'last week' is not a date")


def test_tag_note_archive_and_show(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, err = run(capsys, db, "runs", "tag", "3", "crisp", "keeper")
    assert code == 0, err
    assert out == "experiment 3 tags: crisp, keeper\n"
    assert run(capsys, db, "runs", "tag", "3", "--remove", "crisp")[1].endswith("keeper\n")
    assert run(capsys, db, "runs", "note", "3", "bright but noisy")[0] == 0
    assert run(capsys, db, "runs", "note", "3", "retry at 48k", "--append")[0] == 0
    assert run(capsys, db, "runs", "note", "3")[1] == "bright but noisy\nretry at 48k\n"
    assert listed(capsys, db, "--search", "noisy") == ["run-00002"]
    assert listed(capsys, db, "--tag", "keeper") == ["run-00002"]
    code, out, _ = run(capsys, db, "runs", "show", "3", "--json")
    data = json.loads(out)
    assert data["tags"] == ["keeper"] and data["notes"] == "bright but noisy\nretry at 48k"
    assert data["detail"]["statistics"]["best_validation"] == pytest.approx(1 / 3)
    assert "tags:        keeper" in run(capsys, db, "runs", "show", "3")[1]

    assert run(capsys, db, "runs", "archive", "3")[0] == 0
    assert "run-00002" not in listed(capsys, db)
    assert "run-00002" in listed(capsys, db, "--archived")
    assert run(capsys, db, "runs", "archive", "3", "--unarchive")[0] == 0
    assert "run-00002" in listed(capsys, db)
    code, _, err = run(capsys, db, "runs", "tag", "3", "a,b")
    assert code == 1 and "comma" in err
    code, _, err = run(capsys, db, "runs", "note", "999", "x")
    assert code == 1 and "no experiment with id 999" in err


def test_delete_says_what_it_frees_and_refuses_an_active_run(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "runs" / "4-run"
    folder.mkdir(parents=True)
    (folder / "best.ckpt").write_bytes(b"\0" * 3_000_000)
    other = tmp_path / "runs" / "5-run"
    other.mkdir()
    (other / "x").write_bytes(b"\0" * 2000)
    tm = TrainingManager(db)
    tm.experiments.update(4, run_dir=str(folder))
    tm.experiments.update(5, run_dir=str(other))
    live = tm.experiments.create({"name": "live"})
    tm.experiments.update_status(live, "running")
    sleeper = subprocess.Popen(["sleep", "60"])  # the live run's process
    tm.register_process(live, sleeper)
    tm.close()
    code, out, err = run(capsys, db, "runs", "delete", "4", "--files")
    assert code == 0, err
    assert out == f"deleted experiment 4 'run-00003' and its folder {folder}: 3.0 MB freed\n"
    assert not folder.exists()
    code, out, _ = run(capsys, db, "runs", "delete", "5")
    assert code == 0 and "its files stay in" in out and "2.0 kB" in out and other.exists()
    proc = subprocess.run(
        [sys.executable, "-m", "rave_gui", "runs", "delete", str(live), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    sleeper.kill()
    sleeper.wait()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr == "rave-gui: error: Experiment 'live' is running: stop it first.\n"
    assert len(listed(capsys, db)) == N - 1  # 4 and 5 gone, the live one added
