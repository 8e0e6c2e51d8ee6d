"""System monitor: NVIDIA GPUs through pynvml, CPU and memory through psutil (no Qt).

NVML is initialised once, on first use. Without an NVIDIA driver ``nvmlInit`` fails at once
(``NVMLError_LibraryNotFound``); the failure is remembered, so a panel sampling every second
never retries it, and the rest (CPU, RAM) keeps working. Every per-GPU reading that a device
does not support (power on some boards, temperature on others) is ``None``, not an error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import psutil

NO_GPU_TEXT = "no NVIDIA GPU found"


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """A GPU as NVML lists it."""

    index: int
    name: str
    memory_total: int  # bytes
    uuid: str = ""


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One reading of one GPU; a value the device cannot report is None."""

    index: int
    name: str
    utilization: float | None  # percent
    memory_used: int | None  # bytes
    memory_total: int | None  # bytes
    temperature: float | None  # degrees Celsius
    power: float | None  # watts
    power_limit: float | None  # watts

    @property
    def memory_percent(self) -> float | None:
        if not self.memory_total or self.memory_used is None:
            return None
        return 100.0 * self.memory_used / self.memory_total


@dataclass(frozen=True, slots=True)
class SystemSample:
    """One reading of the machine."""

    time: float
    gpus: tuple[GpuSample, ...]
    gpu_error: str | None  # why no GPU is listed (no driver, ...), None when NVML works
    cpu_percent: float  # whole machine, 0..100
    cpu_count: int
    ram_used: int  # bytes
    ram_total: int  # bytes

    @property
    def ram_percent(self) -> float:
        return 100.0 * self.ram_used / self.ram_total if self.ram_total else 0.0


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


class Nvml:
    """NVML, initialised at most once; every call is thread-safe and never raises."""

    def __init__(self, module: ModuleType | None = None) -> None:
        self._module: Any = module  # pynvml, imported on first use
        self._lock = threading.Lock()
        self._state: bool | None = None  # None: not tried; True: ready; False: failed
        self.error: str | None = None
        self._handles: list[Any] = []

    def _init(self) -> bool:
        if self._state is not None:
            return self._state
        try:
            if self._module is None:
                import pynvml  # nvidia-ml-py

                self._module = pynvml
            nv = self._module
        except ImportError:
            self._state = False
            self.error = "pynvml (nvidia-ml-py) is not installed"
            return False
        try:
            nv.nvmlInit()
            count = nv.nvmlDeviceGetCount()
            self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except nv.NVMLError as err:
            self._state = False
            self.error = _nvml_error_text(nv, err)
            return False
        self._state = True
        self.error = None if self._handles else NO_GPU_TEXT
        return True

    def _read(self, fn_name: str, *args: Any) -> Any:
        nv = self._module
        try:
            return getattr(nv, fn_name)(*args)
        except nv.NVMLError:
            return None

    def list_gpus(self) -> list[GpuInfo]:
        with self._lock:
            if not self._init():
                return []
            out = []
            for i, h in enumerate(self._handles):
                mem = self._read("nvmlDeviceGetMemoryInfo", h)
                uuid = self._read("nvmlDeviceGetUUID", h)
                out.append(
                    GpuInfo(
                        index=i,
                        name=_text(self._read("nvmlDeviceGetName", h) or f"GPU {i}"),
                        memory_total=int(mem.total) if mem is not None else 0,
                        uuid=_text(uuid) if uuid is not None else "",
                    )
                )
            return out

    def sample_gpus(self) -> list[GpuSample]:
        with self._lock:
            if not self._init():
                return []
            nv = self._module
            out = []
            for i, h in enumerate(self._handles):
                util = self._read("nvmlDeviceGetUtilizationRates", h)
                mem = self._read("nvmlDeviceGetMemoryInfo", h)
                temp = self._read("nvmlDeviceGetTemperature", h, nv.NVML_TEMPERATURE_GPU)
                power = self._read("nvmlDeviceGetPowerUsage", h)  # milliwatts
                limit = self._read("nvmlDeviceGetEnforcedPowerLimit", h)  # milliwatts
                out.append(
                    GpuSample(
                        index=i,
                        name=_text(self._read("nvmlDeviceGetName", h) or f"GPU {i}"),
                        utilization=None if util is None else float(util.gpu),
                        memory_used=None if mem is None else int(mem.used),
                        memory_total=None if mem is None else int(mem.total),
                        temperature=None if temp is None else float(temp),
                        power=None if power is None else power / 1000.0,
                        power_limit=None if limit is None else limit / 1000.0,
                    )
                )
            return out

    def shutdown(self) -> None:
        with self._lock:
            if self._state:
                try:
                    self._module.nvmlShutdown()
                except self._module.NVMLError:
                    pass
            self._state = None
            self._handles = []


