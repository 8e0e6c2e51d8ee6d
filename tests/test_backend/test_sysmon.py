"""System monitor: the no-GPU path on this machine, a fake NVML for the GPU path, CPU/RAM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest

from rave_gui.backend.system import sysmon


def _fake_nvml(*, fail: type[Exception] | None = None, power_supported: bool = True):
    """A module-like object with the few NVML calls sysmon makes, counting nvmlInit calls."""

    class NVMLError(Exception):
        pass

    class NVMLError_LibraryNotFound(NVMLError):
        pass

    class NVMLError_NotSupported(NVMLError):
        pass

    calls = {"init": 0}

    def nvmlInit():
        calls["init"] += 1
        if fail is not None:
            raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")

    def power(h):
        if not power_supported:
            raise NVMLError_NotSupported("Not Supported")
        return 150_000 + h * 1000

    gib = 1024**3
    return SimpleNamespace(
        NVMLError=NVMLError,
        NVMLError_LibraryNotFound=NVMLError_LibraryNotFound,
        NVML_TEMPERATURE_GPU=0,
        calls=calls,
        nvmlInit=nvmlInit,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"NVIDIA H100" if h == 0 else "NVIDIA A100",
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}",
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(
            total=80 * gib, used=(10 + 20 * h) * gib, free=0
        ),
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=45 - 15 * h, memory=0),
        nvmlDeviceGetTemperature=lambda h, sensor: 60 + h,
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetEnforcedPowerLimit=lambda h: 700_000,
    )


def test_this_machine_without_a_driver_reports_no_gpu_and_still_samples_cpu_and_ram():
    gpus = sysmon.list_gpus()
    s = sysmon.sample()
    if gpus:  # a machine with an NVIDIA driver runs this suite too
        assert len(s.gpus) == len(gpus)
        return
    assert s.gpus == ()
    assert s.gpu_error is not None and s.gpu_error.startswith(sysmon.NO_GPU_TEXT)
    assert sysmon.gpu_summary(s) == "no NVIDIA GPU found"
    assert 0.0 <= s.cpu_percent <= 100.0
    assert s.cpu_count >= 1
    assert 0 < s.ram_used < s.ram_total
    assert 0 < s.ram_percent < 100


def test_nvml_failure_is_remembered_and_never_retried():
    fake = _fake_nvml(fail=Exception)
    nvml = sysmon.Nvml(fake)  # type: ignore[arg-type]
    for _ in range(50):
        assert nvml.sample_gpus() == []
        assert nvml.list_gpus() == []
    assert fake.calls["init"] == 1
    assert nvml.error == "no NVIDIA GPU found (no NVIDIA driver)"


def test_sample_is_fast_without_a_gpu():
    sysmon.sample()
    t0 = time.perf_counter()
    for _ in range(20):
        sysmon.sample()
    assert (time.perf_counter() - t0) / 20 < 0.05  # non-blocking: no cpu_percent interval


def test_fake_nvml_gpus_are_listed_and_sampled_with_units_converted():
    fake = _fake_nvml()
    nvml = sysmon.Nvml(fake)  # type: ignore[arg-type]
    gpus = nvml.list_gpus()
    assert [g.name for g in gpus] == ["NVIDIA H100", "NVIDIA A100"]  # bytes or str names
    assert gpus[0].memory_total == 80 * 1024**3
    samples = nvml.sample_gpus()
    assert [g.utilization for g in samples] == [45.0, 30.0]
    assert samples[0].temperature == 60.0
    assert samples[1].power == pytest.approx(151.0)  # milliwatts -> watts
    assert samples[0].power_limit == pytest.approx(700.0)
    assert samples[1].memory_percent == pytest.approx(37.5)
    assert fake.calls["init"] == 1


def test_an_unsupported_reading_is_none_not_an_error():
    nvml = sysmon.Nvml(_fake_nvml(power_supported=False))  # type: ignore[arg-type]
    s = nvml.sample_gpus()[0]
    assert s.power is None
    assert s.utilization == 45.0


def test_gpu_summary_lists_each_gpu_load(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sysmon, "_nvml", sysmon.Nvml(_fake_nvml()))  # type: ignore[arg-type]
    s = sysmon.sample()
    assert sysmon.gpu_summary(s) == "2 GPUs, 45% / 30%"
    assert s.gpu_error is None
    one = sysmon.SystemSample(s.time, s.gpus[:1], None, 1.0, 1, 1, 2)
    assert sysmon.gpu_summary(one) == "1 GPU, 45%"


SPIN = "import time\nend = time.time() + 30\nwhile time.time() < end:\n    pass\n"
# A sleeping parent whose one child spins on a core: a run's launcher and its busy worker.
SLEEPER_WITH_BUSY_CHILD = (
    "import subprocess, sys, time\n"
    f"subprocess.Popen([sys.executable, '-c', {SPIN!r}])\n"
    "time.sleep(30)\n"
)


def test_process_monitor_sums_a_process_tree_and_forgets_it_when_gone():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], stdin=subprocess.DEVNULL
    )
    try:
        mon = sysmon.ProcessMonitor()
        u = mon.usage(os.getpid())
        assert u is not None
        assert u.n_processes >= 2  # this test process and its child
        assert u.rss > 10 * 1024**2
    finally:
        child.kill()
        child.wait()
    assert mon.usage(child.pid) is None


def test_cpu_is_measured_a_busy_descendant_counts_a_sleeping_process_does_not():
    busy = subprocess.Popen(
        [sys.executable, "-c", SLEEPER_WITH_BUSY_CHILD],
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own group: the spinning grandchild is killed with it
    )
    idle = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while not psutil.Process(busy.pid).children():
            assert time.monotonic() < deadline, "the busy child did not start"
            time.sleep(0.05)
        mon = sysmon.ProcessMonitor()
        assert mon.usage(busy.pid) is not None  # the first reading starts each measurement
        assert mon.usage(idle.pid) is not None
        sysmon.sample()
        time.sleep(1.5)
        tree, quiet, machine = mon.usage(busy.pid), mon.usage(idle.pid), sysmon.sample()
        assert tree is not None and quiet is not None
        ncpu = psutil.cpu_count() or 1
        assert tree.n_processes == 2
        # One core spinning: about 100 % alone, and still a clear share on a loaded machine.
        assert 25.0 < tree.cpu_percent <= 100.0 * ncpu + 5.0
        assert quiet.cpu_percent < 5.0
        # Machine-wide, the spinning core shows as at least half a core's share.
        assert 50.0 / ncpu <= machine.cpu_percent <= 100.0
    finally:
        os.killpg(busy.pid, signal.SIGKILL)
        busy.wait()
        idle.kill()
        idle.wait()
