"""Helpers for tests, the demo and benchmarks: start the simulator, talk to it, receive its
notifications.

    from m365sim.testing import run_sim
    with run_sim() as sim:               # HTTPS on 127.0.0.1, a free port, a temporary state
        token = sim.token()              # TAP app in Contoso, client-credentials with the secret
        sim.deliver("adele.vance@contoso.test", raw_eml)

pytest: ``pytest_plugins = ["m365sim.testing"]`` (or import the fixtures) gives
``m365sim_server`` (one simulator per session) and ``m365sim`` (the same one, reset to the seed
before each test and with notification backoffs scaled down).
"""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from . import certs
from .directory import default_seed, load_seed_file
from .server import ThreadedServer
from .state import SimState

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Scaled-down timings for tests: retries after ~30 ms instead of 30 s, a 14 s retry window.
FAST_CONFIG: dict[str, Any] = {"notification_time_scale": 0.001, "validation_timeout_seconds": 5.0}


def http_session(ca_path: str | Path) -> requests.Session:
    """A requests session trusting the sim CA. ``trust_env=False`` because REQUESTS_CA_BUNDLE
    in the environment would otherwise override ``verify``."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_path)
    return session


@dataclass
class SimHandle:
    base_url: str
    ca_path: str
    state_dir: Path
    state: SimState | None = None  # in-process (thread mode) only
    _session: requests.Session | None = field(default=None, repr=False)

    # Plumbing -----------------------------------------------------------------------

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = http_session(self.ca_path)
        return self._session

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/_sim{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # Seed lookups -------------------------------------------------------------------

    @property
    def seed(self) -> dict[str, Any]:
        return self.control("GET", "/seed")  # type: ignore[no-any-return]

    def tenant(self, ref: str | int = 0) -> dict[str, Any]:
        tenants = self.seed["tenants"]
        if isinstance(ref, int):
            return tenants[ref]  # type: ignore[no-any-return]
        for tenant in tenants:
            if ref.lower() in (tenant["id"], tenant["domain"]):
                return tenant  # type: ignore[no-any-return]
        raise KeyError(ref)

    def app(self, ref: str | int = 0) -> dict[str, Any]:
        apps = self.seed["apps"]
        if isinstance(ref, int):
            return apps[ref]  # type: ignore[no-any-return]
        for app in apps:
            if ref.lower() in (app["clientId"], app["displayName"].lower()):
                return app  # type: ignore[no-any-return]
        raise KeyError(ref)

    def authority(self, tenant: str | int = 0) -> str:
        return f"{self.base_url}/{self.tenant(tenant)['id']}"

    # Auth ---------------------------------------------------------------------------

    def token(self, tenant: str | int = 0, app: str | int = 0, secret: str | None = None) -> str:
        """A Graph access token via a raw client-credentials request (no MSAL cache)."""
        app_info = self.app(app)
        response = self.session.post(
            f"{self.authority(tenant)}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app_info["clientId"],
                "client_secret": secret or app_info["secrets"][0],
                "scope": GRAPH_SCOPE,
            },
            timeout=30,
        )
        body = response.json()
        if "access_token" not in body:
            raise RuntimeError(f"token request failed: {body}")
        return body["access_token"]  # type: ignore[no-any-return]

    def msal_app(self, tenant: str | int = 0, app: str | int = 0, certificate: bool = False) -> Any:
        """A real ``msal.ConfidentialClientApplication`` pointed at the sim."""
        import msal  # dev dependency, only needed here

        app_info = self.app(app)
        if certificate:
            cert = app_info["certificates"][0]
            credential: Any = {
                "private_key": Path(cert["keyPath"]).read_text(encoding="ascii"),
                "public_certificate": cert["pem"],
            }
        else:
            credential = app_info["secrets"][0]
        return msal.ConfidentialClientApplication(
            app_info["clientId"],
            client_credential=credential,
            authority=self.authority(tenant),
            instance_discovery=False,
            http_client=http_session(self.ca_path),
        )

    def credential(
        self, tenant: str | int = 0, app: str | int = 0, certificate: bool = False
    ) -> MsalCredential:
        """An azure-core style credential (``get_token``) backed by MSAL, for msgraph-sdk."""
        return MsalCredential(self.msal_app(tenant, app, certificate))

    def graph_service_client(
        self, tenant: str | int = 0, app: str | int = 0, certificate: bool = False
    ) -> tuple[Any, Any]:
        """(``GraphServiceClient``, its ``httpx.AsyncClient``) pointed at the sim.

        msgraph-sdk needs: ``allowed_hosts`` including 127.0.0.1 (or it silently sends no
        token), the Graph scope (it would derive one from the sim's host), a trusted CA, and
        ``base_url`` without a trailing slash. Close the httpx client when done (it is async).
        """
        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph import GraphRequestAdapter, GraphServiceClient
        from msgraph_core import GraphClientFactory

        auth = AzureIdentityAuthenticationProvider(
            self.credential(tenant, app, certificate),
            scopes=[GRAPH_SCOPE],
            allowed_hosts=["127.0.0.1", "localhost"],
        )
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=self.ca_path, trust_env=False, timeout=30)
        )
        adapter = GraphRequestAdapter(auth, http)
        adapter.base_url = self.graph_url
        return GraphServiceClient(request_adapter=adapter), http

    def graph(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.session.request(method, f"{self.graph_url}{path}", headers=headers, timeout=30, **kwargs)

    # Control API shortcuts ----------------------------------------------------------

    def deliver(self, user: str | None, raw: bytes | str, **params: str) -> dict[str, Any]:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        query = dict(params)
        if user:
            query["user"] = user
        response = self.session.post(
            f"{self.base_url}/_sim/deliver",
            params=query,
            data=data,
            headers={"Content-Type": "message/rfc822"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def reset(self) -> None:
        self.control("POST", "/reset")

    def configure(self, **values: Any) -> dict[str, Any]:
        return self.control("POST", "/config", json=values)  # type: ignore[no-any-return]

    def faults(self, **values: Any) -> dict[str, Any]:
        return self.control("POST", "/faults", json=values)  # type: ignore[no-any-return]

    def grant(self, permissions: list[str], tenant: str | int = 0, app: str | int = 0, **extra: Any) -> Any:
        body = {"tenant": self.tenant(tenant)["id"], "app": self.app(app)["clientId"]}
        return self.control("POST", "/grants", json={**body, "permissions": permissions, **extra})

    def lifecycle(self, subscription_id: str, event: str) -> dict[str, Any]:
        return self.control(  # type: ignore[no-any-return]
            "POST", "/lifecycle", json={"subscription_id": subscription_id, "event": event}
        )

    def mailbox(self, upn: str) -> dict[str, Any]:
        return self.control("GET", f"/mailbox/{upn}")  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "/stats")  # type: ignore[no-any-return]

    def reset_stats(self) -> None:
        self.control("POST", "/stats/reset")

    def drain(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the sim has no notification delivery in flight."""
        return self.control("POST", f"/notifications/drain?timeout={timeout}")  # type: ignore[no-any-return]

    def advance_clock(self, seconds: float) -> None:
        self.control("POST", "/clock", json={"advance": seconds})


class MsalCredential:
    """Implements azure-core's ``TokenCredential.get_token`` with an MSAL confidential client."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        result = self._app.acquire_token_for_client(list(scopes))
        if "access_token" not in result:
            raise RuntimeError(f"token request failed: {result.get('error_description')}")
        return AccessToken(result["access_token"], int(time.time()) + int(result["expires_in"]))

    def close(self) -> None:
        pass


def _load_seed(seed: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    if seed is None:
        return default_seed()
    if isinstance(seed, dict):
        return seed
    return load_seed_file(Path(seed))


@contextlib.contextmanager
def run_sim(
    seed: str | Path | dict[str, Any] | None = None,
    state_dir: str | Path | None = None,
    config: dict[str, Any] | None = None,
    mode: str = "thread",
    port: int = 0,
    persist: bool = False,
) -> Iterator[SimHandle]:
    """Start the simulator (``mode="thread"`` in-process, or ``"subprocess"`` via
    ``python -m m365sim``), yield a :class:`SimHandle`, and always stop it."""
    with contextlib.ExitStack() as stack:
        if state_dir is None:
            state_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="m365sim-"))
        path = Path(state_dir)
        seed_doc = _load_seed(seed)
        if config:
            seed_doc = {**seed_doc, "config": {**(seed_doc.get("config") or {}), **config}}
        if mode == "thread":
            state = SimState(seed_doc, path, persist=persist)
            server = ThreadedServer(state, port)
            url = server.start()
            stack.callback(server.stop)
            handle = SimHandle(url, str(state.ca_path), path, state)
        elif mode == "subprocess":
            handle = stack.enter_context(_subprocess(seed_doc, path, port, persist))
        else:
            raise ValueError("mode must be 'thread' or 'subprocess'")
        stack.callback(handle.close)
        yield handle


@contextlib.contextmanager
def _subprocess(seed: dict[str, Any], state_dir: Path, port: int, persist: bool) -> Iterator[SimHandle]:
    seed_file = state_dir / "seed.json"
    seed_file.write_text(json.dumps(seed), encoding="utf-8")
    command = [sys.executable, "-m", "m365sim", "--port", str(port), "--state", str(state_dir)]
    command += ["--seed", str(seed_file)] + (["--persist"] if persist else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline().strip() if process.stdout else ""
        if not line.startswith("m365sim ready "):
            raise RuntimeError(f"m365sim did not start (got {line!r})")
        yield SimHandle(line.split(" ", 2)[2], str(state_dir / certs.CA_FILE), state_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


# A notification receiver ------------------------------------------------------------------


class LoopbackEndpoint:
    """A threaded HTTP(S) server on loopback with ``/notify`` and ``/lifecycle`` URLs, serving
    the handler a subclass gives: what a notification URL looks like to Graph."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], https_ca_dir: str | Path | None = None) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        scheme = "http"
        if https_ca_dir is not None:
            self._server.socket = _receiver_tls(Path(https_ca_dir)).wrap_socket(
                self._server.socket, server_side=True
            )
            scheme = "https"
        self.base = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.base}/notify"

    @property
    def lifecycle_url(self) -> str:
        return f"{self.base}/lifecycle"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class Receiver(LoopbackEndpoint):
    """A tiny threaded HTTP(S) endpoint for change and lifecycle notifications.

    Answers Graph's validation handshake (``?validationToken=``) with the decoded token as
    text/plain; records every notification. Behaviour knobs (change them any time):
    ``status`` for notifications, ``delay`` seconds before answering, ``fail_first`` to answer
    500 to the first N notification POSTs, ``validation`` = "echo" | "wrong" | "error" | "html"
    | "slow" (sleeps ``validation_delay``).
    """

    def __init__(self, https_ca_dir: str | Path | None = None) -> None:
        self.status = 202
        self.delay = 0.0
        self.fail_first = 0
        self.validation = "echo"
        self.validation_delay = 0.0
        self.notifications: list[dict[str, Any]] = []
        self.lifecycle: list[dict[str, Any]] = []
        self.validations: list[str] = []
        self.posts = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        super().__init__(self._handler_class(), https_ca_dir)

    def wait_for(self, count: int, timeout: float = 10.0, lifecycle: bool = False) -> list[dict[str, Any]]:
        items = self.lifecycle if lifecycle else self.notifications
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return list(items)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as separate writes
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                token = parse_qs(parts.query).get("validationToken")
                if token:
                    receiver._validate(self, token[0])
                    return
                with receiver._changed:
                    receiver.posts += 1
                    attempt = receiver.posts
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = 500 if attempt <= receiver.fail_first else receiver.status
                if 200 <= status < 300:
                    items = json.loads(body or b"{}").get("value", [])
                    with receiver._changed:
                        target = receiver.lifecycle if parts.path == "/lifecycle" else receiver.notifications
                        target.extend(items)
                        receiver._changed.notify_all()
                try:
                    self._reply(status)
                except OSError:
                    pass  # the sim gave up waiting (timeout): nothing to answer

        return Handler

    def _validate(self, handler: Any, token: str) -> None:
        with self._changed:
            self.validations.append(token)
        mode = self.validation
        if mode == "slow":
            time.sleep(self.validation_delay)
            mode = "echo"
        if mode == "echo":
            handler._reply(200, token.encode("utf-8"), "text/plain; charset=utf-8")
        elif mode == "wrong":
            handler._reply(200, b"not-the-token", "text/plain")
        elif mode == "html":
            handler._reply(200, token.encode("utf-8"), "text/html")
        else:
            handler._reply(500)


def _receiver_tls(state_dir: Path) -> ssl.SSLContext:
    """TLS for a receiver, with a certificate issued by the sim CA (which the sim trusts)."""
    ca = certs.ensure_ca(state_dir)
    pair = certs.issue_server_cert(ca, state_dir / "receiver.pem", state_dir / "receiver-key.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pair.cert_path), str(pair.key_path))
    return context


# pytest fixtures ----------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - pytest is a dev dependency
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def m365sim_server(tmp_path_factory: Any) -> Iterator[SimHandle]:
        """One simulator for the whole test session (in-process, HTTPS, free port)."""
        with run_sim(state_dir=tmp_path_factory.mktemp("m365sim")) as sim:
            yield sim

    @pytest.fixture
    def m365sim(m365sim_server: SimHandle) -> SimHandle:
        """The session simulator, reset to the seed, with test-speed notification timings."""
        m365sim_server.reset()
        m365sim_server.configure(**FAST_CONFIG)
        return m365sim_server

    @pytest.fixture
    def receiver() -> Iterator[Receiver]:
        with Receiver() as endpoint:
            yield endpoint
