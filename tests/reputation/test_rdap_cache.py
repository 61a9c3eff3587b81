"""The RDAP cache: memory and the shared Azure table (real Azurite), TTLs by answer, the negative
cache for failures, and a storage failure that never fails a lookup."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.devstack.rdap import RdapSimClient
from connectors.rdap import RdapLimits, RdapRegistry, load_bootstrap
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from connectors.storage.rdapcache import TableRdapCache
from connectors.storage.tables import TableStore
from tap_core.reputation.registration import DomainRegistration

START = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


class Clock:
    """The wall clock the cache expires by, moved by the test (budgets keep real time)."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def bootstrap_path(tmp_path: Path, rdap_sim: RdapSimClient) -> Path:
    return rdap_sim.write_bootstrap(tmp_path / "dns.json")


@pytest.fixture
def make(bootstrap_path: Path) -> Callable[..., RdapRegistry]:
    made: list[RdapRegistry] = []

    def build(table: TableRdapCache | None = None, clock: Clock | None = None, **limits: float) -> RdapRegistry:
        registry = RdapRegistry(load_bootstrap(bootstrap_path),
                                RdapLimits(**{"budget_seconds": 5, "rate_per_second": 100, **limits}),  # type: ignore[arg-type]
                                table=table, now=clock or Clock())
        made.append(registry)
        return registry

    yield build  # type: ignore[misc]
    for registry in made:
        registry.close()


