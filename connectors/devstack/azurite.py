"""Start a real Azurite (the Azure Storage emulator from npm) for tests, the demo and benchmarks.

    with azurite() as emulator:
        config = StorageConfig(connection_string=emulator.connection_string)

Azurite comes from the project's own ``package.json`` (``npm ci`` installs it into
``node_modules/``). Ports are chosen by the OS (``--blobPort 0`` ...) and read back from
Azurite's start-up lines, so parallel runs never collide. Telemetry is always disabled.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from connectors.storage.config import (
    DEV_ACCOUNT_KEY,
    DEV_ACCOUNT_NAME,
    azurite_connection_string,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # connectors/devstack/ -> project root
AZURITE_BIN = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at \S+:(\d+)")


class AzuriteUnavailable(RuntimeError):
    """Azurite cannot be started here (no node/npm, or npm install failed)."""


@dataclass(frozen=True)
class Azurite:
    host: str
    blob_port: int
    queue_port: int
    table_port: int
    location: Path
    account_name: str = DEV_ACCOUNT_NAME

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.blob_port, self.queue_port, self.table_port, host=self.host)

    @property
    def account_key(self) -> str:
        return DEV_ACCOUNT_KEY

    def __repr__(self) -> str:  # the dev key is public, but keep the habit: no keys in reprs
        return f"Azurite(blob={self.blob_port}, queue={self.queue_port}, table={self.table_port})"


def ensure_installed(root: Path = PROJECT_ROOT) -> Path:
    """Return the azurite executable, running ``npm ci`` (or ``npm install``) if it is missing."""
    binary = root / "node_modules" / ".bin" / "azurite"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise AzuriteUnavailable(
            "Azurite is not installed and npm/node are missing: install Node.js 20+, then run "
            "`npm ci` at the project root"
        )
    command = "ci" if (root / "package-lock.json").exists() else "install"
    result = subprocess.run(
        [npm, command, "--no-fund", "--no-audit"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or not binary.exists():
        raise AzuriteUnavailable(f"`npm {command}` failed at {root}: {result.stderr.strip()[-2000:]}")
    return binary


def _wait_for_port(host: str, port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AzuriteUnavailable(f"Azurite did not accept connections on {host}:{port} in time")


class AzuriteServer:
    """One Azurite process over a data folder; ``restart()`` stops it and starts it again on
    the same ports over the same folder (what a chaos run does to storage)."""

    def __init__(self, binary: Path, location: Path, host: str, startup_timeout: float,
                 debug_log: Path | None) -> None:
        self.binary = binary
        self.location = location
        self.host = host
        self.startup_timeout = startup_timeout
        self.debug_log = debug_log
        self.process: subprocess.Popen[str] | None = None
        self.emulator: Azurite | None = None
        self.restarts = 0

    def start(self) -> Azurite:
        ports = self.emulator and {"Blob": self.emulator.blob_port, "Queue": self.emulator.queue_port,
                                   "Table": self.emulator.table_port}
        args = [str(self.binary), "--silent", "--skipApiVersionCheck", "--disableTelemetry",
                "--location", str(self.location)]
        for service in ("Blob", "Queue", "Table"):
            name = service.lower()
            # Port 0 the first time (the OS picks); the same ports again after a restart.
            args += [f"--{name}Host", self.host, f"--{name}Port", str(ports[service] if ports else 0)]
        if self.debug_log is not None:
            args += ["--debug", str(self.debug_log)]
        env = dict(os.environ)
        env.pop("AZURITE_ACCOUNTS", None)  # only the well-known dev account, whose key we know
        # The parent-death signal fires when the *thread* that started Azurite ends: only the main
        # thread may ask for it (a restart from a chaos thread would otherwise stop Azurite as
        # soon as that thread finishes).
        guard = sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
        process = subprocess.Popen(
            args,
            cwd=self.location,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent if guard else None,
        )
        self.process = process
        found: dict[str, int] = {}
        output: list[str] = []
        deadline = time.monotonic() + self.startup_timeout
        assert process.stdout is not None
        # readline blocks; a watchdog kills Azurite if it never reports its ports.
        watchdog = threading.Timer(self.startup_timeout, process.kill)
        watchdog.start()
        try:
            while len(found) < 3:
                line = process.stdout.readline()
                if not line:
                    break
                output.append(line)
                match = _LISTENING.search(line)
                if match:
                    found[match.group(1)] = int(match.group(2))
        finally:
            watchdog.cancel()
        if len(found) < 3:
            raise AzuriteUnavailable("Azurite did not start: " + "".join(output)[-2000:])
        # Keep draining output so a chatty Azurite never blocks on a full pipe.
        threading.Thread(target=_drain, args=(process,), daemon=True).start()
        for port in found.values():
            _wait_for_port(self.host, port, deadline)
        self.emulator = Azurite(self.host, found["Blob"], found["Queue"], found["Table"], self.location)
        return self.emulator

    def stop(self) -> None:
        """SIGTERM: Azurite saves its metadata to the folder before it exits."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> Azurite:
        self.stop()
        self.restarts += 1
        return self.start()


@contextmanager
def azurite_server(
    *, host: str = "127.0.0.1", startup_timeout: float = 60.0, debug_log: Path | None = None
) -> Iterator[AzuriteServer]:
    """A restartable Azurite in a fresh temporary folder; stopped and the folder deleted on exit."""
    server = AzuriteServer(ensure_installed(), Path(tempfile.mkdtemp(prefix="tap365-azurite-")), host,
                           startup_timeout, debug_log)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.location, ignore_errors=True)


@contextmanager
def azurite(
    *, host: str = "127.0.0.1", startup_timeout: float = 60.0, debug_log: Path | None = None
) -> Iterator[Azurite]:
    """Run Azurite in a fresh temporary folder; stop it and delete the folder on exit."""
    with azurite_server(host=host, startup_timeout=startup_timeout, debug_log=debug_log) as server:
        assert server.emulator is not None
        yield server.emulator


def _die_with_parent() -> None:
    # Runs in the child before exec: if the test process is killed outright (no cleanup runs),
    # the kernel stops Azurite too instead of leaving it listening (PR_SET_PDEATHSIG = 1).
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _drain(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for _ in process.stdout:
        pass


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":  # `python -m connectors.devstack.azurite`: run one for manual use until Ctrl-C
    signal.signal(signal.SIGTERM, _stop)  # clean up on `kill` too, not only on Ctrl-C
    with azurite() as emulator:
        print(emulator, flush=True)
        print(emulator.connection_string, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
