"""Fixtures: the m365sim simulator over HTTPS on loopback and connector settings pointing at it;
Azurite-backed stores and the service's own notification intake behind a loopback endpoint."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest

from connectors.graph.config import GraphSettings
from connectors.service.intake import HttpResult, handle_lifecycle, handle_notifications
from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import WorkQueue
from m365sim.testing import LoopbackEndpoint, SimHandle, m365sim, m365sim_server, receiver  # noqa: F401 - fixtures

T = TypeVar("T")
ADELE = "adele.vance@contoso.test"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_settings(sim: SimHandle, **overrides: Any) -> GraphSettings:
    app = sim.app(0)
    values: dict[str, Any] = {
        "authority_host": sim.base_url,
        "base_url": sim.graph_url,
        "client_id": app["clientId"],
        "client_secret": app["secrets"][0],
        "ca_bundle": sim.ca_path,
        "retry_delay": 0.0,
        **overrides,
    }
    return GraphSettings(**values)


@pytest.fixture
def sim(m365sim: SimHandle) -> SimHandle:  # noqa: F811 - the imported fixture
    return m365sim


@pytest.fixture
def settings(sim: SimHandle) -> GraphSettings:
    return make_settings(sim)


@pytest.fixture
def tenant_id(sim: SimHandle) -> str:
    return str(sim.tenant(0)["id"])


@pytest.fixture
def cert_pem(sim: SimHandle, tmp_path: Path) -> Path:
    """The app certificate and its key in one PEM, as the connector expects."""
    cert = sim.app(0)["certificates"][0]
    path = tmp_path / "app-cert.pem"
    path.write_text(cert["pem"].strip() + "\n" + Path(cert["keyPath"]).read_text(encoding="ascii"))
    return path


def mail(
    subject: str = "Quarterly report", attachments: int = 1, size: int = 2048, item: bool = False
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@evil.test>"
    msg["To"] = ADELE
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}.{attachments}.{size}@evil.test>"
    msg.set_content("See https://evil.test/login")
    msg.add_alternative('<p>See <a href="https://evil.test/login">the report</a></p>', subtype="html")
    for i in range(attachments):
        data = bytes([i % 256]) * size
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=f"r{i}.pdf")
    if item:
        inner = EmailMessage()
        inner["From"] = "boss@contoso.test"
        inner["To"] = ADELE
        inner["Subject"] = "Forwarded invoice"
        inner.set_content("Pay https://pay.evil.test/now")
        msg.add_attachment(inner)
    return msg.as_bytes()


def graph_requests(sim: SimHandle) -> int:
    return int(sim.stats()["requests"]["total"])


# -- Azurite and the notification intake ----------------------------------------------------------
# (azurite_instance and stores come from tests/conftest.py)


def drain(queue: WorkQueue) -> list[dict[str, Any]]:
    """Everything queued so far (as the processing function would read it), removed from the queue."""
    out: list[dict[str, Any]] = []
    while items := queue.receive(max_messages=32, visibility_timeout=60):
        for item in items:
            out.append(json.loads(item.content))
            queue.delete(item)
    return out


@dataclass
class Answer:
    path: str
    result: HttpResult

    @property
    def counts(self) -> dict[str, int]:
        return dict(json.loads(self.result.body))


class IntakeEndpoint(LoopbackEndpoint):
    """``/notify`` and ``/lifecycle`` on loopback, answered by the service's intake
    (``handle_notifications`` / ``handle_lifecycle``) with the Azurite-backed subscription store
    and work queue: what the Functions app does, without the Functions host."""

    def __init__(self, stores: AzureStores) -> None:
        self.stores = stores
        self.answers: list[Answer] = []
        self._changed = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                split = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                handle = handle_lifecycle if split.path == "/lifecycle" else handle_notifications
                result = handle(
                    dict(parse_qsl(split.query)),
                    body,
                    subscriptions=endpoint.stores.subscriptions,
                    queue=endpoint.stores.notifications,
                )
                self._send(result)
                with endpoint._changed:
                    endpoint.answers.append(Answer(split.path, result))
                    endpoint._changed.notify_all()

            def _send(self, result: HttpResult) -> None:
                body = result.body.encode()
                self.send_response(result.status)
                self.send_header("Content-Type", result.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in result.headers.items():  # e.g. the handshake's nosniff
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    def handshakes(self, path: str = "/notify") -> list[Answer]:
        return [a for a in self.answers if a.path == path and a.result.content_type == "text/plain"]

    def wait_for(self, count: int, path: str = "/notify", timeout: float = 10.0) -> list[Answer]:
        """The first ``count`` notification answers (handshakes excluded) on ``path``."""
        def matching() -> list[Answer]:
            return [a for a in self.answers if a.path == path and a.result.content_type != "text/plain"]

        with self._changed:
            self._changed.wait_for(lambda: len(matching()) >= count, timeout)
            found = matching()
        assert len(found) >= count, f"{len(found)} of {count} notification(s) reached {path}"
        return found[:count]


@pytest.fixture
def intake(stores: AzureStores) -> Iterator[IntakeEndpoint]:
    endpoint = IntakeEndpoint(stores)
    yield endpoint
    endpoint.close()
