"""The connection to a target: the system's OpenSSH client, one shared connection per target.

Why OpenSSH rather than a Python SSH library: it is on every machine that has a cluster
account, it reads the user's own ~/.ssh/config (jump hosts, ProxyCommand, agents, hardware
keys), and its connection sharing (ControlMaster/ControlPersist) makes each later command a
new channel on an open connection (milliseconds, no new login) — and it adds no dependency.

Host keys are checked against rave-gui's own known_hosts file (``known_hosts`` in the data
folder) with ``StrictHostKeyChecking=yes``: an unknown host is refused (UnknownHostError,
carrying the fingerprint from ssh-keyscan + ssh-keygen -lf) until the person accepts it
(:func:`accept_host_key`), once. Passwords are never asked for nor stored (BatchMode: keys or
an agent).

Every remote command is built from an argv with shlex.quote on each argument (``remote_command``):
a name with spaces, quotes or ``; rm -rf`` reaches the remote program as one argument.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProcessError, RaveGuiError
from ..store.targets import Target
from ..system.paths import data_dir

CONNECT_TIMEOUT_S = 15
COMMAND_TIMEOUT_S = 120
CONTROL_PERSIST_S = 300


class RemoteError(ProcessError):
    """A target cannot be reached, or a command on it failed."""


class UnknownHostError(RemoteError):
    """The target's host key is not (or no longer) in rave-gui's known_hosts."""

    def __init__(self, message: str, fingerprints: list[str], changed: bool = False) -> None:
        super().__init__(message)
        self.fingerprints = fingerprints
        self.changed = changed


def known_hosts_path() -> Path:
    return data_dir() / "known_hosts"


def remote_command(argv: list[str]) -> str:
    """One shell command line that runs ``argv`` on the remote side, each argument quoted."""
    return " ".join(shlex.quote(a) for a in argv)


def _host_entry(target: Target) -> str:
    return f"[{target.host}]:{target.port}" if target.port and target.port != 22 else target.host


def _control_dir() -> Path:
    # Unix socket paths are short (108 bytes): a short folder of this user's in /tmp.
    d = Path(tempfile.gettempdir()) / f"rave-gui-ssh-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def scan_host_key(target: Target, timeout: float = CONNECT_TIMEOUT_S) -> tuple[str, list[str]]:
    """The host's public keys (known_hosts lines) and their fingerprints, as the host offers
    them now (ssh-keyscan), for the person to compare before accepting."""
    argv = ["ssh-keyscan", "-T", str(int(timeout))]
    if target.port:
        argv += ["-p", str(target.port)]
    argv.append(target.host)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RemoteError(f"Cannot scan the host key of {target.host}: {err}") from err
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise RemoteError(
            f"{target.host} port {target.port or 22} offers no SSH host key: is sshd running "
            "there and the address right?"
        )
    prints = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input="\n".join(lines) + "\n", capture_output=True, text=True
    ).stdout.splitlines()
    return "\n".join(lines) + "\n", [p for p in prints if p.strip()]


def accept_host_key(target: Target, keys: str, path: Path | None = None) -> None:
    """Add the host keys the person accepted (from scan_host_key) to rave-gui's known_hosts."""
    path = path or known_hosts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = _host_entry(target)
    out = []
    for line in keys.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:  # ssh-keyscan writes the host as it was asked: store it as ssh does
            out.append(f"{entry} {parts[1]}\n")
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(out)


def is_known(target: Target, path: Path | None = None) -> bool:
    path = path or known_hosts_path()
    if not path.exists():
        return False
    proc = subprocess.run(
        ["ssh-keygen", "-F", _host_entry(target), "-f", str(path)], capture_output=True
    )
    return proc.returncode == 0


@dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


