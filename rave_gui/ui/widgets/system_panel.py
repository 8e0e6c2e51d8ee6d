"""SystemPanel: GPU, CPU and memory use, and the selected run's process, refreshed every 2 s.

Readings are taken off the GUI thread (``sysmon.sample`` through ``core.worker``; NVML calls
can take milliseconds per GPU, and its first import longer) and shown on the GUI thread, one
reading at a time. Sampling pauses while the panel is hidden.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QFont, QHideEvent, QShowEvent
from PyQt6.QtWidgets import QGridLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from ...backend.system import sysmon
from ...backend.system.sysmon import ProcessUsage, SystemSample
from ...backend.system.units import format_bytes
from ...core.worker import run_in_background

INTERVAL_MS = 2000


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

    def __init__(self, parent: QWidget | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
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

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        self.sample_now()
        self._timer.start()

    def hideEvent(self, event: QHideEvent | None) -> None:
        self._timer.stop()
        super().hideEvent(event)

    # --- showing -------------------------------------------------------------------------------
    def show_sample(self, s: SystemSample, usage: ProcessUsage | None = None) -> None:
        self.last_sample = s
        self._show_gpus(s)
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

    def _show_gpus(self, s: SystemSample) -> None:
        if not s.gpus:
            self.no_gpu_label.setText(sysmon.NO_GPU_TEXT)
            self.no_gpu_label.setToolTip(s.gpu_error or "")
            self.no_gpu_label.show()
            self._rebuild_gpu_rows(0)
            return
        self.no_gpu_label.hide()
        if len(s.gpus) != self._gpu_count:
            self._rebuild_gpu_rows(len(s.gpus))
        for g, w in zip(s.gpus, self._gpu_widgets, strict=True):
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
