"""Onboarding, the users delta and all-folder coverage, through the service's TenantService and
queue items against m365sim (real Graph SDK and HTTP) and Azurite; Graph's handshakes and
notifications reach the service's intake."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.graph.config import GraphSettings
from connectors.service.admin import AdminApi
from connectors.service.processing import RetryLater
from connectors.service.runtime import Runtime
from connectors.service.tenancy import (
    ONBOARD_LEASE,
    InvalidTenantId,
    OnboardingRefused,
    TenantService,
    canonical_tenant_id,
)
from connectors.service.worker import handle_item
from connectors.settings import Settings
from connectors.storage.config import StorageConfig
from m365sim.directory import default_seed
from m365sim.testing import FAST_CONFIG, SimHandle, run_sim

from .conftest import IntakeEndpoint, drain, mail, make_settings, run

NOTIFY = "/api/graph/notifications"  # where the runtime's subscriptions send notifications
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


def _runtime(sim: SimHandle, storage: StorageConfig, intake: IntakeEndpoint, state: Path,
             graph: GraphSettings, **settings: Any) -> Runtime:
    values: dict[str, Any] = {"public_base_url": intake.base, "home_tenant_id": sim.tenant(0)["id"],
                              "state_dir": state, "allowed_tenants": "", "protected_group_id": "", **settings}
    return Runtime.create(Settings(**values), graph_settings=graph, storage=storage)


@pytest.fixture
def runtime(sim: SimHandle, storage_config: StorageConfig, intake: IntakeEndpoint, tmp_path: Path,
            settings: GraphSettings) -> Iterator[Runtime]:
    yield _runtime(sim, storage_config, intake, tmp_path, settings)


def _mail_users(sim: SimHandle, tenant: int = 0) -> set[str]:
    return {u["userPrincipalName"].lower() for u in sim.tenant(tenant)["users"] if u.get("mail")}


def _graph_subscriptions(sim: SimHandle) -> list[dict[str, Any]]:
    return list(sim.control("GET", "/subscriptions"))


async def _run_queue(runtime: Runtime, kinds: tuple[str, ...] = ("onboard",)) -> list[str]:
    """Run the queued items of these kinds as the worker would, until none is left."""
    outcomes: list[str] = []
    while True:
        items = [i for i in drain(runtime.stores.notifications) if i["kind"] in kinds]
        if not items:
            return outcomes
        for item in items:
            outcomes.append(str(await handle_item(runtime, item)))


def test_tenant_ids_are_canonical() -> None:
    assert canonical_tenant_id(" A1B2C3D4-E5F6-4789-A0B1-C2D3E4F5A6B7 ") == "a1b2c3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"
    for bad in ("contoso.test", "", "a1b2c3d4e5f64789a0b1c2d3e4f5a6b7", "{a1b2c3d4-e5f6-4789-a0b1-c2d3e4f5a6b7}",
                "a1b2c3d4-e5f6-4789-a0b1-c2d3e4f5a6b7/../x"):
        with pytest.raises(InvalidTenantId):
            canonical_tenant_id(bad)


def test_only_the_home_tenant_and_listed_tenants_may_onboard(
    sim: SimHandle, storage_config: StorageConfig, intake: IntakeEndpoint, tmp_path: Path, settings: GraphSettings
) -> None:
    home, other = sim.tenant(0)["id"], sim.tenant(1)["id"]
    service = TenantService(_runtime(sim, storage_config, intake, tmp_path, settings))
    assert service.check_allowed(home.upper()) == home
    with pytest.raises(OnboardingRefused, match="not allowed"):
        service.start_onboarding(other)
    with pytest.raises(InvalidTenantId):
        service.start_onboarding(sim.tenant(0)["domain"])  # a verified domain is not a tenant id
    listed = TenantService(_runtime(sim, storage_config, intake, tmp_path, settings, allowed_tenants=other.upper()))
    assert listed.check_allowed(other) == other
    nobody = TenantService(_runtime(sim, storage_config, intake, tmp_path, settings, home_tenant_id=""))
    with pytest.raises(OnboardingRefused, match="TAP365_HOME_TENANT_ID"):
        nobody.check_allowed(home)
    bad = TenantService(_runtime(sim, storage_config, intake, tmp_path, settings, allowed_tenants="fabrikam.test"))
    with pytest.raises(InvalidTenantId, match="TAP365_ALLOWED_TENANTS"):
        bad.check_allowed(home)
    assert drain(service.stores.notifications) == []  # nothing was queued for a refused tenant


def test_onboarding_runs_in_pages_from_the_queue_resumes_and_is_idempotent(
    sim: SimHandle, runtime: Runtime
) -> None:
    tenant_id = sim.tenant(0)["id"]
    users = _mail_users(sim)
    assert len(users) >= 5
    service = TenantService(runtime)

    async def go() -> None:
        start = service.start_onboarding(tenant_id, page_size=2)
        assert start.started
        # A second consent while it runs (the same tenant upper-cased) queues nothing.
        assert not service.start_onboarding(tenant_id.upper(), page_size=2).started
        (first,) = drain(runtime.stores.notifications)
        assert first == {"kind": "onboard", "tenant_id": tenant_id, "run": start.run, "page": 0, "page_size": 2}
        assert "page 0" in await handle_item(runtime, first)
        (second,) = drain(runtime.stores.notifications)
        assert second["page"] == 1

        # A worker died holding page 1 after subscribing its first user: the page is claimed.
        progress = runtime.stores.tenants.get_onboarding(tenant_id)
        assert progress is not None and progress.pages == 1
        page = await runtime.graph.tenant(tenant_id).get_json(progress.next_link)
        victim = page["value"][0]
        await service.subscribe(tenant_id, victim["userPrincipalName"], victim["id"])
        progress.claimed_by, progress.claimed_until = "dead-worker", datetime.now(UTC) + ONBOARD_LEASE
        runtime.stores.tenants.put_onboarding(progress)
        with pytest.raises(RetryLater):
            await service.onboard_page(second)
        # After the lease the retry takes the page over; the subscribed user is not subscribed again.
        later = datetime.now(UTC) + ONBOARD_LEASE + timedelta(seconds=1)
        assert "1 subscribed" in await service.onboard_page(second, now=later)
        # The same item delivered again (the queue is at least once): nothing is done twice.
        assert "already done" in await service.onboard_page(second)
        drained = drain(runtime.stores.notifications)
        assert [i["page"] for i in drained] == [2, 2]  # the next page, queued again by the duplicate
        for item in drained:
            await handle_item(runtime, item)
        await _run_queue(runtime)

        done = runtime.stores.tenants.get_onboarding(tenant_id)
        assert done is not None and done.status == "done" and done.errors == []
        assert done.mailboxes == len(users) and done.pages == (len(sim.tenant(0)["users"]) + 1) // 2
        subs = runtime.stores.subscriptions.list_subscriptions(tenant_id)
        assert sorted(s.mailbox.lower() for s in subs) == sorted(users)
        assert all(s.resource.endswith("/messages") and "mailFolders" not in s.resource for s in subs)

        # Consent again, the id upper-cased: a new run, no new subscription.
        again = service.start_onboarding(tenant_id.upper(), page_size=4)
        assert again.started and again.tenant_id == tenant_id
        await _run_queue(runtime)
        assert len(runtime.stores.subscriptions.list_subscriptions(tenant_id)) == len(users)
        assert len(runtime.stores.subscriptions.list_subscriptions(tenant_id.upper())) == len(users)
        assert len(_graph_subscriptions(sim)) == len(users)
        final = runtime.stores.tenants.get_onboarding(tenant_id)
        assert final is not None and final.status == "done" and final.subscribed == 0
        status = json.loads(AdminApi(runtime).status(tenant_id).body)
        assert status["onboarding"]["status"] == "done" and status["subscription_count"] == len(users)

    run(go())


def test_users_delta_subscribes_new_and_unsubscribes_removed_mailboxes(sim: SimHandle, runtime: Runtime) -> None:
    tenant = sim.tenant(0)
    service = TenantService(runtime)

    async def go() -> None:
        result = await service.onboard(tenant["id"], page_size=50)
        assert result.subscriptions == len(_mail_users(sim))
        first = await service.users_delta(tenant["id"])  # the first round: everything is subscribed
        assert first.subscribed == [] and first.unsubscribed == []

        sim.control("POST", "/users", json={"tenant": tenant["id"], "userPrincipalName": "new.hire@contoso.test"})
        leaver = tenant["users"][1]
        sim.control("DELETE", f"/users/{leaver['userPrincipalName']}")
        disabled = tenant["users"][2]
        sim.control("POST", "/users", json={"tenant": tenant["id"], "userPrincipalName": disabled["userPrincipalName"],
                                            "accountEnabled": False})
        runtime.stores.notifications.send({"kind": "users_delta", "tenant_id": tenant["id"].upper()})
        (outcome,) = await _run_queue(runtime, ("users_delta",))
        assert outcome == "users delta: 1 subscribed, 2 unsubscribed"
        mailboxes = {s.mailbox.lower() for s in runtime.stores.subscriptions.list_subscriptions(tenant["id"])}
        assert "new.hire@contoso.test" in mailboxes
        assert leaver["userPrincipalName"].lower() not in mailboxes
        assert disabled["userPrincipalName"].lower() not in mailboxes
        on_graph = {s["resource"].split("/")[1] for s in _graph_subscriptions(sim)}
        assert leaver["id"] not in on_graph and disabled["id"] not in on_graph

        # Nothing changed since: nothing to do.
        quiet = await service.users_delta(tenant["id"])
        assert quiet.subscribed == [] and quiet.unsubscribed == []

    run(go())


def test_mail_in_junk_and_user_folders_is_notified_and_resynced(
    sim: SimHandle, runtime: Runtime, intake: IntakeEndpoint
) -> None:
    tenant_id = sim.tenant(0)["id"]
    upn = sim.tenant(0)["users"][0]["userPrincipalName"]
    service = TenantService(runtime)

    async def go() -> None:
        user = sim.tenant(0)["users"][0]
        info = await service.subscribe(tenant_id, upn, user["id"])
        assert info.resource == f"users/{user['id']}/messages"
        graph = runtime.graph.tenant(tenant_id)
        projects = (await graph.request("POST", f"/users/{upn}/mailFolders/inbox/childFolders",
                                        json={"displayName": "Projects"})).json()["id"]

        # Notified in every folder: Junk Email, a user folder under the Inbox.
        junk = sim.deliver(upn, mail("Junk mail"), folder="junkemail")
        intake.wait_for(1, NOTIFY)
        nested = sim.deliver(upn, mail("Rule moved"), folder=projects)
        intake.wait_for(2, NOTIFY)
        queued = {i["message_id"] for i in drain(runtime.stores.notifications)}
        assert {junk["immutableId"], nested["immutableId"]} <= queued

        # Notifications lost: the resync reads Inbox, Junk Email and the user folder; not Sent
        # Items, Drafts, Deleted Items, nor the service's hidden Hold and Quarantine.
        sim.faults(drop_notifications_rate=1.0)
        wanted = [sim.deliver(upn, mail(f"Missed {f}"), folder=f)["immutableId"]
                  for f in ("inbox", "junkemail", projects)]
        hidden = await runtime.remediator(tenant_id).ensure_folders(upn)
        skipped = [sim.deliver(upn, mail(f"Not ours {f}"), folder=f)["immutableId"]
                   for f in ("sentitems", "drafts", "deleteditems", hidden.hold, hidden.quarantine)]
        sim.faults()
        assert await service.resync(info.id) >= 3
        resynced = {i["message_id"] for i in drain(runtime.stores.notifications)}
        assert set(wanted) <= resynced and not set(skipped) & resynced
        sub = runtime.stores.subscriptions.get_subscription(info.id)
        assert sub is not None and projects in sub.delta_links and len(sub.delta_links) >= 4
        # Caught up: the next resync finds nothing new.
        assert await service.resync(info.id) == 0

    run(go())


def test_a_protected_group_limits_onboarding_and_the_users_delta_to_its_members(
    storage_config: StorageConfig, intake: IntakeEndpoint, tmp_path: Path
) -> None:
    seed = copy.deepcopy(default_seed())
    tenant = seed["tenants"][0]
    group = "5e1f0c2a-7b3d-4c8e-9a6f-0d1e2f3a4b5c"
    members = [u["userPrincipalName"] for u in tenant["users"][:3]]
    tenant["groups"] = [{"id": group, "displayName": "Protected", "members": members}]
    with run_sim(seed=seed, state_dir=tmp_path / "sim") as sim:
        sim.configure(**FAST_CONFIG)
        runtime = _runtime(sim, storage_config, intake, tmp_path, make_settings(sim), protected_group_id=group)
        service = TenantService(runtime)

        async def go() -> None:
            result = await service.onboard(tenant["id"], page_size=2)
            assert result.pages == 2 and result.subscriptions == 3
            subscribed = {s.mailbox for s in runtime.stores.subscriptions.list_subscriptions(tenant["id"])}
            assert subscribed == set(members)
            sim.control("DELETE", f"/users/{members[0]}")
            delta = await service.users_delta(tenant["id"])
            assert delta.unsubscribed == [members[0]] and delta.subscribed == []

        run(go())
