"""Fixtures: the m365sim simulator over HTTPS on loopback and connector settings pointing at it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest

from connectors.graph.config import GraphSettings
from m365sim.testing import SimHandle, m365sim, m365sim_server, receiver  # noqa: F401 - fixtures

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
