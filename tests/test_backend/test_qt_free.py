"""The backend and the command line work where no Qt binding can be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Put in front of every other import: any import of a Qt binding raises ImportError.
BLOCK_QT = textwrap.dedent(
    """
    import sys

    class _BlockQt:
        BLOCKED = ("PyQt6", "PyQt5", "PySide6", "PySide2")

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ImportError(f"Qt is blocked in this test: {name}")
            return None

    sys.meta_path.insert(0, _BlockQt())
    """
)

IMPORT_ALL_BACKEND = textwrap.dedent(
    """
    import importlib
    import pkgutil

    try:
        import PyQt6  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the Qt block does not work")

    import rave_gui.backend as backend

    names = [m.name for m in pkgutil.walk_packages(backend.__path__, "rave_gui.backend.")]
    for name in names:
        importlib.import_module(name)
    qt = sorted(m for m in sys.modules if m.split(".")[0] in _BlockQt.BLOCKED)
    assert not qt, qt
    print("imported", len(names), " ".join(names))
    """
)


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_every_backend_module_imports_with_qt_blocked() -> None:
    proc = _run(BLOCK_QT + IMPORT_ALL_BACKEND)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout.split()
    assert out[0] == "imported"
    # The walk really found the modules (not an empty package by mistake).
    for module in (
        "store.db",
        "manager",
        "store.metrics",
        "rave.dataset",
        "process.procinfo",
        "runs.engine",
        "jobs.export",
        "system.paths",
        "errors",
    ):
        assert f"rave_gui.backend.{module}" in out


def test_cli_runs_list_works_with_qt_blocked(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    code = BLOCK_QT + textwrap.dedent(
        """
        import runpy
        sys.argv = ["rave_gui", *sys.argv[1:]]
        try:
            runpy.run_module("rave_gui", run_name="__main__", alter_sys=True)
        finally:
            qt = sorted(m for m in sys.modules if m.split(".")[0] in _BlockQt.BLOCKED)
            assert not qt, qt
        """
    )
    proc = _run(code, "runs", "list", "--db", str(db))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No experiments." in proc.stdout
    assert "Traceback" not in proc.stderr
    assert db.exists()
