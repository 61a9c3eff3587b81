"""The simulated RDAP registry of the local stack, tests and ``bench/``: ``python -m rdapsim`` as
its own process, driven over HTTP only (its ``/_sim`` control API; see rdapsim/README.md).
Product code never imports rdapsim, so the one client of its control API lives here.

    from connectors.devstack.rdap import simulated_rdap
    with simulated_rdap() as rdap:
        rdap.set_domain("fresh-login.xyz", registered_days_ago=2)
        rdap.write_bootstrap(tmp_path / "dns.json")   # point TAP365_RDAP_BOOTSTRAP here
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY = "rdapsim ready "


@dataclass
class RdapSimClient:
    """The ``/_sim`` control API of a running rdapsim (and its RDAP base URL)."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        self.session.trust_env = False  # a proxy from the environment must not see loopback calls

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/_sim{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def domain(self, name: str, **kwargs: Any) -> requests.Response:
        """A plain RDAP query, as a client sends it."""
        return self.session.get(f"{self.base_url}/domain/{name}", timeout=kwargs.pop("timeout", 30), **kwargs)

    def set_domain(self, name: str, **fields: Any) -> dict[str, Any]:
        """``registered`` (RFC 3339) or ``registered_days_ago``; ``behaviour`` and its knobs."""
        return self.control("PUT", f"/domains/{name}", json=fields)  # type: ignore[no-any-return]

    def forget_domains(self) -> None:
        self.control("DELETE", "/domains")

    def set_limits(self, rps: int | None) -> None:
        self.control("PUT", "/limits", json={"requests_per_second": rps})

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "/stats")  # type: ignore[no-any-return]

    def reset_stats(self) -> None:
        self.control("POST", "/stats/reset")

    def reset(self) -> None:
        self.control("POST", "/reset")

    def bootstrap(self, tlds: list[str] | None = None) -> dict[str, Any]:
        params = {"tlds": ",".join(tlds)} if tlds is not None else None
        return self.control("GET", "/bootstrap", params=params)  # type: ignore[no-any-return]

    def write_bootstrap(self, path: str | Path, tlds: list[str] | None = None) -> Path:
        target = Path(path)
        target.write_text(json.dumps(self.bootstrap(tlds), indent=2), encoding="utf-8")
        return target

    def close(self) -> None:
        self.session.close()


@contextlib.contextmanager
def simulated_rdap(default: str = "old", timeout: float = 30.0) -> Iterator[RdapSimClient]:
    """Run ``python -m rdapsim --port 0`` until the block ends (also on error)."""
    with tempfile.TemporaryFile() as stderr:
        # cwd: the project root, so the package is found even where it is not installed.
        process = subprocess.Popen(
            [sys.executable, "-m", "rdapsim", "--port", "0", "--default", default],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        client: RdapSimClient | None = None
        try:
            line = _ready_line(process, timeout)
            if not line.startswith(READY):
                from connectors.devstack.stack import StackError  # the stack module imports this one

                stderr.seek(0)
                tail = stderr.read().decode("utf-8", "replace")[-2000:]
                raise StackError(f"rdapsim did not start (it printed {line!r}); stderr:\n{tail}")
            client = RdapSimClient(line.removeprefix(READY).strip())
            yield client
        finally:
            if client is not None:
                client.close()
            stop_process(process)


def _ready_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line, or "" if none came within ``timeout`` (a reader thread, because
    readline alone would wait forever on a process that hangs before printing)."""
    lines: list[str] = []
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.append(stdout.readline() if stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].strip() if lines else ""


def stop_process(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()