def test_a_known_date_is_asked_once_then_served_from_memory(
        make: Callable[..., RdapRegistry], rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("partner.com", registered="2001-02-03T00:00:00Z")
    clock = Clock()
    registry = make(clock=clock, cache_days=30)
    assert registry.registrations(["partner.com"])["partner.com"].source == "127.0.0.1"
    clock.now += timedelta(seconds=10)  # past this lookup's own budget window: memory answers
    again = registry.registrations(["partner.com"])["partner.com"]
    assert (again.status, again.registered, again.source) == ("known", datetime(2001, 2, 3, tzinfo=UTC), "cache")
    assert rdap_sim.stats()["requests"] == 1
    assert registry.stats()["memory_hits"] == 1

    clock.now += timedelta(days=30, seconds=1)  # the date's TTL has passed: asked again
    assert registry.registrations(["partner.com"])["partner.com"].source == "127.0.0.1"
    assert rdap_sim.stats()["requests"] == 2


def test_ttls_by_answer_not_found_a_day_failures_the_negative_setting(
        make: Callable[..., RdapRegistry], rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("gone.org", behaviour="not_found")
    rdap_sim.set_domain("broken.org", behaviour="garbage")
    clock = Clock()
    registry = make(clock=clock, negative_cache_seconds=600)
    registry.registrations(["gone.org", "broken.org"])

    clock.now += timedelta(seconds=599)
    answers = registry.registrations(["gone.org", "broken.org"])
    assert answers["gone.org"].status == "not_found" and answers["gone.org"].source == "cache"
    assert (answers["broken.org"].reason, answers["broken.org"].source) == (
        "unreadable answer from 127.0.0.1", "cache")
    assert rdap_sim.stats()["requests"] == 2

    clock.now += timedelta(seconds=2)  # the failure is forgotten, not-found is not
    registry.registrations(["gone.org", "broken.org"])
    assert rdap_sim.stats()["by_domain"] == {"gone.org": 1, "broken.org": 2}
    clock.now += timedelta(days=1)
    registry.registrations(["gone.org"])
    assert rdap_sim.stats()["by_domain"] == {"gone.org": 2, "broken.org": 2}


def test_the_negative_cache_in_the_table_spares_a_new_instance_the_wait(
        make: Callable[..., RdapRegistry], rdap_sim: RdapSimClient, stores: AzureStores) -> None:
    rdap_sim.set_domain("slow.com", behaviour="slow", delay_seconds=30)
    rdap_sim.set_domain("broken.net", behaviour="error", status=502)
    rdap_sim.set_domain("known.org", registered="2019-09-09T09:09:09Z")
    first = make(table=stores.rdap, budget_seconds=1)
    answers = first.registrations(["slow.com", "broken.net", "known.org"])
    assert answers["slow.com"].reason == "no answer within 1 s"
    assert answers["broken.net"].reason == "HTTP 502 from 127.0.0.1"
    asked = rdap_sim.stats()["requests"]
    _wait_for_row(stores.rdap, "slow.com")  # the slow lookup stores its own end when its HTTP timeout fires

    # Another instance (another worker, a restart) gets every answer from the table: no request.
    second = make(table=stores.rdap, budget_seconds=1)
    again = second.registrations(["slow.com", "broken.net", "known.org"])
    assert {d: (a.status, a.reason, a.source) for d, a in again.items()} == {
        "slow.com": ("unknown", "no answer within 1 s", "cache"),
        "broken.net": ("unknown", "HTTP 502 from 127.0.0.1", "cache"),
        "known.org": ("known", "", "cache"),
    }
    assert again["known.org"].registered == datetime(2019, 9, 9, 9, 9, 9, tzinfo=UTC)
    assert rdap_sim.stats()["requests"] == asked
    assert second.stats()["table_hits"] == 3 and second.stats()["lookups"] == 0


def test_an_expired_row_is_asked_again_and_cleaned_up(
        make: Callable[..., RdapRegistry], rdap_sim: RdapSimClient, stores: AzureStores) -> None:
    rdap_sim.set_domain("broken.net", behaviour="garbage")
    clock = Clock()
    make(table=stores.rdap, clock=clock, negative_cache_seconds=60).registrations(["broken.net"])
    assert stores.rdap.get("broken.net", START) is not None
    assert stores.rdap.get("broken.net", START + timedelta(seconds=61)) is None

    later = Clock()
    later.now = START + timedelta(seconds=61)
    make(table=stores.rdap, clock=later).registrations(["broken.net"])
    assert rdap_sim.stats()["by_domain"] == {"broken.net": 2}

    assert stores.rdap.cleanup(START + timedelta(hours=1)) == 1
    assert stores.rdap.get("broken.net", START) is None


def test_rows_the_cache_cannot_read_are_looked_up_again(stores: AzureStores) -> None:
    table = TableStore(stores.config.table_service(), stores.config.table_name("rdap"))
    table.upsert({"PartitionKey": "odd.com", "RowKey": "-", "Status": "maybe", "Expires": START + timedelta(1)})
    table.upsert({"PartitionKey": "nodate.com", "RowKey": "-", "Status": "known", "Expires": START + timedelta(1)})
    assert stores.rdap.get("odd.com", START) is None and stores.rdap.get("nodate.com", START) is None
    stores.rdap.put(DomainRegistration("fine.com", "known", START - timedelta(days=3), source="rdap.example"),
                    START + timedelta(days=1))
    cached = stores.rdap.get("fine.com", START)
    assert cached == (DomainRegistration("fine.com", "known", START - timedelta(days=3), source="cache"),
                      START + timedelta(days=1))


def test_a_storage_failure_never_fails_a_lookup(
        make: Callable[..., RdapRegistry], rdap_sim: RdapSimClient, storage_config: StorageConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    # A table that was never created: every write fails (reads find nothing).
    missing = TableRdapCache(TableStore(storage_config.table_service(), storage_config.table_name("nordap")))
    rdap_sim.set_domain("partner.com", registered="2001-02-03T00:00:00Z")
    with caplog.at_level(logging.WARNING, logger="tap365.rdap"):
        answer = make(table=missing).registrations(["partner.com"])["partner.com"]
    assert (answer.status, answer.registered) == ("known", datetime(2001, 2, 3, tzinfo=UTC))
    assert "RDAP cache: could not store partner.com" in caplog.text


def test_the_daily_cleanup_includes_the_rdap_table(stores: AzureStores, tmp_path: Path,
                                                   storage_config: StorageConfig) -> None:
    from connectors.graph.client import GraphSettings
    from connectors.service.retention import run_retention
    from connectors.service.runtime import Runtime
    from connectors.settings import Settings

    runtime = Runtime.create(Settings(state_dir=tmp_path),
                             graph_settings=GraphSettings(client_id="rdap-test", client_secret="unused"),
                             storage=storage_config)
    now = datetime.now(UTC)
    runtime.stores.rdap.put(DomainRegistration("old.com", "unknown", reason="HTTP 503 from x"),
                            now - timedelta(minutes=1))
    runtime.stores.rdap.put(DomainRegistration("new.com", "not_found"), now + timedelta(days=1))
    assert run_retention(runtime, now=now)["rdap"] == 1
    assert runtime.stores.rdap.get("new.com", now) is not None


def _wait_for_row(table: TableRdapCache, domain: str) -> None:
    while table.get(domain, datetime.now(UTC)) is None:  # pytest-timeout is the backstop
        time.sleep(0.1)


def test_a_table_that_cannot_be_read_is_skipped(
        make: Callable[..., RdapRegistry], rdap_sim: RdapSimClient, storage_config: StorageConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    # A name the service refuses (400 on every request): reads fail as well as writes.
    broken = TableRdapCache(TableStore(storage_config.table_service(), "no-such_table!"))
    rdap_sim.set_domain("partner.com", registered="2001-02-03T00:00:00Z")
    with caplog.at_level(logging.WARNING, logger="tap365.rdap"):
        answer = make(table=broken).registrations(["partner.com"])["partner.com"]
    assert (answer.status, answer.source) == ("known", "127.0.0.1")
    assert "RDAP cache: could not read partner.com" in caplog.text
    assert "RDAP cache: could not store partner.com" in caplog.text