def _nvml_error_text(nv: ModuleType, err: Exception) -> str:
    if isinstance(err, getattr(nv, "NVMLError_LibraryNotFound", ())):
        return f"{NO_GPU_TEXT} (no NVIDIA driver)"
    if isinstance(err, getattr(nv, "NVMLError_DriverNotLoaded", ())):
        return f"{NO_GPU_TEXT} (the NVIDIA driver is not loaded)"
    if isinstance(err, getattr(nv, "NVMLError_NoPermission", ())):
        return f"{NO_GPU_TEXT} (no permission to query the NVIDIA driver)"
    return f"{NO_GPU_TEXT} ({err})"


_nvml = Nvml()
psutil.cpu_percent(interval=None)  # starts the CPU measurement: sample() never blocks


def list_gpus() -> list[GpuInfo]:
    """The NVIDIA GPUs of this machine (empty without a driver)."""
    return _nvml.list_gpus()


def gpu_error() -> str | None:
    """Why no GPU is listed, or None (after the first call to list_gpus or sample)."""
    return _nvml.error


def sample() -> SystemSample:
    """GPUs, CPU and RAM now. Non-blocking: the CPU percent covers the time since the previous
    call of psutil.cpu_percent (or since this module was imported)."""
    gpus = tuple(_nvml.sample_gpus())
    cpu = psutil.cpu_percent(interval=None)
    vm = psutil.virtual_memory()
    return SystemSample(
        time=time.time(),
        gpus=gpus,
        gpu_error=None if gpus else (_nvml.error or NO_GPU_TEXT),
        cpu_percent=float(cpu),
        cpu_count=psutil.cpu_count() or 1,
        ram_used=int(vm.total - vm.available),
        ram_total=int(vm.total),
    )


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """A process and its descendants (a run's data-loader workers), summed."""

    pid: int
    cpu_percent: float  # may exceed 100 on several cores
    rss: int  # bytes
    n_processes: int


class ProcessMonitor:
    """CPU and memory of process trees; keeps psutil.Process objects between calls so that
    each CPU percent covers the time since the previous call for the same tree."""

    def __init__(self) -> None:
        self._trees: dict[int, dict[int, psutil.Process]] = {}

    def usage(self, pid: int) -> ProcessUsage | None:
        """None when the process is gone or cannot be read."""
        known = self._trees.get(pid, {})
        try:
            root = known.get(pid) or psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except (psutil.Error, OSError):
            self._trees.pop(pid, None)
            return None
        seen: dict[int, psutil.Process] = {}
        cpu = 0.0
        rss = 0
        for p in tree:
            proc = known.get(p.pid, p)
            try:
                cpu += proc.cpu_percent(interval=None)
                rss += proc.memory_info().rss
            except (psutil.Error, OSError):
                continue
            seen[p.pid] = proc
        if pid not in seen:
            self._trees.pop(pid, None)
            return None
        self._trees[pid] = seen
        return ProcessUsage(pid=pid, cpu_percent=cpu, rss=rss, n_processes=len(seen))

    def forget(self, pid: int) -> None:
        self._trees.pop(pid, None)


def gpu_summary(s: SystemSample | None = None) -> str:
    """One line for a status bar: "no NVIDIA GPU found" or "2 GPUs, 45% / 30%"."""
    gpus = (sample() if s is None else s).gpus
    if not gpus:
        return NO_GPU_TEXT
    loads = " / ".join("?" if g.utilization is None else f"{g.utilization:.0f}%" for g in gpus)
    return f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}, {loads}"


__all__ = [
    "NO_GPU_TEXT",
    "GpuInfo",
    "GpuSample",
    "Nvml",
    "ProcessMonitor",
    "ProcessUsage",
    "SystemSample",
    "gpu_error",
    "gpu_summary",
    "list_gpus",
    "sample",
]
