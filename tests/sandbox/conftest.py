"""Fixtures for the sandbox tests: Windows test programs compiled at test time, the CAPE
simulator on a loopback port, and a rule: missing tools skip locally but fail under CI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.sandbox.cape_sim import CapeSimulator

PROGRAMS = Path(__file__).parent / "programs"
MINGW = "x86_64-w64-mingw32-gcc"
#: Program -> extra libraries.
PROGRAM_LIBS = {
    "drop_file": [],
    "run_key": ["-ladvapi32"],
    "c2_beacon": ["-lwininet"],
    "downloader": ["-lurlmon"],
    "spawn_shell": [],
    "benign": [],
    "spin": [],
}


def need(condition: bool, reason: str) -> None:
    """Skip with ``reason`` locally; fail under CI, where every tool must be installed."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def windows_programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The C programs of ``programs/`` built as x86-64 Windows executables."""
    need(shutil.which(MINGW) is not None, f"{MINGW} not found: apt-get install mingw-w64")
    out = tmp_path_factory.mktemp("winprogs")
    built: dict[str, bytes] = {}
    for name, libs in PROGRAM_LIBS.items():
        exe = out / f"{name}.exe"
        subprocess.run(
            [MINGW, "-O1", "-s", "-o", str(exe), str(PROGRAMS / f"{name}.c"), *libs], check=True, timeout=120
        )
        built[name] = exe.read_bytes()
    return built


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cape_sim() -> Iterator[tuple[CapeSimulator, str]]:
    """A running CAPE simulator and its API root URL (``http://127.0.0.1:<port>/apiv2``)."""
    sim = CapeSimulator()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(sim.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "CAPE simulator did not start"
    yield sim, f"http://127.0.0.1:{port}/apiv2"
    server.should_exit = True
    thread.join(timeout=10)
