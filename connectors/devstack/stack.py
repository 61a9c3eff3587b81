"""The whole service on one machine: Azurite, the simulated tenant, the simulated RDAP registry
and the local Functions host.

Used by ``tap365 demo`` and the end-to-end tests. The simulated tenant runs as its own process
(``python -m m365sim``) and is driven only over HTTP (its Graph API and ``/_sim`` control API):
product code never imports it; so is the simulated RDAP registry (``python -m rdapsim``, see
``connectors/devstack/rdap.py``), named to the host by ``TAP365_RDAP_BOOTSTRAP``. Everything
started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from connectors.devstack.azurite import AzuriteServer, azurite_server
from connectors.devstack.rdap import RdapSimClient, simulated_rdap
from connectors.localhost.host import LocalHost

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class StackError(RuntimeError):
    """A part of the local stack did not start; the message says which and why."""


def siem_credentials(tenant_ids: list[str]) -> dict[str, str]:
    """``TAP365_SIEM_PRINCIPAL`` / ``TAP365_SIEM_SECRET`` with principal ``siem-<n>`` for the n-th tenant."""
    secrets_ = {f"siem-{n}": secrets.token_urlsafe(16) for n in range(len(tenant_ids))}
    return {
        "TAP365_SIEM_PRINCIPAL": ",".join(f"siem-{n}={t}" for n, t in enumerate(tenant_ids)),
        "TAP365_SIEM_SECRET": ",".join(f"{p}={v}" for p, v in secrets_.items()),
    }


def siem_login(env: Mapping[str, str], n: int = 0) -> tuple[str, str]:
    """The n-th tenant's SIEM principal and secret from a stack's environment."""
    pairs = dict(p.split("=", 1) for p in env.get("TAP365_SIEM_SECRET", "").split(",") if "=" in p)
    return f"siem-{n}", pairs.get(f"siem-{n}", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SimClient:
    """HTTP client for the simulated tenant (trusting its generated CA)."""

    base_url: str
    ca_path: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False
        self.session.verify = self.ca_path

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/_sim{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def seed(self) -> dict[str, Any]:
        return self.control("GET", "/seed")  # type: ignore[no-any-return]

    def deliver(self, upn: str, raw: bytes) -> dict[str, Any]:
        return self.control(
            "POST",
            "/deliver",
            params={"user": upn},
            data=raw,  # type: ignore[no-any-return]
            headers={"Content-Type": "message/rfc822"},
        )

    def mailbox(self, upn: str) -> dict[str, Any]:
        return self.control("GET", f"/mailbox/{upn}")  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "/stats")  # type: ignore[no-any-return]

    def faults(self, **values: Any) -> Any:
        return self.control("POST", "/faults", json=values)

    def lifecycle(self, subscription_id: str, event: str) -> Any:
        return self.control("POST", "/lifecycle", json={"subscription_id": subscription_id, "event": event})

    def grant(self, tenant_id: str, app_id: str, permissions: list[str]) -> Any:
        return self.control(
            "POST", "/grants", json={"tenant": tenant_id, "app": app_id, "permissions": permissions}
        )


@contextlib.contextmanager
def simulated_tenant(state_dir: Path, seed: Path | None = None) -> Iterator[SimClient]:
    command = [sys.executable, "-m", "m365sim", "--port", "0", "--state", str(state_dir)]
    if seed is not None:
        command += ["--seed", str(seed)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline().strip() if process.stdout else ""
        if not line.startswith("m365sim ready "):
            raise StackError(f"the simulated tenant did not start (it printed {line!r})")
        base_url = line.split(" ", 2)[2]
        ca = state_dir / "ca.pem"  # the simulator writes its CA there (see m365sim's README)
        if not ca.exists():
            raise StackError(f"the simulated tenant wrote no CA certificate into {state_dir}")
        yield SimClient(base_url, str(ca))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class HostProcess:
    """The local host as its own process (``tap365 serve``), so a chaos run can kill it outright
    (SIGKILL: no cleanup, work in flight lost mid-step) and start it again on the same port."""

    def __init__(self, app_root: Path, port: int, env: Mapping[str, str], log_path: Path,
                 settings_file: Path | None = None, processing_visibility: float | None = None) -> None:
        self.app_root = app_root
        self.port = port
        self.env = {**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)}
        self.log_path = log_path
        self.settings_file = settings_file
        self.processing_visibility = processing_visibility
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        command = [sys.executable, "-m", "connectors.localhost.cli", "serve", "--port", str(self.port),
                   "--app-root", str(self.app_root)]
        if self.settings_file is not None:
            command += ["--settings", str(self.settings_file)]
        if self.processing_visibility is not None:
            command += ["--processing-visibility", str(self.processing_visibility)]
        with self.log_path.open("ab") as log:
            # Its own process group, so a kill takes any worker processes of the host with it.
            self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(f"http://127.0.0.1:{self.port}/api/health", 120.0)
        except StackError as exc:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise StackError(f"{exc}; the host's log ends with:\n{tail}") from None

    def kill(self) -> None:
        """SIGKILL, as a crashed instance: no function finishes, no queue message is released."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            self.kills += 1

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Stack:
    sim: SimClient
    functions_url: str
    tenant_id: str
    app_id: str
    env: dict[str, str]
    host: LocalHost | HostProcess
    storage: AzuriteServer | None = None
    rdap: RdapSimClient | None = None  # the simulated RDAP registry the host looks domains up in

    @property
    def users(self) -> list[str]:
        tenant = next(t for t in self.sim.seed()["tenants"] if t["id"] == self.tenant_id)
        return [u["userPrincipalName"] for u in tenant["users"]]

    def consent(self, tenant_id: str | None = None) -> requests.Response:
        """What an admin's browser does: /api/consent/start (a cookie and a redirect), Entra's
        admin-consent page (the simulator approves and redirects back with the state), then our
        callback with that cookie. The cookie is Secure, so it is carried by hand over http."""
        params = {"tenant": tenant_id or self.tenant_id}
        start = requests.get(f"{self.functions_url}/api/consent/start", params=params, allow_redirects=False,
                             timeout=60)
        if start.status_code != 302:
            raise StackError(f"consent start answered {start.status_code}: {start.text[:500]}")
        cookie = start.headers["set-cookie"].split(";", 1)[0]
        entra = self.sim.session.get(start.headers["location"], allow_redirects=False, timeout=60)
        if entra.status_code != 302:
            raise StackError(f"the simulated Entra answered {entra.status_code}: {entra.text[:500]}")
        return requests.get(entra.headers["location"], headers={"Cookie": cookie}, timeout=120)

    def onboard(self, tenant_id: str | None = None, timeout: float = 300.0) -> dict[str, Any]:
        """Grant consent, then wait until the workers have subscribed every mailbox."""
        from connectors.storage.azure import AzureStores
        from connectors.storage.config import StorageConfig

        tenant = (tenant_id or self.tenant_id).lower()
        response = self.consent(tenant)
        if response.status_code != 200:
            raise StackError(f"consent callback answered {response.status_code}: {response.text[:500]}")
        stores = AzureStores.open(StorageConfig.from_env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            progress = stores.tenants.get_onboarding(tenant)
            if progress is not None and progress.status == "done":
                return {"status": response.status_code, "mailboxes": progress.mailboxes,
                        "subscribed": progress.subscribed, "errors": progress.errors}
            time.sleep(0.2)
        raise StackError(f"onboarding of {tenant} did not finish within {timeout:.0f}s")


@contextlib.contextmanager
def running_stack(
    *,
    app_root: Path = PROJECT_ROOT,
    extra_env: Mapping[str, str] | None = None,
    host_settings: Path | None = None,
    host_process: bool = False,
    processing_visibility: float | None = None,
) -> Iterator[Stack]:
    """Azurite + simulated tenant + the local Functions host running ``function_app.py``.

    ``host_process``: the host runs as its own process (:class:`HostProcess`, which a chaos run
    kills); ``processing_visibility`` then sets how long its running queue messages stay hidden.
    """
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tap365-stack-")))
        storage = stack.enter_context(azurite_server())
        emulator = storage.emulator
        assert emulator is not None
        sim_dir = work / "m365sim"
        sim_dir.mkdir()
        sim = stack.enter_context(simulated_tenant(sim_dir))
        # Domain ages come from the simulated registry: nothing reaches the internet.
        rdap = stack.enter_context(simulated_rdap())
        rdap_bootstrap = rdap.write_bootstrap(work / "rdap-bootstrap.json")
        seed = sim.seed()
        tenant = seed["tenants"][0]
        app = seed["apps"][0]
        port = free_port()
        functions_url = f"http://127.0.0.1:{port}"
        env = {
            "AzureWebJobsStorage": emulator.connection_string,
            "TAP365_STORAGE_CONNECTION_STRING": emulator.connection_string,
            "TAP365_STATE_DIR": str(work / "state"),
            "TAP365_PUBLIC_BASE_URL": functions_url,
            "TAP365_REDIRECT_BASE_URL": f"{functions_url}/api/r",
            "TAP365_GRAPH_AUTHORITY_HOST": sim.base_url,
            "TAP365_GRAPH_BASE_URL": f"{sim.base_url}/v1.0",
            "TAP365_HOME_TENANT_ID": tenant["id"],
            "TAP365_GRAPH_CLIENT_ID": app["clientId"],
            "TAP365_GRAPH_CLIENT_SECRET": app["secrets"][0],
            "TAP365_GRAPH_CA_BUNDLE": sim.ca_path,
            "TAP365_GRAPH_RETRY_DELAY": "0.2",
            "TAP365_RDAP_ENABLED": "true",
            "TAP365_RDAP_BOOTSTRAP": str(rdap_bootstrap),
            # One simulated server stands for every registry (68 TLDs): its share of each one's rate.
            "TAP365_RDAP_RATE_PER_SECOND": "50",
            # The console signs in the simulated tenant's first user as an admin (loopback only).
            "TAP365_CONSOLE_DEV_IDENTITY":
                f"{tenant['users'][0]['userPrincipalName']},TAP365.Admin,{tenant['id']}",
            # A SIEM pull API principal per simulated tenant (siem-<n>), each with a fresh secret.
            **siem_credentials([str(t["id"]) for t in seed["tenants"]]),
            **(extra_env or {}),
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        stack.callback(_restore, saved)
        from connectors.service.runtime import reset_runtime

        reset_runtime()
        stack.callback(reset_runtime)
        host: LocalHost | HostProcess
        if host_process:
            host = HostProcess(app_root, port, env, work / "host.log", host_settings, processing_visibility)
        else:
            host = LocalHost(app_root, port=port, settings_file=host_settings,
                             processing_visibility=processing_visibility)
        stack.callback(host.stop)
        host.start()
        _wait_http(f"{functions_url}/api/health")
        yield Stack(sim, functions_url, tenant["id"], app["clientId"], env, host, storage, rdap)


def _restore(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise StackError(f"the local Functions host did not answer {url} within {timeout:.0f}s")
