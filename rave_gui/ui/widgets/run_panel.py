"""RunPanel: one run's status, progress, speed, times and error over its curves, log and load."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QFont, QShowEvent
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.rave.command import (
    batches_per_epoch,
    epoch_position,
    first_phase_steps,
    run_config_gin,
    run_eta,
)
from ...backend.rave.diagnose import diagnose_run
from ...backend.rave.fidelity import fidelity_fact
from ...backend.remote.gpus import target_gpus
from ...backend.remote.resume import timed_out
from ...backend.runs.cards import stored_card_points
from ...backend.status import ACTIVE, COMPLETED, FAILED, LIVE, PAUSED, QUEUED, STOPPED
from ...backend.store.records import Alert, Experiment
from ...backend.system.units import format_duration, format_rate
from ...core.signals import AppSignals
from ...core.worker import run_in_background
from ..models.experiments_model import RunRow, format_step, format_time
from .feedback import WrappedLabel
from .file_actions import open_folder
from .listen_panel import ListenPanel
from .log_panel import LogPanel
from .metric_cards import MetricCards
from .run_alerts import AlertBanner, AlertHistory
from .status_delegate import badge_text_color, status_color
from .system_panel import SystemPanel

if TYPE_CHECKING:
    from .metrics_plot import MetricsPlot


class RunPanel(QWidget):
    """The Training page's right side. ``current_row`` gives the shown run's table row (its
    status, step and times, kept current by the experiments model)."""

    continue_requested = pyqtSignal(int)  # "Continue" on a run that hit its time limit

    def __init__(
        self,
        manager: TrainingManager,
        signals: AppSignals,
        current_row: Callable[[], RunRow | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.signals = signals
        self._current_row = current_row
        self.experiment_id: int | None = None
        self._progress: dict[int, dict] = {}  # the latest run_progress of each run
        self._log_path: str | None = None
        self._alerts: list[Alert] = []
        self._phase_1: dict[int, int] = {}  # phase_1_duration, once config.gin exists
        self._epoch_batches: dict[int, int] = {}  # training batches per epoch of each run
        self._log_live = False  # the log shown was read as a live run's (up to its offset)

        self.name_label = QLabel()
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setBold(True)
        self.name_label.setFont(f)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_badge = QLabel()
        self.status_badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.info_label = WrappedLabel()  # wraps without being cut at the smallest window
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The run's folder (RAVE's output: checkpoints, logs, config), opened by the button.
        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # a run that hit its SLURM time limit: one click continues it (Training page)
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip(
            "This run hit its time limit: start a new job from its last checkpoint, with the "
            "same max steps"
        )
        self.continue_button.hide()
        self.continue_button.clicked.connect(
            lambda: self.continue_requested.emit(self.experiment_id or 0)
        )
        self.folder_button = QPushButton("Open folder")
        self.folder_button.clicked.connect(lambda: self.open_run_folder())
        self._run_dir: str | None = None
        title = QHBoxLayout()
        title.addWidget(self.name_label)
        title.addWidget(self.status_badge)
        title.addWidget(self.continue_button)
        title.addStretch(1)
        title.addWidget(self.folder_button)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_label, 1)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        # the current epoch: batch X of Y (Y from the dataset's size and the batch size)
        self.epoch_bar = QProgressBar()
        self.epoch_bar.setTextVisible(True)
        self.epoch_bar.setMaximumHeight(max(12, self.progress_bar.sizeHint().height() * 3 // 4))
        self.epoch_bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.epoch_bar.hide()

        self.speed_value = QLabel()
        self.elapsed_value = QLabel()
        self.eta_value = QLabel()
        self.phase_value = QLabel()  # ETA to the adversarial phase
        self.pid_value = QLabel()
        self.pid_value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        facts = QGridLayout()
        facts.setHorizontalSpacing(14)
        for col, (caption, value) in enumerate(
            (
                ("Speed", self.speed_value),
                ("Elapsed", self.elapsed_value),
                ("ETA", self.eta_value),
                ("Phase", self.phase_value),
                ("PID", self.pid_value),
            )
        ):
            cap = QLabel(caption)
            cap.setEnabled(False)  # the palette's dimmed text
            facts.addWidget(cap, 0, col)
            facts.addWidget(value, 1, col)
            facts.setColumnStretch(col, 1)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("color: #d64541;")
        self.error_label.hide()
        self._diagnosed: tuple[int | None, str | None, str] | None = None  # (run, error, text)
        self.alert_banner = AlertBanner()
        self.alert_banner.dismissed.connect(self._dismiss_alert)

        header = QWidget()
        hl = QVBoxLayout(header)
        hl.setContentsMargins(8, 8, 8, 4)
        hl.setSpacing(6)
        hl.addLayout(title)
        hl.addWidget(self.info_label)
        hl.addLayout(folder_row)
        hl.addWidget(self.progress_bar)
        hl.addWidget(self.epoch_bar)
        hl.addLayout(facts)
        hl.addWidget(self.error_label)
        hl.addWidget(self.alert_banner)

        # The plot (and matplotlib, a third of the app's start-up time) is built once the
        # panel is on screen or first asked for: the window appears first.
        self._plot: MetricsPlot | None = None
        self.plot_holder = QWidget()
        holder = QVBoxLayout(self.plot_holder)
        holder.setContentsMargins(0, 0, 0, 0)
        self.metric_cards = MetricCards()  # the latest validation and loss terms
        holder.addWidget(self.metric_cards)
        signals.run_metrics.connect(self._on_metrics)
        self.log_panel = LogPanel()
        self.log_view = self.log_panel.view
        self.system_panel = SystemPanel()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.log_panel, "Log")
        self.tabs.addTab(self.system_panel, "System")
        self.alert_history = AlertHistory()
        self.tabs.addTab(self.alert_history, "Alerts")
        signals.run_alerts.connect(self._on_alerts)
        self.listen_panel = ListenPanel()
        self.tabs.addTab(self.listen_panel, "Listen")
        self.details_splitter = QSplitter(Qt.Orientation.Vertical)
        self.details_splitter.addWidget(self.plot_holder)
        self.details_splitter.addWidget(self.tabs)
        self.details_splitter.setStretchFactor(0, 3)
        self.details_splitter.setStretchFactor(1, 2)
        self.details_splitter.setSizes([480, 300])
        self.details_splitter.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 0, 8, 8)
        lay.setSpacing(4)
        lay.addWidget(header)
        lay.addWidget(self.details_splitter, 1)

        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._update_times)

    @property
    def plot(self) -> MetricsPlot:
        """The run's curves (built on first use)."""
        if self._plot is None:
            from .metrics_plot import MetricsPlot

            self._plot = MetricsPlot(self.manager, self.signals)
            self._plot.setMinimumHeight(230)  # its axis never cut, the cards above it or not
            layout = self.plot_holder.layout()
            assert layout is not None
            layout.addWidget(self._plot)
            self._plot.set_experiment(self.experiment_id)
            self._plot.set_alerts(self._alerts)
        return self._plot

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        if self._plot is None:
            QTimer.singleShot(0, self._build_plot)  # after the window is painted

    def _build_plot(self) -> None:
        _ = self.plot

    def shutdown(self) -> None:
        """The window is closing: stop timers and background reads."""
        self._tick.stop()
        if self._plot is not None:
            self._plot.shutdown()
        self.system_panel.shutdown()
        self.listen_panel.shutdown()

    # --- the run's folder ----------------------------------------------------------------------
    def _show_folder(self, run_dir: str | None) -> None:
        """Show where the run writes (its folder), and whether the button can open it."""
        self._run_dir = run_dir
        self.folder_label.setVisible(bool(run_dir))
        self.folder_button.setVisible(bool(run_dir))
        if not run_dir:
            self.folder_label.clear()
            return
        self.folder_label.setText(f"Folder: {run_dir}")
        self.folder_label.setToolTip(run_dir)
        there = os.path.isdir(run_dir)
        self.folder_button.setEnabled(there)
        self.folder_button.setToolTip(
            f"Open {run_dir} in the file manager"
            if there
            else f"{run_dir} does not exist (not created yet, moved or deleted)"
        )

    def open_run_folder(self) -> bool:
        """Open the shown run's folder in the file manager."""
        return bool(self._run_dir) and open_folder(self._run_dir or "")

    # --- the run -------------------------------------------------------------------------------
    def load_run(self, experiment_id: int | None, exp: Experiment | None, reload: bool) -> None:
        """Show a run's curves and log (``reload``: another run, or read them again); a log
        that appeared meanwhile (a queued run started) is read in any case."""
        self.experiment_id = experiment_id
        log_path = exp.log_path if exp else None
        self.listen_panel.set_run(
            exp.run_dir if exp else None,
            exp.config.get("channels") if exp else None,
            exp is not None and exp.status in LIVE,
        )
        if reload:
            if self._plot is not None:
                self._plot.set_experiment(experiment_id)
            self.refresh_alerts()
            self.log_view.bind(experiment_id)
            self._load_cards(experiment_id)
        live = exp is not None and exp.status in LIVE
        # a run read as live that ended with no line coming live (it ended while the app was
        # closed, recorded since): its log is read again, to its end
        ended_unseen = self._log_live and not live and self.log_view.live_lines == 0
        if reload or log_path != self._log_path or ended_unseen:
            self._log_path = log_path
            self._log_live = live
            if experiment_id is None:
                self.log_view.clear()
            elif log_path or not exp or exp.status != QUEUED:
                # a live run: only what its follower has read; the rest comes as live lines
                end = (self.manager.follow_state.offset(experiment_id) or 0) if live else None
                waiting = exp is not None and exp.status in ACTIVE  # its log may not exist yet
                self.log_view.load_tail(log_path, end, waiting=waiting)
            else:
                self.log_view.clear()  # queued: no output yet

    def show_details(self, exp: Experiment | None, has_runs: bool) -> None:
        """The title, badge, facts and error of the current row's run (``exp``: its record);
        without one, what to do instead."""
        row = self._current_row()
        if row is None or exp is None:
            self.name_label.setText("No run selected")
            self.status_badge.hide()
            self.info_label.setText(
                "Select a run on the left to see its curves and log."
                if has_runs
                else "No runs in this project yet: start one with New training (Ctrl+N)."
            )
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")
            self.progress_bar.setEnabled(False)
            self.epoch_bar.hide()
            for w in (
                self.speed_value,
                self.elapsed_value,
                self.eta_value,
                self.phase_value,
                self.pid_value,
            ):
                w.setText("–")
            self.error_label.hide()
            self.system_panel.set_pid(None)
            self.system_panel.set_remote(None)
            self.continue_button.hide()
            self._tick.stop()
            self._show_folder(None)
            return
        self._show_folder(exp.run_dir)
        self.name_label.setText(row.name)
        color = status_color(row.status)
        self.status_badge.setText(row.status_text)
        self.status_badge.setStyleSheet(
            f"background: {color.name()}; color: {badge_text_color(color).name()};"
            "border-radius: 9px; padding: 2px 10px; font-weight: 600;"
        )
        self.status_badge.show()
        config = exp.config
        bits = []
        if exp.dataset_name:
            bits.append(f"dataset {exp.dataset_name}")
        if config.get("config"):
            cfg = config["config"]
            bits.append(f"config {cfg if isinstance(cfg, str) else ' + '.join(map(str, cfg))}")
        bits.append(f"started {format_time(row.started_at)}" if row.started_at else "not started")
        if row.completed_at and not row.is_live:
            bits.append(f"ended {format_time(row.completed_at)}")
        fidelity = fidelity_fact(exp.summary)
        if fidelity:
            bits.append(fidelity)
        self.info_label.setText(" · ".join(bits))
        self._read_phase_1(exp)
        self._read_epoch_batches(exp)
        self.progress_bar.setEnabled(True)
        self._update_progress()
        self.pid_value.setText(str(exp.pid) if exp.pid and row.is_live else "–")
        error = exp.error
        if row.status == FAILED:
            error = self._diagnosis(exp.log_path, error) or error
        else:
            error = f"Reason: {error}" if error else None
        self.error_label.setText(error or "")
        self.error_label.setVisible(bool(error) and row.status in (FAILED, STOPPED))
        self.continue_button.setVisible(timed_out(self.manager, exp.id))
        self.system_panel.set_pid(exp.pid if row.is_live else None)
        target = exp.config.get("target")
        if target and row.is_live:  # the GPUs of the machine it runs on
            reader = partial(target_gpus, self.manager, exp.id)
            self.system_panel.set_remote(reader, str(target), key=exp.id)
        else:
            self.system_panel.set_remote(None)
        if row.is_live:
            self._tick.start()
        else:
            self._tick.stop()

    # --- alerts and diagnosis -------------------------------------------------------------------
    def refresh_alerts(self) -> None:
        """Read the run's alerts again: the banner, the Alerts tab and the plot's markers."""
        eid = self.experiment_id
        self._alerts = self.manager.alerts.for_run(eid) if eid is not None else []
        self.alert_banner.show_latest(self._alerts)
        self.alert_history.set_alerts(self._alerts)
        n = len(self._alerts)
        tab = self.tabs.indexOf(self.alert_history)
        self.tabs.setTabText(tab, f"Alerts ({n})" if n else "Alerts")
        if self._plot is not None:
            self._plot.set_alerts(self._alerts)

    def _on_alerts(self, experiment_id: int, _alerts: list) -> None:
        if experiment_id == self.experiment_id:
            self.refresh_alerts()

    def _dismiss_alert(self, alert_id: int) -> None:
        self.manager.alerts.acknowledge(alert_id)
        self.refresh_alerts()
        if self.experiment_id is not None:
            self.signals.run_alerts_dismissed.emit(self.experiment_id)

    def _diagnosis(self, log_path: str | None, error: str | None) -> str | None:
        """A failed run's cause in plain words and what to do (read once per run and error)."""
        cached = self._diagnosed
        if cached is not None and cached[:2] == (self.experiment_id, error):
            return cached[2] or None
        try:
            found = diagnose_run(log_path, error)
        except (OSError, RaveGuiError):
            found = None
        text = f"{found.title}. {found.advice}\nFrom: {found.evidence}" if found else ""
        self._diagnosed = (self.experiment_id, error, text)
        return text or None

    def set_progress(self, experiment_id: int, progress: dict) -> None:
        """A run's latest ``run_progress`` (its speed); shown if it is this panel's run."""
        self._progress[experiment_id] = progress
        if experiment_id == self.experiment_id:
            self._update_progress()

    def forget_progress(self, experiment_id: int) -> None:
        """The run ended: its speed is the average over the whole run from now on."""
        self._progress.pop(experiment_id, None)

    def _rate(self, row: RunRow) -> float | None:
        p = self._progress.get(row.id) or {}
        rate = p.get("rate")
        if rate:
            return float(rate)
        dur = row.duration()
        if row.step and dur and dur > 0 and not row.is_live:
            return row.step / dur  # average over the whole run
        return None

    def _update_progress(self) -> None:
        row = self._current_row()
        if row is None:
            return
        step, max_steps = row.step, row.max_steps
        if row.status == COMPLETED:
            # RAVE logs every 50 steps: the last logged step is not the last step trained
            self.progress_bar.setValue(1000)
            last = "" if step is None else f" · last logged step {step:,}"
            total = f": {max_steps:,} steps" if max_steps else ""
            self.progress_bar.setFormat(f"completed{total}{last}")
        elif max_steps:
            frac = min(1.0, (step or 0) / max_steps)
            self.progress_bar.setValue(int(frac * 1000))
            self.progress_bar.setFormat(f"{format_step(step, max_steps)}  ({100 * frac:.1f} %)")
        else:
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat(format_step(step, None))
        rate = self._rate(row)
        self.speed_value.setText(format_rate(rate))
        self._update_epoch(row)
        self._update_times()

    def _update_epoch(self, row: RunRow) -> None:
        """The current epoch's bar: batch X of Y (hidden when the epoch's size is unknown)."""
        bpe = self._epoch_batches.get(row.id, 0)
        pos = epoch_position(row.step, bpe) if row.status != COMPLETED else None
        self.epoch_bar.setVisible(pos is not None)
        if pos is None:
            return
        epoch, batch = pos
        self.epoch_bar.setRange(0, bpe)
        self.epoch_bar.setValue(batch)
        self.epoch_bar.setFormat(f"epoch {epoch:,}: batch {batch:,} of {bpe:,}")

    def _read_epoch_batches(self, exp: Experiment) -> None:
        """A run's training batches per epoch, from its dataset's size and its batch size."""
        if exp.id in self._epoch_batches:
            return
        batch = exp.config.get("batch") if isinstance(exp.config, dict) else None
        n = None
        if exp.dataset_id is not None and isinstance(batch, int):
            try:
                n = self.manager.datasets.get(exp.dataset_id).n_examples
            except RaveGuiError:
                n = None
        self._epoch_batches[exp.id] = batches_per_epoch(n, batch) if n and batch else 0

    # --- metric cards --------------------------------------------------------------------------
    def _on_metrics(self, experiment_id: int, points: dict) -> None:
        if experiment_id == self.experiment_id:
            self.metric_cards.add_points(points, live=True)

    def _load_cards(self, experiment_id: int | None) -> None:
        """The run's stored last values, read off the GUI thread (live points may come first:
        the cards keep the newest of both)."""
        self.metric_cards.clear()
        if experiment_id is None:
            return
        metrics = self.manager.metrics
        run_in_background(
            lambda: (experiment_id, stored_card_points(metrics, experiment_id)),
            self._cards_loaded,
            lambda _err: None,  # no cards: the plot says what is wrong with the store
        )

    def _cards_loaded(self, result: tuple[int, dict]) -> None:
        experiment_id, points = result
        if experiment_id == self.experiment_id:
            self.metric_cards.add_points(points, live=True)

    def _update_times(self) -> None:
        row = self._current_row()
        if row is None:
            return
        self.elapsed_value.setText(format_duration(row.duration()))
        rate = self._rate(row)
        if row.status == COMPLETED:
            eta = "done"
        elif not row.is_live:
            eta = "–"
        elif row.status == PAUSED:
            eta = "paused"
        elif rate and row.max_steps and row.step is not None:
            eta = format_duration(max(0, row.max_steps - row.step) / rate)
        else:
            eta = "–"
        self.eta_value.setText(eta)
        phase_1 = self._phase_1.get(row.id)
        live = row.is_live and row.status != PAUSED
        phase = run_eta(row.step, row.max_steps, phase_1, rate if live else None)
        text = phase.phase_text(row.step, phase_1)
        self.phase_value.setText(text or "–")
        self.phase_value.setToolTip(
            f"RAVE's first phase (phase_1_duration) lasts {phase_1:,} steps" if phase_1 else ""
        )

    def _read_phase_1(self, exp: Experiment) -> None:
        """The run's phase-1 length from the config.gin RAVE wrote (read once it is there)."""
        if exp.id in self._phase_1:
            return
        gin = run_config_gin(exp.run_dir) or (
            exp.config.get("gin_config_file") if isinstance(exp.config, dict) else None
        )
        phase_1 = first_phase_steps([str(gin)]) if gin else None
        if phase_1:
            self._phase_1[exp.id] = phase_1


__all__ = ["RunPanel"]
