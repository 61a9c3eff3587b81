"""The simulated RDAP registry of the local stack: ``python -m rdapsim`` as its own process,
driven over HTTP only (its ``/_sim`` control API; see rdapsim/README.md). Product code never
imports rdapsim, so the few control calls the demo, e2e tests and ``bench/`` need live here."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RdapSimControl:
    """The simulated registry: its base URL and its control API."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        self.session.trust_env = False  # loopback: no proxy from the environment

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/_sim{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def set_domain(self, name: str, **fields: Any) -> dict[str, Any]:
        """``registered`` (RFC 3339) or ``registered_days_ago``; ``behaviour`` and its knobs."""
        return self.control("PUT", f"/domains/{name}", json=fields)  # type: ignore[no-any-return]

    def forget_domains(self) -> None:
        self.control("DELETE", "/domains")

    def set_limits(self, rps: int | None) -> None:
        self.control("PUT", "/limits", json={"requests_per_second": rps})

    def stats(self) -> dict[str, Any]:
        """``requests``, ``by_domain`` and ``rate_limited`` counts of ``/domain/`` queries."""
        return self.control("GET", "/stats")  # type: ignore[no-any-return]

    def reset_stats(self) -> None:
        self.control("POST", "/stats/reset")

    def reset(self) -> None:
        self.control("POST", "/reset")

    def write_bootstrap(self, path: Path, tlds: list[str] | None = None) -> Path:
        """An IANA bootstrap file naming this registry (for every built-in TLD by default)."""
        params = {"tlds": ",".join(tlds)} if tlds is not None else None
        document = self.control("GET", "/bootstrap", params=params)
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")
        return path


@contextlib.contextmanager
def simulated_rdap() -> Iterator[RdapSimControl]:
    # cwd: the project root, where ``-m rdapsim`` is found even without an installed package.
    command = [sys.executable, "-m", "rdapsim", "--port", "0"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    client: RdapSimControl | None = None
    try:
        line = process.stdout.readline().strip() if process.stdout else ""
        if not line.startswith("rdapsim ready "):
            # Imported here: the stack module imports this one.
            from connectors.devstack.stack import StackError

            raise StackError(f"the simulated RDAP registry did not start (it printed {line!r})")
        client = RdapSimControl(line.split(" ", 2)[2])
        yield client
    finally:
        if client is not None:
            client.session.close()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
