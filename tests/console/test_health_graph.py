"""The health page's Graph checks (``tap365 doctor``'s) against the simulated tenant over real
HTTPS with the real SDKs, and its time limit when Graph is slow."""

from __future__ import annotations

from pathlib import Path

from connectors.console.app import ConsoleApp
from connectors.service.runtime import Runtime
from connectors.settings import Settings
from connectors.storage.azure import AzureStores
from m365sim.testing import SimHandle, m365sim, m365sim_server  # noqa: F401 - fixtures
from tests.graph.conftest import make_settings

from .conftest import PLATFORM, Client, signed_in, text


def _client(sim: SimHandle, stores: AzureStores, tmp_path: Path, **settings: float) -> Client:
    tenant = str(sim.tenant(0)["id"]).lower()
    runtime = Runtime.create(Settings(state_dir=tmp_path, home_tenant_id=tenant, **settings),  # type: ignore[arg-type]
                             graph_settings=make_settings(sim), storage=stores.config)
    return Client(ConsoleApp(runtime, environ=PLATFORM), signed_in("it-admin@contoso.test", tenant=tenant))


def test_health_runs_the_doctor_checks(m365sim: SimHandle, stores: AzureStores, tmp_path: Path) -> None:  # noqa: F811
    r = _client(m365sim, stores, tmp_path).get("/health")
    body = text(r)
    assert r.status == 200
    assert '<span class="ok">obtained</span>' in body
    assert "Mail.ReadWrite" in body  # the permissions the token carries
    assert "<h3>Hidden folders</h3>" in body and "adele.vance@contoso.test" in body
    assert 'id="graph-error"' not in body


def test_health_says_when_graph_is_too_slow(m365sim: SimHandle, stores: AzureStores, tmp_path: Path) -> None:  # noqa: F811
    m365sim.faults(latency_ms=3000, routes=["GET /v1.0/subscriptions"])
    try:
        r = _client(m365sim, stores, tmp_path, console_graph_timeout_seconds=0.5).get("/health")
    finally:
        m365sim.faults()
    body = text(r)
    assert r.status == 200
    assert "Microsoft Graph did not answer within 0.5 s." in body
    assert "Subscriptions the service keeps" in body  # the rest of the page is there
