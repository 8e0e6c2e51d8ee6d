#!/usr/bin/env python3
"""Render every page, dialog and wizard page of rave-gui to docs/screenshots/*.png.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Offscreen (no display needed), at a fixed size, in a throw-away data folder: a temporary
database where real RAVE runs (the captured fixtures in shared/fixtures/rave, or
RAVE_GUI_FIXTURES) are imported, datasets registered (one really preprocessed when `rave`
and ffmpeg are available) and the user's own settings and QSettings left untouched. The main
window is rendered in a light and a dark palette.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import screenshot_views as views  # noqa: E402

WINDOW_SIZE = (1366, 768)  # a common laptop screen; --size 1101x683 shows the smallest window
WIZARD_SIZE = (900, 720)
FIXTURES = Path(os.environ.get("RAVE_GUI_FIXTURES", "/work/shared/fixtures/rave"))
RUN_HASH = "d744cc98b7"


def _prepare_environment(tmp: Path) -> None:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("MPLBACKEND", "QtAgg")
    os.environ["RAVE_GUI_DATA"] = str(tmp / "data")
    os.environ.pop("RAVE_GUI_DB", None)
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")


def _pump(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _wait(app, predicate, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.02)
    return False


# --- data ------------------------------------------------------------------------------------
def _metadata_dataset(folder: Path, seconds: float, sr: int, channels: int, n: int) -> Path:
    """A dataset folder with metadata.yaml and an LMDB of ``n`` placeholder records."""
    import lmdb
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    meta = {"channels": channels, "lazy": False, "n_seconds": seconds, "sr": sr}
    (folder / "metadata.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    env = lmdb.open(str(folder), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(n):
            txn.put(f"{i:08d}".encode(), b"\0" * 16)
    env.close()
    return folder


def _preprocessed_dataset(root: Path) -> Path | None:
    """A real `rave preprocess` output (about 5 s), or None without rave or ffmpeg."""
    rave = Path(sys.executable).with_name("rave")
    if not rave.exists() or not shutil.which("ffmpeg"):
        return None
    from rave_gui.backend.jobs.demo import synthesize_audio

    synthesize_audio(root / "audio", n_files=6, seconds=30.0, sample_rate=44100, channels=1)
    out = root / "cello-db"
    proc = subprocess.run(
        [str(rave), "preprocess", "--input_path", str(root / "audio"),
         "--output_path", str(out), "--channels", "1"],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    return out if proc.returncode == 0 else None


def _run_folder(fixture: Path, runs: Path, name: str) -> Path:
    """Lay a captured run out as `rave train` does: NAME_HASH/version_0/... with checkpoints
    (sparse files of a realistic size) and the captured output next to it."""
    folder = runs / f"{name}_{RUN_HASH}"
    version = folder / "version_0"
    (version / "checkpoints").mkdir(parents=True, exist_ok=True)
    for f in fixture.glob("events.out.tfevents.*"):
        shutil.copy2(f, version / f.name)
    for extra in ("hparams.yaml",):
        if (fixture / extra).exists():
            shutil.copy2(fixture / extra, version / extra)
    if (fixture / "config.gin").exists():
        shutil.copy2(fixture / "config.gin", folder / "config.gin")
    for out in ("train.stdout", "train.stderr"):
        if (fixture / out).exists():
            shutil.copy2(fixture / out, folder / out)
    for ckpt in ("best.ckpt", "epoch-epoch=0006.ckpt"):
        with open(version / "checkpoints" / ckpt, "wb") as f:
            f.truncate(121_634_816)
    return folder


def _realistic_sizes(manager) -> None:
    """Placeholder datasets take on disk what their audio would (16-bit samples; the LMDB
    file is extended sparsely, its records stay readable), so "Size on disk" reads true."""
    for ds in manager.datasets.all():
        mdb = Path(ds.path) / "data.mdb"
        want = int((ds.duration_s or 0) * (ds.sample_rate or 0) * (ds.channels or 1) * 2)
        if mdb.is_file() and mdb.stat().st_size < min(want, 1 << 20):
            with open(mdb, "r+b") as f:
                f.truncate(want)


def _date_checkpoints(manager, exp_id: int) -> None:
    """Give the placeholder checkpoints the times RAVE wrote them at (best.ckpt at the lowest
    validation, the epoch checkpoint at the last logged step), so their steps read true."""
    import os

    from rave_gui.backend.jobs.export import scan_checkpoints

    validation = [(v, w) for _n, _s, v, w in manager.metrics.iter_points(exp_id, "validation")]
    last = max((w for _n, _s, _v, w in manager.metrics.iter_points(exp_id) if w), default=None)
    if not validation or last is None:
        return
    best_wall = min(validation)[1]
    for c in manager.artifacts.checkpoints(exp_id):
        wall = best_wall if c.is_best else last
        if wall:
            os.utime(c.path, (wall, wall))
    scan_checkpoints(manager, exp_id)


def _exported_model(manager, exp_id: int, runs: Path) -> None:
    """A model exported from a run, as the Export page records it (a sparse placeholder)."""
    exp = manager.get_experiment(exp_id)
    best = next(
        (c for c in manager.artifacts.checkpoints(exp_id) if c.is_best),
        None,
    )
    out = Path(exp.run_dir) / "exports" / f"{exp.name}_streaming.ts"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        f.truncate(42_363_815)
    manager.artifacts.add_exported_model(
        exp_id,
        str(out),
        size=out.stat().st_size,
        streaming=True,
        checkpoint=best.path if best else None,
        settings={"name": exp.name, "streaming": True, "checkpoint_label": "best"},
    )


def build_database(tmp: Path):
    from rave_gui.backend.manager import TrainingManager
    from rave_gui.backend.runs.engine import import_run
    from rave_gui.backend.status import FAILED, RUNNING, STOPPED

    manager = TrainingManager(tmp / "data" / "rave-gui.sqlite3")
    cello = manager.projects.create("Cello studies")
    manager.projects.create("Field recordings")
    manager.projects.create("Modular synth")

    data = tmp / "datasets"
    real = _preprocessed_dataset(data / "cello")
    cello_db = real or _metadata_dataset(data / "cello" / "cello-db", 208.05, 44100, 1, 36)
    ds_cello = manager.datasets.register(cello, cello_db, "cello-db")
    ds_bowed = manager.datasets.register(
        cello,
        _metadata_dataset(data / "bowed-strings", 4_352.6, 44100, 1, 737),
        "bowed strings",
    )
    manager.datasets.register(
        cello, _metadata_dataset(data / "stereo-takes", 9_817.3, 48000, 2, 1_665), "stereo takes"
    )

    _realistic_sizes(manager)

    runs = tmp / "runs"
    imported = []
    captured = {  # what the fixtures were run with (shared/fixtures/rave/README.md)
        "run_40steps": ("t1", {"max_steps": 40, "val_every": 10}),
        "run_110steps": ("long", {"max_steps": 110, "val_every": 30}),
    }
    for fixture, (name, args) in captured.items():
        if not (FIXTURES / fixture).is_dir():
            continue
        folder = _run_folder(FIXTURES / fixture, runs, name)
        exp_id = import_run(manager, folder, project_id=cello, name=name)
        # As a run started from the app has them: its log and its settings.
        log = folder / "train.log"
        with open(log, "wb") as f:
            for part in ("train.stdout", "train.stderr"):
                if (folder / part).exists():
                    f.write((folder / part).read_bytes())
        config = manager.get_experiment(exp_id).config
        config.update(configs=["v2_small"], batch=2, workers=0, gpu=-1, channels=1, **args)
        manager.experiments.update(exp_id, log_path=str(log), config=config)
        imported.append(exp_id)
    watched = None
    if imported:  # the same real run, watched with thresholds for a run that short: alerts
        folder = _run_folder(FIXTURES / "run_110steps", runs, "watched")
        watched = views.import_watched_run(manager, FIXTURES / "run_110steps", folder, cello)
    for exp_id in imported:
        _date_checkpoints(manager, exp_id)
    if imported:
        _exported_model(manager, imported[-1], runs)
    # A few runs with other outcomes, recorded as the app records them.
    now = time.time()
    base = {"configs": ["v2_small"], "batch": 8, "max_steps": 500_000, "val_every": 10_000}
    failed = manager.start_training(
        {"name": "v2-first-try", "project_id": cello, "dataset_id": ds_bowed, **base}
    )
    manager.update_experiment_status(failed, RUNNING)
    manager.update_experiment_status(
        failed,
        FAILED,
        error="ValueError: n_components=128 must be between 0 and min(n_samples, n_features)=64",
        exit_code=1,
    )
    manager.experiments.update(failed, started_at=now - 7_400, completed_at=now - 7_266)
    stopped = manager.start_training(
        {"name": "causal-noise", "project_id": cello, "dataset_id": ds_cello, **base}
    )
    manager.update_experiment_status(stopped, RUNNING)
    manager.update_experiment_status(stopped, STOPPED, exit_code=0)
    manager.experiments.update(stopped, started_at=now - 18_000, completed_at=now - 6_480)
    return manager, cello, imported, watched


# --- palettes --------------------------------------------------------------------------------
def dark_palette():
    from PyQt6.QtGui import QColor, QPalette

    p = QPalette()
    roles = QPalette.ColorRole
    colours = {
        roles.Window: "#2b2b2e",
        roles.WindowText: "#e6e6e6",
        roles.Base: "#1f1f22",
        roles.AlternateBase: "#28282c",
        roles.ToolTipBase: "#3a3a3e",
        roles.ToolTipText: "#f0f0f0",
        roles.PlaceholderText: "#8a8a8f",
        roles.Text: "#e6e6e6",
        roles.Button: "#35353a",
        roles.ButtonText: "#e6e6e6",
        roles.BrightText: "#ff6b6b",
        roles.Light: "#4a4a50",
        roles.Midlight: "#3d3d42",
        roles.Mid: "#2f2f33",
        roles.Dark: "#19191b",
        roles.Shadow: "#000000",
        roles.Highlight: "#3d7bd9",
        roles.HighlightedText: "#ffffff",
        roles.Link: "#8ab4f8",
    }
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(disabled, role, QColor("#8a8a8f"))
    return p


# --- rendering -------------------------------------------------------------------------------
def render(out: Path) -> list[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="rave-gui-shots-"))
    _prepare_environment(tmp)
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication, QStyleFactory

    app = QApplication([sys.argv[0]])
    app.setApplicationName("rave-gui")
    app.setOrganizationName("rave-gui")
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "qsettings"))
    app.setStyle(QStyleFactory.create("Fusion"))
    light = app.style().standardPalette()

    from rave_gui.backend.system.settings import Settings
    from rave_gui.core.controller import RunController
    from rave_gui.core.signals import AppSignals
    from rave_gui.core.worker import wait_for_background
    from rave_gui.ui.dialogs.close_dialog import CloseRunsDialog
    from rave_gui.ui.main_window import MainWindow

    manager, project_id, imported, watched = build_database(tmp)
    settings = Settings(
        rave_executable=str(Path(sys.executable).with_name("rave")),
        runs_dir=str(tmp / "runs"),
        max_concurrent_runs=1,
    )
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def save(widget, name: str) -> None:
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        saved.append(path)

    for theme, palette in (("light", light), ("dark", dark_palette())):
        app.setPalette(palette)
        signals = AppSignals()
        controller = RunController(manager, signals, settings)
        window = MainWindow(manager, controller, signals, settings)
        window.resize(*WINDOW_SIZE)
        window.set_project(project_id)
        window.show()
        _pump(app, 0.5)

        window.show_page("projects")
        window.projects_page.select_project(project_id)
        _pump(app, 0.6)
        save(window, f"projects-{theme}")

        window.show_page("datasets")
        window.datasets_page.table.selectRow(0)
        _pump(app, 0.3)
        save(window, f"datasets-{theme}")

        if "training" in window.pages:
            window.show_page("training")
            page = window.pages["training"]
            if imported and hasattr(page, "select_run"):
                page.select_run(imported[-1])
            plot = getattr(page, "plot", None)
            _pump(app, 1.0)
            if plot is not None and hasattr(plot, "loading"):
                _wait(app, lambda p=plot: not p.loading(), 15)
            _pump(app, 1.5)
            save(window, f"training-{theme}")
            if watched is not None:
                views.render_alerts(app, page, watched, save, theme, _pump)
                page.select_run(imported[-1])
                _pump(app, 1.0)
            if theme == "light" and imported:
                views.render_resume(app, page, imported[-1], save, _pump)
            if theme == "light" and hasattr(page, "history"):
                _render_history(app, page, manager, imported, save)
            run_panel = getattr(page, "panel", None)
            listen = getattr(run_panel, "listen_panel", None)
            if listen is not None and run_panel is not None:  # the Listen tab of that run
                run_panel.tabs.setCurrentWidget(listen)
                _wait(app, lambda w=listen: w.audio is not None, 15)
                listen.set_part("reconstruction")
                _pump(app, 1.0)
                save(window, f"listen-{theme}")
                if theme == "light":
                    sound = tmp / "audio" / "my-sound"
                    from rave_gui.backend.jobs.demo import synthesize_audio

                    synthesize_audio(sound, n_files=1, seconds=4.0, seed=7)
                    wav = next(sound.glob("*.wav"))
                    views.render_own_sound(app, listen, wav, save, _pump)
                run_panel.tabs.setCurrentIndex(0)

        if "export" in window.pages and imported:
            window.show_page("export")
            window.pages["export"].select_run(imported[-1])
            _pump(app, 0.6)
            save(window, f"export-{theme}")

        if "compare" in window.pages and len(imported) >= 2:
            _render_compare(app, window, imported, save, theme)

        if theme == "light":
            _render_dialogs(app, window, manager, project_id, save, tmp)
        else:
            _render_wizard_errors(app, window, manager, project_id, save, theme)
        window.ask_close_choice = lambda n: "keep"  # type: ignore[method-assign]
        window.close()
        wait_for_background(10_000)
        _pump(app, 0.2)
        window.deleteLater()
        _pump(app, 0.1)

    # An empty project's Datasets page (the empty state), light.
    app.setPalette(light)
    empty = manager.projects.find("Modular synth").id
    signals = AppSignals()
    controller = RunController(manager, signals, settings)
    window = MainWindow(manager, controller, signals, settings)
    window.resize(*WINDOW_SIZE)
    window.set_project(empty)
    window.show()
    window.show_page("datasets")
    _pump(app, 0.6)
    save(window, "datasets-empty-light")
    dialog = CloseRunsDialog(2, window)
    dialog.show()
    _pump(app, 0.3)
    save(dialog, "close-dialog")
    dialog.close()
    window.ask_close_choice = lambda n: "keep"  # type: ignore[method-assign]
    window.close()
    wait_for_background(10_000)
    manager.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return saved


def _render_history(app, page, manager, imported: list[int], save) -> None:
    """The History tab with filters, and the detail of a real imported run."""
    for exp_id in imported:
        manager.history.add_tags(exp_id, ["real", "v2_small"])
    if imported:
        manager.history.set_notes(imported[-1], "Captured from a real RAVE run; bright attack.")
    page.left_tabs.setCurrentWidget(page.history)
    page.history.refresh()
    bar = page.history.filter_bar
    bar.status_combo.setCurrentIndex(bar.status_combo.findText("Finished"))
    bar.text_edit.setText("real")
    bar.flush()
    page.history.table.selectRow(0)
    _pump(app, 0.5)
    save(page.window(), "history-filters-light")
    if imported:
        dialog = page.history.open_detail(imported[-1])
        dialog.resize(860, 640)
        _pump(app, 0.3)
        save(dialog, "run-detail-light")
        dialog.view.tabs.setCurrentIndex(2)
        dialog.view.find_edit.setText("PHASE_1_DURATION")
        _pump(app, 0.3)
        save(dialog, "run-detail-config-light")
        dialog.close()
    bar.clear()
    page.left_tabs.setCurrentIndex(0)
    _pump(app, 0.2)


def _render_compare(app, window, imported: list[int], save, theme: str) -> None:
    """The Compare page of the imported runs; in light, its settings diff and audio too."""
    window.compare_runs(imported)
    view = window.pages["compare"].view
    _wait(app, lambda: view.comparison is not None and not view.plot.loading, 15)
    _pump(app, 1.0)
    save(window, "compare" if theme == "light" else f"compare-{theme}")
    if theme != "light":
        return
    view.tabs.setCurrentWidget(view.diff)
    _pump(app, 0.5)
    save(window, "compare-settings")
    view.tabs.setCurrentWidget(view.listen)
    _wait(app, lambda: all(p.audio is not None for p in view.listen.panels.values()), 15)
    _pump(app, 1.0)
    save(window, "compare-listen")
    view.tabs.setCurrentIndex(0)


def _render_dialogs(app, window, manager, project_id, save, tmp: Path) -> None:
    from rave_gui.ui.wizard.new_training import NewTrainingWizard

    # Settings, with the check of the installed rave done.
    dialog = window.open_settings()
    task = dialog.check_rave()
    _wait(app, lambda: not dialog.check_text().startswith("Checking"), 60)
    dialog.adjustSize()
    _pump(app, 0.2)
    save(dialog, "settings-dialog")
    dialog.reject()

    # Register dataset: a new folder, validated and described before it is registered.
    window.show_page("datasets")
    folder = _metadata_dataset(tmp / "datasets" / "piano" / "db", 2_710.4, 44100, 1, 460)
    register = window.datasets_page.register_dataset(str(folder))
    if register is not None:
        _pump(app, 0.2)
        save(register, "register-dataset-dialog")
        register.reject()
    del task

    _render_new_dataset(app, window, save, tmp)

    # The wizard, page by page.
    wizard = NewTrainingWizard(manager, window.controller, project_id, window)
    wizard.resize(*WIZARD_SIZE)
    wizard.show()
    _pump(app, 0.3)
    save(wizard, "wizard-1-dataset")
    wizard.next()
    _wait(app, lambda: wizard.install is not None or wizard.config_page.retry_button.isVisible())
    wizard.config_page.set_modifier("causal")
    _pump(app, 0.2)
    save(wizard, "wizard-2-configuration")
    wizard.next()
    _pump(app, 0.2)
    p = wizard.params_page
    p.name_edit.setText("long")  # taken: shows the check as you type
    p.ema_edit.setText("1.5")
    _pump(app, 0.2)
    save(wizard, "wizard-3-parameters-errors")
    p.name_edit.setText("cello-v2-causal")
    p.ema_edit.setText("0.999")
    p.overrides_edit.setPlainText("model.RAVE.sampling_rate = 44100")
    _pump(app, 0.2)
    save(wizard, "wizard-3-parameters")
    wizard.next()
    _pump(app, 0.3)
    save(wizard, "wizard-4-confirmation")
    wizard.reject()


def _render_new_dataset(app, window, save, tmp: Path) -> None:
    """New dataset from audio: the folders scanned (count, duration, a short file warned), then
    `rave preprocess` under way when rave and ffmpeg are here."""
    from rave_gui.backend.jobs.demo import synthesize_audio

    page = getattr(window, "datasets_page", None)
    if page is None or not hasattr(page, "new_dataset"):
        return
    window.show_page("datasets")
    audio = tmp / "audio" / "cello-takes"
    synthesize_audio(audio, n_files=9, seconds=24.0, sample_rate=44100, channels=1, seed=3)
    synthesize_audio(audio / "short", n_files=1, seconds=3.5, seed=4)
    dialog = page.new_dataset([str(audio)])
    if dialog is None:
        return
    _wait(app, lambda: dialog.scan is not None, 30)
    dialog.resize(760, dialog.sizeHint().height())
    _pump(app, 0.3)
    save(dialog, "new-dataset-dialog")
    if dialog.start_button.isEnabled():
        thread = dialog.start()
        if thread is not None:
            _wait(app, lambda: dialog.progress_bar.value() > 0 or not dialog.is_running(), 60)
            dialog.resize(760, max(dialog.height(), 620))
            _pump(app, 0.2)
            save(dialog, "new-dataset-dialog-running")
            _wait(app, lambda: not dialog.is_running(), 120)
    if dialog.isVisible():
        dialog.reject()
    _pump(app, 0.2)


def _render_wizard_errors(app, window, manager, project_id, save, theme: str) -> None:
    """The parameters page refusing a taken name and a bad EMA, and a page-level message."""
    from rave_gui.ui.wizard.new_training import NewTrainingWizard

    wizard = NewTrainingWizard(manager, window.controller, project_id, window)
    wizard.resize(*WIZARD_SIZE)
    wizard.show()
    wizard.next()
    _wait(app, lambda: wizard.install is not None or wizard.config_page.retry_button.isVisible())
    wizard.next()
    wizard.params_page.name_edit.setText("long")
    wizard.params_page.ema_edit.setText("1.5")
    wizard.params_page.overrides_edit.setPlainText("model.RAVE.sampling_rate 48000")
    _pump(app, 0.2)
    save(wizard, f"wizard-3-parameters-errors-{theme}")
    wizard.reject()
    window.show_page("projects")
    window.projects_page.message.show_message(
        "Project 'Cello studies' has 1 active run(s): stop them first."
    )
    _pump(app, 0.2)
    save(window, f"projects-message-{theme}")
    window.projects_page.message.clear()


def main(argv: list[str] | None = None) -> int:
    global WINDOW_SIZE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--size",
        default="x".join(map(str, WINDOW_SIZE)),
        help="main window WxH (default %(default)s)",
    )
    args = parser.parse_args(argv)
    WINDOW_SIZE = tuple(int(v) for v in args.size.lower().split("x"))  # type: ignore[assignment]
    for path in render(args.out.resolve()):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
