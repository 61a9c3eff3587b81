"""A large tenant onboards completely through the queue, a page of users per item: m365sim
seeded with many mailboxes (TAP365_TEST_ONBOARD_USERS, default 1,000; 10,000 took 25 min on a
shared 2-core machine, see the README), the service's own worker items, Azurite."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.service.runtime import Runtime
from connectors.service.tenancy import TenantService
from connectors.service.worker import handle_item
from connectors.settings import Settings
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from m365sim.directory import default_seed
from m365sim.testing import FAST_CONFIG, SimHandle, run_sim

from .conftest import IntakeEndpoint, drain, make_settings, run

USERS = int(os.environ.get("TAP365_TEST_ONBOARD_USERS", "1000"))
PAGE = 250
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph"),
]


@pytest.fixture(scope="module")
def big_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    seed = copy.deepcopy(default_seed())
    tenant = seed["tenants"][0]
    domain = tenant["domain"]
    tenant["users"] = [
        {"id": f"00000000-0000-4000-8000-{i:012d}", "userPrincipalName": f"user{i:05d}@{domain}",
         "displayName": f"User {i}"}
        for i in range(USERS)
    ]
    seed.pop("mail", None)
    with run_sim(seed=seed, state_dir=tmp_path_factory.mktemp("big-sim")) as sim:
        sim.configure(**FAST_CONFIG)
        yield sim


def test_a_large_tenant_onboards_completely_in_pages(
    big_sim: SimHandle, storage_config: StorageConfig, tmp_path: Path
) -> None:
    stores = AzureStores.open(storage_config, create=True)
    intake = IntakeEndpoint(stores)
    try:
        tenant_id = big_sim.tenant(0)["id"]
        runtime = Runtime.create(
            Settings(public_base_url=intake.base, home_tenant_id=tenant_id, state_dir=tmp_path,
                     allowed_tenants="", protected_group_id=""),
            graph_settings=make_settings(big_sim), storage=storage_config,
        )

        async def go() -> int:
            TenantService(runtime).start_onboarding(tenant_id, page_size=PAGE)
            items = 0
            while batch := [i for i in drain(runtime.stores.notifications) if i["kind"] == "onboard"]:
                for item in batch:
                    await handle_item(runtime, item)
                    items += 1
            return items

        items = run(go())
    finally:
        intake.close()
    progress = stores.tenants.get_onboarding(tenant_id)
    assert progress is not None and progress.status == "done" and progress.errors == []
    assert items == progress.pages == math.ceil(USERS / PAGE)
    assert progress.mailboxes == progress.subscribed == USERS
    assert len(stores.subscriptions.list_subscriptions(tenant_id)) == USERS
    assert len(big_sim.control("GET", "/subscriptions")) == USERS
