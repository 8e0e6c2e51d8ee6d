"""A real sshd on 127.0.0.1 (key authentication) and a real single-node SLURM cluster (munge,
slurmctld, slurmd), started as ../shared/REMOTE_FACTS.md measured; the "remote" machine is this
one, reached through ssh. Only loopback addresses are used.

Import the fixtures into a test module (``from remote_hosts import sshd, slurm  # noqa``).
They are skipped, saying why, when the Debian packages (openssh-server, slurm-wlm, munge) are
missing or the tests do not run as root (the daemons need it); ``scripts/bootstrap.sh``
installs the packages when it runs as root (CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"


@dataclass
class SshHost:
    folder: Path
    port: int
    user: str
    key: Path
    pid_file: Path
    config: Path

    def start(self) -> None:
        subprocess.run(["/usr/sbin/sshd", "-f", str(self.config)], check=True, timeout=30)
        wait_port(self.port)

    def stop(self) -> None:
        pid = _read_pid(self.pid_file)
        if pid:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def restart(self) -> None:
        """Stop the listening daemon (open sessions live on, as sshd's do) and start it again."""
        self.stop()
        self.start()


@dataclass
class SlurmCluster:
    folder: Path
    conf: Path
    node: str


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _need(*programs: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("a real sshd/SLURM needs root to start (run the tests as root, as CI does)")
    missing = [p for p in programs if not (shutil.which(p) or Path(p).exists())]
    if missing:
        pytest.skip(
            f"not installed: {', '.join(missing)} (apt-get install openssh-server "
            "openssh-client slurm-wlm munge; scripts/bootstrap.sh does it as root)"
        )


def start_sshd(folder: Path, env: dict[str, str] | None = None) -> SshHost:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("hostkey", "userkey"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True
        )
    shutil.copy(folder / "userkey.pub", folder / "authorized_keys")
    Path("/run/sshd").mkdir(exist_ok=True)
    port = free_port()
    setenv = "".join(f"SetEnv {k}={v}\n" for k, v in (env or {}).items())
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {HOST}\nHostKey {folder / 'hostkey'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"PermitRootLogin prohibit-password\nStrictModes no\nPidFile {folder / 'sshd.pid'}\n"
        f"UsePAM no\nMaxSessions 50\nMaxStartups 50\n{setenv}"
    )
    host = SshHost(folder, port, os.environ.get("USER") or "root", folder / "userkey",
                   folder / "sshd.pid", config)  # fmt: skip
    host.start()
    return host


def _munge() -> None:
    ok = subprocess.run("munge -n | unmunge", shell=True, capture_output=True)
    if ok.returncode == 0:
        return  # a munged runs already (one per machine)
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged"], check=True)
    deadline = time.monotonic() + 10
    while subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError("munged did not start")
        time.sleep(0.1)


def start_slurm(folder: Path) -> SlurmCluster:
    """A single-node cluster with its own slurm.conf (SLURM_CONF) and ports."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slurmd").mkdir(exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    _munge()
    node = socket.gethostname().split(".")[0]
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    ctld, slurmd = free_port(), free_port()
    conf = folder / "slurm.conf"
    s = folder
    conf.write_text(
        f"ClusterName=local\nSlurmctldHost={node}\nSlurmctldPort={ctld}\nSlurmdPort={slurmd}\n"
        "AuthType=auth/munge\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
        "SchedulerType=sched/backfill\nSelectType=select/cons_tres\n"
        "SelectTypeParameters=CR_Core\nReturnToService=2\n"
        f"SlurmctldPidFile={s}/slurmctld.pid\nSlurmdPidFile={s}/slurmd.pid\n"
        f"SlurmdSpoolDir={s}/slurmd\nStateSaveLocation={s}/state\n"
        f"SlurmctldLogFile={s}/slurmctld.log\nSlurmdLogFile={s}/slurmd.log\n"
        "SlurmUser=root\nSlurmdUser=root\nJobAcctGatherType=jobacct_gather/none\n"
        "AccountingStorageType=accounting_storage/none\nMpiDefault=none\nKillWait=5\n"
        "MinJobAge=300\n"
        f"NodeName={node} CPUs={os.cpu_count()} RealMemory={min(8000, mem_mb - 512)} "
        "State=UNKNOWN\n"
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    subprocess.run(["/usr/sbin/slurmctld", "-i"], env=env, check=True, timeout=30)
    subprocess.run(["/usr/sbin/slurmd"], env=env, check=True, timeout=30)
    deadline = time.monotonic() + 30
    while True:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
        if out.stdout.strip() in ("idle", "mix", "alloc"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the SLURM node did not come up: {out.stdout} {out.stderr}")
        time.sleep(0.2)
    return SlurmCluster(folder, conf, node)


def stop_slurm(cluster: SlurmCluster) -> None:
    """Cancel every job, let the queue empty, stop the daemons, and leave no job step
    daemon (slurmstepd, a child of slurmd) behind."""
    import psutil

    env = {**os.environ, "SLURM_CONF": str(cluster.conf)}
    subprocess.run(["scancel", "--full", "-u", "root"], env=env, capture_output=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True).stdout
        if not out.strip():
            break
        time.sleep(0.2)
    steps: list[psutil.Process] = []
    slurmd = _read_pid(cluster.folder / "slurmd.pid")
    if slurmd:
        try:
            steps = psutil.Process(slurmd).children(recursive=True)
        except psutil.Error:
            pass
    for name in ("slurmd.pid", "slurmctld.pid"):
        pid = _read_pid(cluster.folder / name)
        if pid:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
    for p in steps:
        try:
            p.kill()
        except psutil.Error:
            pass


def _close_connections() -> None:
    """No shared ssh connection (ControlPersist) outlives the tests."""
    from rave_gui.backend.remote.ssh import close_all

    close_all()


@pytest.fixture(autouse=True)
def close_connections():
    """Imported by a test module: no shared ssh connection outlives one of its tests."""
    yield
    _close_connections()


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    _need("/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "sbatch", "munge")
    cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    yield cluster
    stop_slurm(cluster)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """A real sshd on 127.0.0.1; its sessions see SLURM_CONF when a test cluster runs."""
    _need("/usr/sbin/sshd", "ssh", "ssh-keyscan", "ssh-keygen")
    host = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield host
    _close_connections()
    host.stop()


@pytest.fixture(scope="session")
def slurm_sshd(tmp_path_factory: pytest.TempPathFactory, slurm: SlurmCluster):
    """A login node of the test cluster: an sshd whose sessions know the cluster's slurm.conf."""
    _need("/usr/sbin/sshd", "ssh", "ssh-keyscan", "ssh-keygen")
    host = start_sshd(tmp_path_factory.mktemp("login"), env={"SLURM_CONF": str(slurm.conf)})
    yield host
    _close_connections()
    host.stop()
