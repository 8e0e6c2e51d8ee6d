"""SystemPanel: GPU, CPU and memory use, and the selected run's process, refreshed every 2 s.

Readings are taken off the GUI thread (``sysmon.sample`` through ``core.worker``; NVML calls
can take milliseconds per GPU, and its first import longer) and shown on the GUI thread, one
reading at a time. Sampling pauses while the panel is hidden. For a run on a target the GPU
rows are the target's (nvidia-smi over the connection, read every REMOTE_INTERVAL_MS).
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QFont, QHideEvent, QShowEvent
from PyQt6.QtWidgets import QGridLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from ...backend.remote.gpus import TargetGpus
from ...backend.system import sysmon
from ...backend.system.sysmon import GpuSample, ProcessUsage, SystemSample
from ...backend.system.units import format_bytes
from ...core.worker import run_in_background

INTERVAL_MS = 2000
REMOTE_INTERVAL_MS = 10_000  # a target's GPUs: one round trip (or an srun) every 10 s


def _meter() -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setTextVisible(True)
    bar.setMinimumWidth(140)
    bar.setMaximumHeight(18)
    bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return bar


def _set_meter(bar: QProgressBar, percent: float | None, text: str) -> None:
    bar.setValue(0 if percent is None else int(max(0.0, min(100.0, percent)) * 10))
    bar.setFormat(text)


class SystemPanel(QWidget):
    """GPU rows (utilisation, memory, temperature, power) or "no NVIDIA GPU found"; CPU, RAM;
    and the CPU and memory of the selected run's process tree."""

    def __init__(
        self,
        parent: QWidget | None = None,
        interval_ms: int = INTERVAL_MS,
        remote_interval_ms: int = REMOTE_INTERVAL_MS,
    ) -> None:
        super().__init__(parent)
        # a run on a target: reads its target's GPUs (in the background), and its name
        self.remote: Callable[[], TargetGpus] | None = None
        self.remote_name = ""
        self.last_remote: TargetGpus | None = None
        self._remote_key: object = None
        self._remote_reading = False
        self._remote_timer = QTimer(self)
        self._remote_timer.setInterval(remote_interval_ms)
        self._remote_timer.timeout.connect(self.read_remote_now)
        self.last_sample: SystemSample | None = None
        self.pid: int | None = None
        self._procs = sysmon.ProcessMonitor()
        self._sampling = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.sample_now)
        self._gpu_count = -1
        self._gpu_widgets: list[dict[str, QWidget]] = []

        bold = QFont(self.font())
        bold.setBold(True)
        self.gpu_title = QLabel("GPU")
        self.gpu_title.setFont(bold)
        self.no_gpu_label = QLabel("Reading…")
        self.no_gpu_label.setWordWrap(True)
        self.gpu_grid = QGridLayout()
        self.gpu_grid.setColumnStretch(1, 1)
        self.gpu_grid.setHorizontalSpacing(8)

        self.host_title = QLabel("Machine")
        self.host_title.setFont(bold)
        host = QGridLayout()
        host.setColumnStretch(1, 1)
        host.setHorizontalSpacing(8)
        self.cpu_bar = _meter()
        self.ram_bar = _meter()
        host.addWidget(QLabel("CPU"), 0, 0)
        host.addWidget(self.cpu_bar, 0, 1)
        host.addWidget(QLabel("Memory"), 1, 0)
        host.addWidget(self.ram_bar, 1, 1)

        self.proc_title = QLabel("Run process")
        self.proc_title.setFont(bold)
        self.proc_label = QLabel("–")
        self.proc_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(6)
        lay.addWidget(self.gpu_title)
        lay.addWidget(self.no_gpu_label)
        lay.addLayout(self.gpu_grid)
        lay.addSpacing(6)
        lay.addWidget(self.host_title)
        lay.addLayout(host)
        lay.addSpacing(6)
        lay.addWidget(self.proc_title)
        lay.addWidget(self.proc_label)
        lay.addStretch(1)

    # --- sampling ------------------------------------------------------------------------------
    def set_pid(self, pid: int | None) -> None:
        """Also show the CPU and memory of this process and its children (None: no run)."""
        self.pid = pid
        if pid is None:
            self.proc_label.setText("–")
        elif self.isVisible():
            self.sample_now()

    def set_remote(
        self, reader: Callable[[], TargetGpus] | None, name: str = "", key: object = None
    ) -> None:
        """Show the GPUs ``reader`` reads (a run's target, called off the GUI thread) in
        place of this machine's; None: this machine's again. ``key`` (the run's id): asked
        again with the same key, nothing changes."""
        if (reader is None and self.remote is None) or (
            reader is not None and key is not None and key == self._remote_key
        ):
            return
        self._remote_key = key if reader is not None else None
        self.remote, self.remote_name, self.last_remote = reader, name, None
        self.gpu_title.setText(f"GPU on {name}" if reader is not None else "GPU")
        self.host_title.setText("This computer" if reader is not None else "Machine")
        self._rebuild_gpu_rows(0)
        self.no_gpu_label.setText(f"Reading {name}…" if reader is not None else "Reading…")
        self.no_gpu_label.setToolTip("")
        self.no_gpu_label.show()
        if reader is None:
            self._remote_timer.stop()
            if self.last_sample is not None:
                self._show_gpus(self.last_sample.gpus, self.last_sample.gpu_error)
        elif self.isVisible():
            self.read_remote_now()
            self._remote_timer.start()

    def read_remote_now(self) -> None:
        """Read the target's GPUs off the GUI thread (skipped while a read is under way)."""
        reader = self.remote
        if reader is None or self._remote_reading:
            return
        self._remote_reading = True

        def done(result: TargetGpus, asked: Callable[[], TargetGpus] = reader) -> None:
            self._remote_reading = False
            if asked is self.remote:  # not another run's meanwhile
                self.show_remote(result)

        def failed(err: Exception) -> None:
            self._remote_reading = False
            if reader is self.remote:
                self.show_remote(TargetGpus(self.remote_name, error=str(err)))

        run_in_background(reader, done, failed)

    def show_remote(self, result: TargetGpus) -> None:
        self.last_remote = result
        self._show_gpus(tuple(result.gpus), result.error)

    def sample_now(self) -> None:
        """Take a reading off the GUI thread (skipped while the previous one is under way)."""
        if self._sampling:
            return
        self._sampling = True
        pid, procs = self.pid, self._procs

        def read() -> tuple[SystemSample, ProcessUsage | None]:
            return sysmon.sample(), (procs.usage(pid) if pid else None)

        run_in_background(read, self._on_sampled, self._on_sample_failed)

    def _on_sampled(self, result: tuple[SystemSample, ProcessUsage | None]) -> None:
        self._sampling = False
        self.show_sample(*result)

    def _on_sample_failed(self, err: Exception) -> None:
        self._sampling = False
        self.no_gpu_label.setText(f"Cannot read the system state: {err}")
        self.no_gpu_label.show()

    def shutdown(self) -> None:
        self._timer.stop()
        self._remote_timer.stop()

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        self.sample_now()
        self._timer.start()
        if self.remote is not None:
            self.read_remote_now()
            self._remote_timer.start()

    def hideEvent(self, event: QHideEvent | None) -> None:
        self._timer.stop()
        self._remote_timer.stop()
        super().hideEvent(event)

    # --- showing -------------------------------------------------------------------------------
    def show_sample(self, s: SystemSample, usage: ProcessUsage | None = None) -> None:
        self.last_sample = s
        if self.remote is None:  # else the target's GPUs are shown
            self._show_gpus(s.gpus, s.gpu_error)
        _set_meter(self.cpu_bar, s.cpu_percent, f"{s.cpu_percent:.0f} % of {s.cpu_count} cores")
        _set_meter(
            self.ram_bar,
            s.ram_percent,
            f"{format_bytes(s.ram_used)} / {format_bytes(s.ram_total)}",
        )
        if self.pid is None:
            self.proc_label.setText("–")
        elif usage is None:
            self.proc_label.setText(f"PID {self.pid}: not running")
        else:
            n = usage.n_processes
            self.proc_label.setText(
                f"PID {usage.pid}: CPU {usage.cpu_percent:.0f} %, memory "
                f"{format_bytes(usage.rss)} ({n} process{'es' if n != 1 else ''})"
            )

    def _show_gpus(self, gpus: tuple[GpuSample, ...], error: str | None) -> None:
        if not gpus:
            remote = self.remote is not None
            self.no_gpu_label.setText(error if remote and error else sysmon.NO_GPU_TEXT)
            self.no_gpu_label.setToolTip(error or "")
            self.no_gpu_label.show()
            self._rebuild_gpu_rows(0)
            return
        self.no_gpu_label.hide()
        if len(gpus) != self._gpu_count:
            self._rebuild_gpu_rows(len(gpus))
        for g, w in zip(gpus, self._gpu_widgets, strict=True):
            w["name"].setText(f"GPU {g.index} · {g.name}")
            util = "–" if g.utilization is None else f"{g.utilization:.0f} %"
            _set_meter(w["util"], g.utilization, util)
            mem = f"{format_bytes(g.memory_used)} / {format_bytes(g.memory_total)}"
            _set_meter(w["mem"], g.memory_percent, mem)
            temp = "–" if g.temperature is None else f"{g.temperature:.0f} °C"
            if g.power is None:
                power = "–"
            elif g.power_limit:
                power = f"{g.power:.0f} / {g.power_limit:.0f} W"
            else:
                power = f"{g.power:.0f} W"
            w["misc"].setText(f"{temp}   ·   {power}")

    def _rebuild_gpu_rows(self, n: int) -> None:
        if n == self._gpu_count:
            return
        while self.gpu_grid.count():
            item = self.gpu_grid.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()
        self._gpu_widgets = []
        row = 0
        for _ in range(n):
            w: dict[str, QWidget] = {
                "name": QLabel(),
                "util": _meter(),
                "mem": _meter(),
                "misc": QLabel(),
            }
            self.gpu_grid.addWidget(w["name"], row, 0, 1, 2)
            self.gpu_grid.addWidget(QLabel("Load"), row + 1, 0)
            self.gpu_grid.addWidget(w["util"], row + 1, 1)
            self.gpu_grid.addWidget(QLabel("Memory"), row + 2, 0)
            self.gpu_grid.addWidget(w["mem"], row + 2, 1)
            self.gpu_grid.addWidget(QLabel("Temp · power"), row + 3, 0)
            self.gpu_grid.addWidget(w["misc"], row + 3, 1)
            self._gpu_widgets.append(w)
            row += 4
        self._gpu_count = n


__all__ = ["SystemPanel"]
