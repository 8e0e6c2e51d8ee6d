"""The command line (`rave-gui runs ...`), run as a real subprocess against a real store."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rave_gui
from rave_gui.backend.manager import TrainingManager

ROOT = Path(__file__).resolve().parents[2]


def rave_gui_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "RAVE_GUI_DB"}
    full_env.update(env or {})
    full_env["RAVE_GUI_NO_WINDOW"] = "1"  # never open a window, whatever the arguments
    proc = subprocess.run(
        [sys.executable, "-m", "rave_gui", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=60,
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def fails(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """A failure: non-zero exit code, a message on stderr, nothing on stdout."""
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.strip()
    for word in words:
        assert word in proc.stderr


LOSS_STEPS = list(range(0, 500, 5))


def loss_values() -> np.ndarray:
    values = np.linspace(2.0, 0.5, len(LOSS_STEPS))
    values[3] = math.nan
    values[4] = math.inf
    values[5] = -math.inf
    return values


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A database with two projects, four runs in different states, metrics and a checkpoint.
    The running one has a live process (CLI commands record the end of runs whose process is
    gone)."""
    path = tmp_path_factory.mktemp("cli") / "store.sqlite3"
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    tm = TrainingManager(path)
    drums = tm.projects.create("Drums")
    voice = tm.projects.create("Voice")
    done = tm.start_training({"name": "kick v2", "project_id": drums, "config": "v2_small"})
    tm.update_experiment_status(done, "running")
    steps = np.array(LOSS_STEPS)
    tm.metrics.add_series(
        done,
        {
            "loss": (steps, loss_values(), 1_700_000_000.0 + steps),
            "validation": (np.array([100, 200, 300]), np.array([0.9, 0.4, 0.6]), None),
        },
    )
    tm.artifacts.sync_checkpoints(
        done, [{"path": "/runs/kick/best.ckpt", "step": 200, "size": 1234, "is_best": True}]
    )
    tm.update_experiment_status(done, "completed", exit_code=0)
    live = tm.start_training({"name": "snare", "project_id": drums})
    tm.update_experiment_status(live, "running")
    tm.register_process(live, sleeper)
    queued = tm.start_training({"name": "choir", "project_id": voice})
    failed = tm.start_training({"name": "hum", "project_id": voice})
    tm.update_experiment_status(failed, "failed", error="CUDA out of memory")
    tm.close()
    yield {"db": str(path), "done": done, "live": live, "queued": queued, "failed": failed}
    sleeper.kill()
    sleeper.wait()


def test_version() -> None:
    proc = rave_gui_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"rave-gui {rave_gui.__version__}"