class Connection:
    """Commands on a target over one shared OpenSSH connection."""

    def __init__(self, target: Target, known_hosts: Path | None = None) -> None:
        self.target = target
        self.known_hosts = known_hosts or known_hosts_path()
        digest = hashlib.sha1(
            f"{target.address}:{target.port}:{target.key_file}:{self.known_hosts}".encode()
        ).hexdigest()[:16]
        self.control_path = _control_dir() / digest
        self.bytes_in = 0  # bytes read from the target (stdout of commands): the follow cost
        self._known = False  # the host key was found in known_hosts

    def base_argv(self) -> list[str]:
        t = self.target
        with _OPENED_LOCK:
            _OPENED.add(self.control_path)
        argv = [
            "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=3", "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self.control_path}", "-o", f"ControlPersist={CONTROL_PERSIST_S}",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip
        if t.port:
            argv += ["-p", str(t.port)]
        if t.key_file:
            argv += ["-i", str(Path(t.key_file).expanduser()), "-o", "IdentitiesOnly=yes"]
        return [*argv, "--", t.address]

    def run(
        self,
        argv: list[str] | str,
        *,
        input: bytes | None = None,
        timeout: float = COMMAND_TIMEOUT_S,
        check: bool = True,
    ) -> Result:
        """Run a command on the target: an argv (each argument quoted) or a shell line (only
        ever built from quoted parts). Raises RemoteError when the connection fails (and, with
        ``check``, when the command exits non-zero)."""
        line = argv if isinstance(argv, str) else remote_command(argv)
        if not self._known:  # asked once per connection object: ssh itself checks the key
            if not self.known_hosts.exists() or not is_known(self.target, self.known_hosts):
                self._unknown_host(changed=False)
            self._known = True
        try:
            proc = subprocess.run(
                [*self.base_argv(), line],
                input=input,
                capture_output=True,
                timeout=timeout,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError as err:
            raise RemoteError("The OpenSSH client (ssh) is not installed.") from err
        except subprocess.TimeoutExpired as err:
            raise RemoteError(
                f"{self.target.name}: no answer within {timeout:.0f} s ({line[:80]})"
            ) from err
        said = proc.stderr.decode("utf-8", "replace").strip()
        self.bytes_in += len(proc.stdout)
        if proc.returncode == 255:  # ssh's own failure: connection, authentication, host key
            if "REMOTE HOST IDENTIFICATION HAS CHANGED" in said or "Host key verification" in said:
                self._unknown_host(changed="CHANGED" in said)
            raise RemoteError(f"Cannot connect to {self.target.describe()}: {said or 'ssh failed'}")
        if check and proc.returncode != 0:
            raise RemoteError(
                f"On {self.target.name}, `{line[:200]}` failed (exit {proc.returncode}): "
                f"{said[-1000:] or 'no message'}"
            )
        return Result(proc.returncode, proc.stdout, said)

    def _unknown_host(self, changed: bool) -> None:
        try:
            _keys, prints = scan_host_key(self.target)
        except RaveGuiError:
            prints = []
        what = "has CHANGED its host key" if changed else "is not a known host yet"
        raise UnknownHostError(
            f"{self.target.host} {what}. Its key fingerprints:\n  "
            + ("\n  ".join(prints) or "(none could be read)")
            + "\nCompare them with what the machine's administrator gives you, then accept "
            f"the key once: rave-gui targets check {shlex.quote(self.target.name)} "
            "--accept-host-key",
            prints,
            changed,
        )

    def upload(self, data: bytes, remote_path: str, mode: str = "644") -> None:
        """Write ``data`` to a file on the target (atomically: a temporary file renamed)."""
        tmp = f"{remote_path}.part"
        line = (
            f"mkdir -p -- {shlex.quote(os.path.dirname(remote_path) or '.')} && "
            f"cat > {shlex.quote(tmp)} && chmod {mode} {shlex.quote(tmp)} && "
            f"mv -f -- {shlex.quote(tmp)} {shlex.quote(remote_path)}"
        )
        self.run(line, input=data)

    def download(self, remote_path: str, local: Path, size: int, timeout: float = 3600) -> int:
        """Copy a (large) file from the target, streamed to ``local`` (a ``.part`` file renamed
        once complete: ``size`` bytes). Returns the bytes copied."""
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(local.name + ".part")
        line = f"head -c {int(size)} -- {shlex.quote(remote_path)}"
        try:
            with open(part, "wb") as f:
                proc = subprocess.run(
                    [*self.base_argv(), line], stdout=f, stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL, timeout=timeout,
                )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as err:
            part.unlink(missing_ok=True)
            raise RemoteError(f"Cannot copy {remote_path} from {self.target.name}: {err}") from err
        got = part.stat().st_size
        if proc.returncode != 0 or got != size:
            part.unlink(missing_ok=True)
            said = proc.stderr.decode("utf-8", "replace").strip()
            raise RemoteError(
                f"Copying {remote_path} from {self.target.name} stopped at {got} of {size} "
                f"bytes: {said or 'connection lost'}"
            )
        os.replace(part, local)
        self.bytes_in += got
        return got

    def close(self) -> None:
        """Close the shared connection (the next command opens a new one)."""
        subprocess.run(
            [*self.base_argv()[:-2], "-O", "exit", "--", self.target.address],
            capture_output=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )


_OPENED: set[Path] = set()  # the shared connections this process used (their control paths)
_OPENED_LOCK = threading.Lock()


def close_all() -> int:
    """Close every shared connection this process used (``ssh -O exit``); how many were open.
    Only this process's: another one (the app, a command line, a test session) sharing this
    user's folder of connections keeps its own, mid-command as it may be."""
    n = 0
    with _OPENED_LOCK:
        socks = sorted(_OPENED)
        _OPENED.clear()
    for sock in socks:
        if not sock.exists():
            continue
        proc = subprocess.run(
            ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "rave-gui-shared"],
            capture_output=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
        n += proc.returncode == 0
    return n


__all__ = [
    "Connection",
    "RemoteError",
    "UnknownHostError",
    "accept_host_key",
    "close_all",
    "is_known",
    "known_hosts_path",
    "remote_command",
    "scan_host_key",
]
