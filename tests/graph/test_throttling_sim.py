"""Retry on 429 honouring Retry-After, the per-app concurrency limit, and $batch."""

from __future__ import annotations

import asyncio

import pytest

from connectors.graph import BatchRequest, GraphApiError, GraphApp, fetch_message
from connectors.graph.config import GraphSettings
from m365sim.testing import SimHandle

from .conftest import ADELE, mail, make_settings, run

# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")

FETCH_ROUTE = "GET /v1.0/users/{id}/messages/{id}"


def test_429_retried_with_retry_after(sim: SimHandle, tenant_id: str) -> None:
    ids = [sim.deliver(ADELE, mail(f"T{i}"))["immutableId"] for i in range(3)]
    sim.faults(error_rate=0.5, error_status=429, routes=[FETCH_ROUTE], seed=7)
    settings = make_settings(sim, max_retries=8)

    async def go() -> list[str]:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            return [(await fetch_message(graph, ADELE, i)).message.subject for i in ids]

    assert run(go()) == ["T0", "T1", "T2"]
    stats = sim.stats()["requests"]
    assert stats["faults"][FETCH_ROUTE] >= 1  # 429s happened and were absorbed
    assert stats["by_route"][FETCH_ROUTE] == 3 + stats["faults"][FETCH_ROUTE]


def test_retry_count_is_configurable(sim: SimHandle, tenant_id: str) -> None:
    msg_id = sim.deliver(ADELE, mail("Always throttled"))["immutableId"]
    sim.faults(error_rate=1.0, error_status=429, routes=[FETCH_ROUTE])
    settings = make_settings(sim, max_retries=2)

    async def go() -> None:
        async with GraphApp(settings) as app:
            await fetch_message(app.tenant(tenant_id), ADELE, msg_id)

    with pytest.raises(GraphApiError) as err:
        run(go())
    assert err.value.status == 429
    assert sim.stats()["requests"]["by_route"][FETCH_ROUTE] == 3  # first attempt + 2 retries


def _concurrent_fetches(sim: SimHandle, settings: GraphSettings, tenant_id: str, ids: list[str]) -> int:
    async def go() -> int:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            await graph.access_token()
            results = await asyncio.gather(*(fetch_message(graph, ADELE, i) for i in ids))
            return len(results)

    return run(go())


def test_concurrency_limit_keeps_under_graph_limit(sim: SimHandle, tenant_id: str) -> None:
    ids = [sim.deliver(ADELE, mail(f"C{i}"))["immutableId"] for i in range(12)]
    sim.faults(latency_ms=80, routes=[FETCH_ROUTE])  # requests overlap
    assert _concurrent_fetches(sim, make_settings(sim), tenant_id, ids) == 12
    assert sim.stats()["requests"]["throttled"] == {}
    # Without our limit the sim's 4-per-app cap answers 429; the retries still get through.
    sim.reset_stats()
    assert _concurrent_fetches(sim, make_settings(sim, max_concurrency=12), tenant_id, ids) == 12
    assert sum(sim.stats()["requests"]["throttled"].values()) > 0


def test_batch(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    ids = [sim.deliver(ADELE, mail(f"B{i}"))["immutableId"] for i in range(23)]

    async def go() -> list[tuple[int, str]]:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            requests = [
                BatchRequest("GET", f"/users/{ADELE}/messages/{i}?$select=subject") for i in ids
            ]
            requests.append(BatchRequest("PATCH", f"/users/{ADELE}/messages/{ids[0]}", {"categories": ["B"]}))
            responses = await graph.batch(requests)
            return [(r.status, (r.body or {}).get("subject", "")) for r in responses]

    results = run(go())
    assert [s for s, _ in results] == [200] * 24
    assert [subject for _, subject in results[:23]] == [f"B{i}" for i in range(23)]
    stats = sim.stats()["requests"]
    assert stats["by_route"]["POST /v1.0/$batch"] == 2  # 20 + 4
    assert stats["batch_subrequests"] == 24


def test_batch_retries_throttled_subrequests(sim: SimHandle, tenant_id: str) -> None:
    ids = [sim.deliver(ADELE, mail(f"R{i}"))["immutableId"] for i in range(6)]
    sim.faults(error_rate=0.5, error_status=429, routes=[FETCH_ROUTE], seed=3)
    settings = make_settings(sim, max_retries=8)

    async def go() -> list[int]:
        async with GraphApp(settings) as app:
            responses = await app.tenant(tenant_id).batch(
                [BatchRequest("GET", f"/users/{ADELE}/messages/{i}?$select=id") for i in ids]
            )
            return [r.status for r in responses]

    assert run(go()) == [200] * 6
    assert sim.stats()["requests"]["faults"][FETCH_ROUTE] >= 1


PATCH_ROUTE = "PATCH /v1.0/users/{id}/messages/{id}"


def _patch_body(sim: SimHandle, tenant_id: str, msg_id: str) -> None:
    from connectors.graph.remediation import Remediator

    async def go() -> None:
        async with GraphApp(make_settings(sim, max_retries=2)) as app:
            await Remediator(app.tenant(tenant_id)).patch_body(ADELE, msg_id, "<p>rewritten</p>")

    run(go())


def test_an_effect_is_not_sent_again_after_a_gateway_timeout(sim: SimHandle, tenant_id: str) -> None:
    # A 504 may come after Graph applied the edit: sending it again would apply it twice.
    msg_id = sim.deliver(ADELE, mail("Edit once"))["immutableId"]
    sim.faults(error_rate=1.0, error_status=504, routes=[PATCH_ROUTE])
    with pytest.raises(GraphApiError) as err:
        _patch_body(sim, tenant_id, msg_id)
    assert err.value.status == 504
    assert sim.stats()["requests"]["by_route"][PATCH_ROUTE] == 1


@pytest.mark.parametrize("status", [429, 503])
def test_an_effect_graph_did_not_serve_is_retried(sim: SimHandle, tenant_id: str, status: int) -> None:
    msg_id = sim.deliver(ADELE, mail("Throttled edit"))["immutableId"]
    sim.faults(error_rate=1.0, error_status=status, routes=[PATCH_ROUTE])
    with pytest.raises(GraphApiError):
        _patch_body(sim, tenant_id, msg_id)
    assert sim.stats()["requests"]["by_route"][PATCH_ROUTE] == 3  # first attempt + 2 retries


def test_a_read_is_retried_after_a_gateway_timeout(sim: SimHandle, tenant_id: str) -> None:
    msg_id = sim.deliver(ADELE, mail("Read again"))["immutableId"]
    sim.faults(error_rate=1.0, error_status=504, routes=[FETCH_ROUTE])

    async def go() -> None:
        async with GraphApp(make_settings(sim, max_retries=2)) as app:
            await fetch_message(app.tenant(tenant_id), ADELE, msg_id)

    with pytest.raises(GraphApiError):
        run(go())
    assert sim.stats()["requests"]["by_route"][FETCH_ROUTE] == 3
