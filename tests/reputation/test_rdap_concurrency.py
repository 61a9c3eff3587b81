"""The RDAP registry under load: each server's rate respected (rdapsim enforces the same limit and
answers 429 beyond it), and calls from many threads at once (one lookup per domain)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from connectors.devstack.rdap import RdapSimClient
from connectors.rdap import RdapLimits, RdapRegistry, load_bootstrap


@pytest.mark.timeout(60)
def test_many_domains_at_once_keep_to_the_servers_rate(tmp_path: Path, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_limits(5)  # the registry answers 429 beyond 5 requests in any one second
    registry = RdapRegistry(load_bootstrap(rdap_sim.write_bootstrap(tmp_path / "dns.json")),
                            RdapLimits(budget_seconds=2.5, concurrency=8, rate_per_second=5))
    domains = [f"shop{i}.com" for i in range(20)]
    try:
        registry.prefetch(domains)
        answers = registry.registrations(domains)
    finally:
        registry.close()
    known = [d for d, a in answers.items() if a.status == "known"]
    held_back = {d: a.reason for d, a in answers.items() if a.status != "known"}
    # What fits in the budget at 5 a second was asked; the rest was not sent at all.
    assert len(known) >= 5, answers
    assert set(held_back.values()) <= {"rate limit of 127.0.0.1 reached"}, held_back
    stats = rdap_sim.stats()
    assert stats["rate_limited"] == 0
    assert stats["requests"] == len(known) == registry.stats()["lookups"]
    assert registry.stats()["failures"] == ({"rate_limit_local": len(held_back)} if held_back else {})


@pytest.mark.timeout(60)
def test_calls_from_many_threads_share_one_lookup_per_domain(tmp_path: Path, rdap_sim: RdapSimClient) -> None:
    registry = RdapRegistry(load_bootstrap(rdap_sim.write_bootstrap(tmp_path / "dns.json")),
                            RdapLimits(budget_seconds=10, concurrency=4, rate_per_second=200))
    domains = [f"site{i}.{tld}" for i in range(15) for tld in ("com", "org")]
    results: list[dict[str, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def message(offset: int) -> None:
        try:
            mine = domains[offset:] + domains[:offset]  # every thread asks for every domain
            start.wait()
            registry.prefetch(mine[:10])
            answers = registry.registrations(mine)
            results.append({d: a.status for d, a in answers.items()})
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=message, args=(i * 3,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        registry.close()
    assert not errors
    assert len(results) == 8
    assert all(r == dict.fromkeys(domains, "known") for r in results)
    # Each domain was asked of the registry once, however many threads wanted it.
    assert rdap_sim.stats()["by_domain"] == dict.fromkeys(domains, 1)
    assert registry.stats()["lookups"] == len(domains)


@pytest.mark.timeout(30)
def test_lookups_beyond_the_pool_wait_their_turn_within_the_same_budget(
        tmp_path: Path, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("slow.com", behaviour="slow", delay_seconds=60)
    registry = RdapRegistry(load_bootstrap(rdap_sim.write_bootstrap(tmp_path / "dns.json")),
                            RdapLimits(budget_seconds=1, concurrency=1, rate_per_second=100))
    try:
        registry.prefetch(["slow.com", "queued.org"])
        answers = registry.registrations(["slow.com", "queued.org"])
        assert {d: a.reason for d, a in answers.items()} == dict.fromkeys(answers, "no answer within 1 s")
    finally:
        registry.close()
    # One lookup at a time: the queued one never started (its budget was spent waiting).
    assert rdap_sim.stats()["by_domain"] == {"slow.com": 1}
