"""The message processor with its real parts, in this process: Azurite (``tests/conftest.py``)
for storage, the simulated tenant over HTTPS for Graph (msgraph-sdk, MSAL), the service's
``Runtime`` built from settings. Tests drive ``MessageProcessor`` and the queue worker directly,
so they can run two attempts side by side or change a setting for one test."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest

from connectors.graph.config import GraphSettings
from connectors.service.runtime import Runtime
from connectors.settings import Settings
from connectors.storage.config import StorageConfig
from connectors.storage.interfaces import WorkQueue
from m365sim.testing import SimHandle, m365sim, m365sim_server  # noqa: F401 - fixtures

T = TypeVar("T")
ADELE = "adele.vance@contoso.test"
PATCH = "PATCH /v1.0/users/{id}/messages/{id}"
MOVE = "POST /v1.0/users/{id}/messages/{id}/move"
SEND = "POST /v1.0/users/{id}/sendMail"


@dataclass
class Service:
    """One runtime against the simulated tenant and a fresh set of Azurite tables and queues."""

    sim: SimHandle
    runtime: Runtime
    tenant_id: str
    #: One event loop for the whole test: the Graph client's connections belong to it.
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def deliver(self, raw: bytes, upn: str = ADELE) -> dict[str, Any]:
        return self.sim.deliver(upn, raw)

    def route(self, key: str) -> int:
        return int(self.sim.stats()["requests"]["by_route"].get(key, 0))

    def folder_of(self, internet_id: str, upn: str = ADELE) -> tuple[str, dict[str, Any]]:
        for folder in self.sim.mailbox(upn)["folders"]:
            for message in folder["messages"]:
                if message.get("internetMessageId") == internet_id:
                    return str(folder["displayName"]), message
        raise AssertionError(f"{internet_id} is in no folder of {upn}")

    def put_policy(self, document: dict[str, Any]) -> None:
        policies = self.runtime.stores.policies
        current = policies.get_policy(self.tenant_id)
        policies.put_policy(self.tenant_id, document, etag=current.etag if current else None, updated_by="test")
        self.runtime.forget_policy(self.tenant_id)


def make_service(
    sim: SimHandle, storage: StorageConfig, state_dir: Path, graph: dict[str, Any] | None = None, **settings: Any
) -> Service:
    """``graph``: GraphSettings to change (e.g. ``max_retries``); ``settings``: the service's."""
    app = sim.app(0)
    graph_settings = GraphSettings(**{
        "authority_host": sim.base_url,
        "base_url": sim.graph_url,
        "client_id": app["clientId"],
        "client_secret": app["secrets"][0],
        "ca_bundle": sim.ca_path,
        "retry_delay": 0.0,
        **(graph or {}),
    })
    values: dict[str, Any] = {"state_dir": state_dir, "intel_feeds": "", **settings}
    runtime = Runtime.create(Settings(**values), graph_settings=graph_settings, storage=storage)
    return Service(sim, runtime, str(sim.tenant(0)["id"]), asyncio.new_event_loop())


@pytest.fixture
def service_factory(
    m365sim: SimHandle, storage_config: StorageConfig, tmp_path: Path  # noqa: F811
) -> Iterator[Callable[..., Service]]:
    """Build a :class:`Service` with settings of the test's choosing."""
    made: list[Service] = []

    def build(graph: dict[str, Any] | None = None, **settings: Any) -> Service:
        made.append(make_service(m365sim, storage_config, tmp_path / "state", graph, **settings))
        return made[-1]

    yield build
    for service in made:
        service.loop.close()


@pytest.fixture
def service(service_factory: Callable[..., Service]) -> Service:
    return service_factory()


def mail(
    message_id: str,
    *,
    sender: str = "Docs <docs@partner.example>",
    subject: str = "notes",
    html: str = '<p>See <a href="https://partner.example/notes">the notes</a></p>',
    files: dict[str, bytes] | None = None,
    to: str = ADELE,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(html, subtype="html")
    for name, data in (files or {}).items():
        main, sub = ("application", "pdf") if name.endswith(".pdf") else ("application", "octet-stream")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes()


def drain(queue: WorkQueue) -> list[dict[str, Any]]:
    """Every item visible on ``queue`` now, removed from it."""
    out: list[dict[str, Any]] = []
    while items := queue.receive(max_messages=32, visibility_timeout=60):
        for item in items:
            out.append(json.loads(item.content))
            queue.delete(item)
    return out





@pytest.fixture
def pages() -> Iterator[str]:
    """Pages on loopback for the time-of-click analysis of the re-check to fetch."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>Label</title><h1>Your parcel label</h1><p>Print it.</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