def test_runs_list_table(store: dict) -> None:
    proc = rave_gui_cli("runs", "list", "--db", store["db"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        *("ID", "NAME", "PROJECT", "STATUS", "STARTED", "DURATION", "STEP", "BEST", "VAL"),
        *("FINAL", "VAL", "CONFIG", "DATASET", "TAGS"),
    ]
    body = "\n".join(lines[1:])
    for name in ("kick v2", "snare", "choir", "hum"):
        assert name in body
    kick = next(line for line in lines if "kick v2" in line)
    assert "completed" in kick
    assert "495" in kick  # the last step
    assert "0.4" in kick  # the best validation value


def test_runs_list_json(store: dict) -> None:
    proc = rave_gui_cli("runs", "list", "--db", store["db"], "--json")
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    by_name = {r["name"]: r for r in runs}
    assert set(by_name) == {"kick v2", "snare", "choir", "hum"}
    kick = by_name["kick v2"]
    assert kick["id"] == store["done"]
    assert kick["status"] == "completed"
    assert kick["project_name"] == "Drums"
    assert kick["config"] == {"config": "v2_small"}
    assert kick["exit_code"] == 0
    assert kick["metrics"]["metrics"]["validation"]["min"] == 0.4
    assert kick["metrics"]["metrics"]["loss"]["max"] == "Infinity"  # JSON has no inf
    assert by_name["hum"]["error"] == "CUDA out of memory"


def test_runs_list_filters_by_status_and_project(store: dict) -> None:
    def names(*args: str) -> set[str]:
        proc = rave_gui_cli("runs", "list", "--db", store["db"], "--json", *args)
        assert proc.returncode == 0, proc.stderr
        return {r["name"] for r in json.loads(proc.stdout)}

    assert names("--status", "running") == {"snare"}
    assert names("--status", "queued", "--status", "failed") == {"choir", "hum"}
    assert names("--project", "Voice") == {"choir", "hum"}
    assert names("--project", "Drums", "--status", "completed") == {"kick v2"}
    assert names("--search", "KICK") == {"kick v2"}
    proc = rave_gui_cli("runs", "list", "--db", store["db"], "--status", "paused")
    assert proc.returncode == 0
    assert proc.stdout.strip() == "No experiments."


def test_runs_show_text(store: dict) -> None:
    proc = rave_gui_cli("runs", "show", str(store["done"]), "--db", store["db"])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "kick v2" in out
    assert "completed" in out
    assert "Drums" in out
    assert '"v2_small"' in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    # NAME POINTS FIRST LAST LAST-VALUE MIN MAX
    assert rows["loss"][1:] == ["100", "0", "495", "0.5", "-inf", "inf"]
    assert rows["validation"][1:] == ["3", "100", "300", "0.6", "0.4", "0.9"]
    assert "/runs/kick/best.ckpt" in out


def test_runs_show_json(store: dict) -> None:
    proc = rave_gui_cli("runs", "show", str(store["done"]), "--db", store["db"], "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["id"] == store["done"]
    assert data["name"] == "kick v2"
    assert data["status"] == "completed"
    assert data["started_at"] <= data["completed_at"]
    series = {s["name"]: s for s in data["series"]}
    assert series["loss"] == {
        "name": "loss",
        "points": len(LOSS_STEPS),
        "first_step": 0,
        "last_step": 495,
        "last": 0.5,
        "min": "-Infinity",
        "max": "Infinity",
    }
    assert series["validation"] == {
        "name": "validation",
        "points": 3,
        "first_step": 100,
        "last_step": 300,
        "last": 0.6,
        "min": 0.4,
        "max": 0.9,
    }
    assert [c["path"] for c in data["checkpoints"]] == ["/runs/kick/best.ckpt"]


def test_runs_show_of_a_run_without_metrics(store: dict) -> None:
    proc = rave_gui_cli("runs", "show", str(store["queued"]), "--db", store["db"])
    assert proc.returncode == 0, proc.stderr
    assert "none recorded" in proc.stdout
    proc = rave_gui_cli("runs", "show", str(store["queued"]), "--db", store["db"], "--json")
    assert json.loads(proc.stdout)["series"] == []


def _expected_points() -> list[tuple[str, int, float]]:
    loss = [("loss", s, float(v)) for s, v in zip(LOSS_STEPS, loss_values(), strict=True)]
    return [*loss, ("validation", 100, 0.9), ("validation", 200, 0.4), ("validation", 300, 0.6)]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_runs_export_csv_has_every_point(store: dict) -> None:
    proc = rave_gui_cli(
        "runs", "export", str(store["done"]), "--db", store["db"], "--format", "csv"
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["metric", "step", "value", "wall_time"]
    got = [(r[0], int(r[1]), float(r[2])) for r in rows[1:]]
    want = _expected_points()
    assert [g[:2] for g in got] == [w[:2] for w in want]
    assert all(_same(g[2], w[2]) for g, w in zip(got, want, strict=True))
    assert {r[2] for r in rows[1:]} >= {"nan", "inf", "-inf"}
    assert float(rows[1][3]) == 1_700_000_000.0  # wall time kept
    assert rows[-1][3] == ""  # none recorded


def test_runs_export_json_to_a_file(store: dict, tmp_path: Path) -> None:
    out = tmp_path / "export.json"
    proc = rave_gui_cli(
        "runs",
        "export",
        str(store["done"]),
        "--db",
        store["db"],
        "--format",
        "json",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert f"Wrote {len(_expected_points())} points" in proc.stderr
    text = out.read_text()
    data = json.loads(text)  # strict JSON: no bare NaN or Infinity
    assert "NaN," not in text.replace('"NaN"', "")
    assert data["experiment"] == {"id": store["done"], "name": "kick v2"}
    loss = data["series"]["loss"]
    assert len(loss) == len(LOSS_STEPS)
    assert [p[0] for p in loss] == LOSS_STEPS
    assert loss[3][1] == "NaN"
    assert loss[4][1] == "Infinity"
    assert loss[5][1] == "-Infinity"
    assert loss[0][1:] == [2.0, 1_700_000_000.0]
    assert data["series"]["validation"] == [[100, 0.9, None], [200, 0.4, None], [300, 0.6, None]]


def test_database_from_environment_variable(store: dict) -> None:
    proc = rave_gui_cli("runs", "list", "--json", env={"RAVE_GUI_DB": store["db"]})
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 4


def test_db_flag_wins_over_environment_variable(store: dict, tmp_path: Path) -> None:
    proc = rave_gui_cli(
        "runs", "list", "--json", "--db", store["db"], env={"RAVE_GUI_DB": str(tmp_path / "x")}
    )
    assert len(json.loads(proc.stdout)) == 4


def test_unknown_run_id_is_an_error(store: dict) -> None:
    for action in ("show", "export"):
        fails(rave_gui_cli("runs", action, "999", "--db", store["db"]), "999")


def test_database_that_is_not_sqlite_is_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("these are my notes, not a database\n" * 20)
    for args in (("list",), ("show", "1"), ("export", "1")):
        fails(rave_gui_cli("runs", *args, "--db", str(junk)), "not an SQLite file")
    assert junk.read_text().startswith("these are my notes")


def test_unknown_status_is_an_error(store: dict) -> None:
    fails(rave_gui_cli("runs", "list", "--db", store["db"], "--status", "done"), "Unknown status")


def test_unknown_project_is_an_error(store: dict) -> None:
    fails(rave_gui_cli("runs", "list", "--db", store["db"], "--project", "Nope"), "Nope")


def test_unwritable_output_path_is_an_error(store: dict, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for target in (tmp_path, blocker / "out.csv", tmp_path / "missing" / "out.csv"):
        proc = rave_gui_cli(
            "runs", "export", str(store["done"]), "--db", store["db"], "-o", str(target)
        )
        fails(proc, "Cannot write", str(target))
    assert blocker.read_text() == "x"


def test_bad_arguments_are_usage_errors(store: dict) -> None:
    for args in (
        ("runs",),
        ("runs", "show", "--db", store["db"]),
        ("runs", "show", "abc", "--db", store["db"]),
        ("runs", "export", "1", "--format", "xml", "--db", store["db"]),
    ):
        proc = rave_gui_cli(*args)
        assert proc.returncode == 2
        assert "usage:" in proc.stderr


# Qt cannot be imported in this process: reaching the window would be an ImportError.
NO_QT_MAIN = """
import sys

class _BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PyQt6", "PyQt5", "PySide6", "PySide2"):
            raise ImportError(f"Qt was imported: {name}")
        return None

sys.meta_path.insert(0, _BlockQt())
from rave_gui.app import main

code = main(sys.argv[1:])
assert not [m for m in sys.modules if m.startswith("PyQt")], "Qt was imported"
raise SystemExit(code)
"""


@pytest.mark.parametrize(
    "args",
    [
        ("--db", "{db}", "runs", "list"),
        ("--db={db}", "runs", "list"),
        ("runs", "list", "--db", "{db}"),
        ("--db", "/nowhere/else.sqlite3", "runs", "list", "--db", "{db}"),  # the later wins
    ],
)
def test_global_db_option_before_the_command_lists_runs_without_qt(
    store: dict, args: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RAVE_GUI_DB", "RAVE_GUI_NO_WINDOW")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.run(
        [sys.executable, "-c", NO_QT_MAIN, *(a.format(db=store["db"]) for a in args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    # the same runs as the command line lists (a running run's duration ticks between the two)
    listed = rave_gui_cli("runs", "list", "--db", store["db"]).stdout
    assert [line[:20] for line in proc.stdout.splitlines()] == [
        line[:20] for line in listed.splitlines()
    ]
    assert proc.stdout.splitlines()[0].split()[:2] == ["ID", "NAME"]
    assert "kick v2" in proc.stdout and "choir" in proc.stdout


def test_a_global_option_alone_is_not_a_command() -> None:
    from rave_gui.cli import wants_cli

    assert wants_cli(["--db", "x.sqlite3", "runs", "list"])
    assert wants_cli(["--db=x.sqlite3", "projects", "list"])
    assert not wants_cli(["--db", "x.sqlite3"])  # the window, on that database
    assert not wants_cli(["--db", "runs"])  # "runs" is the database's path here
    assert not wants_cli([])
