"""RDAP lookups against the simulated registry (rdapsim, real HTTP): what each answer becomes,
the time budget, HTTP 429 back-off, and the answer size limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.devstack.rdap import RdapSimClient
from connectors.rdap import RdapLimits, RdapRegistry, load_bootstrap

SIM = "127.0.0.1"


@pytest.fixture
def bootstrap_path(tmp_path: Path, rdap_sim: RdapSimClient) -> Path:
    return rdap_sim.write_bootstrap(tmp_path / "dns.json")


@pytest.fixture
def registry(bootstrap_path: Path) -> Iterator[RdapRegistry]:
    # A generous rate: these tests are about answers, not about spacing.
    found = RdapRegistry(load_bootstrap(bootstrap_path), RdapLimits(budget_seconds=5, rate_per_second=100))
    yield found
    found.close()


def test_a_registration_date_is_read_from_the_registration_event(
        registry: RdapRegistry, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("fresh-login.com", registered="2026-12-06T10:00:00Z")
    rdap_sim.set_domain("old-partner.org", registered="1998-03-01T05:00:00+02:00")
    registry.prefetch(["fresh-login.com", "old-partner.org"])
    answers = registry.registrations(["FRESH-LOGIN.COM.", "old-partner.org"])
    assert answers["FRESH-LOGIN.COM."].status == "known"
    assert answers["FRESH-LOGIN.COM."].registered == datetime(2026, 12, 6, 10, tzinfo=UTC)
    assert answers["FRESH-LOGIN.COM."].source == SIM  # this message's own lookup, not the cache
    assert answers["old-partner.org"].registered == datetime(1998, 3, 1, 3, tzinfo=UTC)
    assert rdap_sim.stats()["by_domain"] == {"fresh-login.com": 1, "old-partner.org": 1}
    stats = registry.stats()
    assert stats["lookups"] == 2 and stats["known"] == 2 and stats["failures"] == {}


def test_404_is_not_found(registry: RdapRegistry, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("never-registered.net", behaviour="not_found")
    answer = registry.registrations(["never-registered.net"])["never-registered.net"]
    assert (answer.status, answer.registered, answer.source) == ("not_found", None, SIM)


@pytest.mark.parametrize(("behaviour", "fields", "reason", "kind"), [
    ("garbage", {}, f"unreadable answer from {SIM}", "unreadable"),
    ("bad_date", {}, f"unreadable answer from {SIM}", "unreadable"),
    ("no_events", {}, f"no registration date in the answer from {SIM}", "no_date"),
    ("error", {}, f"HTTP 503 from {SIM}", "http_error"),
    ("error", {"status": 500}, f"HTTP 500 from {SIM}", "http_error"),
    ("huge", {}, f"answer from {SIM} larger than 1048576 bytes", "too_large"),
])
def test_a_failing_registry_gives_unknown_with_the_reason(
        registry: RdapRegistry, rdap_sim: RdapSimClient, behaviour: str, fields: dict[str, int], reason: str,
        kind: str) -> None:
    rdap_sim.set_domain("broken.org", behaviour=behaviour, **fields)
    answer = registry.registrations(["broken.org"])["broken.org"]
    assert (answer.status, answer.reason, answer.registered) == ("unknown", reason, None)
    assert registry.stats()["failures"] == {kind: 1}


def test_a_date_in_the_future_is_unreadable(registry: RdapRegistry, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("time-traveller.com", registered="2099-01-01T00:00:00Z")
    answer = registry.registrations(["time-traveller.com"])["time-traveller.com"]
    assert (answer.status, answer.reason) == ("unknown", f"unreadable answer from {SIM}")


def test_the_size_limit_is_the_setting(bootstrap_path: Path, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("normal.com", registered_days_ago=900)
    registry = RdapRegistry(load_bootstrap(bootstrap_path), RdapLimits(max_response_bytes=1024))
    try:
        answer = registry.registrations(["normal.com"])["normal.com"]
    finally:
        registry.close()
    # A real answer is a few kB: over a 1 kB limit it is refused like the huge one.
    assert answer.reason == f"answer from {SIM} larger than 1024 bytes"


def test_what_is_not_a_domain_name_is_unknown_without_a_request(
        registry: RdapRegistry, rdap_sim: RdapSimClient) -> None:
    odd = ["", "localhost", "a..b.com", "-bad-.com", "x" * 64 + ".com", "a/b.com", "../etc.com"]
    answers = registry.registrations(odd)
    assert {d: a.reason for d, a in answers.items()} == dict.fromkeys(odd, "not a domain name")
    assert rdap_sim.stats()["requests"] == 0


def test_an_idn_is_asked_as_its_a_label(registry: RdapRegistry, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("xn--bcher-kva.com", registered="2020-05-05T00:00:00Z")
    answer = registry.registrations(["bücher.com"])["bücher.com"]
    assert answer.registered == datetime(2020, 5, 5, tzinfo=UTC)
    assert rdap_sim.stats()["by_domain"] == {"xn--bcher-kva.com": 1}


@pytest.mark.timeout(25)  # the registry answers after 60 s: waiting for it would fail here
def test_a_slow_registry_is_unknown_within_the_budget(bootstrap_path: Path, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("slow-registry.com", behaviour="slow", delay_seconds=60)
    rdap_sim.set_domain("quick.com", registered="2011-01-01T00:00:00Z")
    registry = RdapRegistry(load_bootstrap(bootstrap_path), RdapLimits(budget_seconds=1.5, rate_per_second=100))
    try:
        registry.prefetch(["slow-registry.com", "quick.com"])
        answers = registry.registrations(["slow-registry.com", "quick.com"])
        assert answers["slow-registry.com"].status == "unknown"
        assert answers["slow-registry.com"].reason == "no answer within 1.5 s"
        assert answers["quick.com"].status == "known"  # one slow domain does not hold the others
        # The next message does not wait again for the same failure: the cached reason at once.
        again = registry.registrations(["slow-registry.com"])["slow-registry.com"]
        assert (again.reason, again.source) == ("no answer within 1.5 s", "cache")
        assert rdap_sim.stats()["by_domain"]["slow-registry.com"] == 1
        assert registry.stats()["failures"] == {"timeout": 1}
    finally:
        registry.close()


def test_429_backs_the_server_off_until_retry_after(registry: RdapRegistry, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("busy.com", behaviour="ratelimit", retry_after=120)
    first = registry.registrations(["busy.com"])["busy.com"]
    assert (first.status, first.reason) == ("unknown", f"rate limited by {SIM} (HTTP 429)")
    asked = rdap_sim.stats()["requests"]
    assert asked == 1

    # Every domain of that server is answered at once, with that reason, and no request is made.
    registry.prefetch(["other.com", "another.org"])
    later = registry.registrations(["other.com", "another.org", "busy.com"])
    assert {d: a.reason for d, a in later.items()} == dict.fromkeys(later, f"rate limited by {SIM} (HTTP 429)")
    assert rdap_sim.stats()["requests"] == asked
    assert registry.stats()["failures"] == {"rate_limited": 4}  # failures count answers: 1 + 3


@pytest.mark.timeout(30)
def test_the_back_off_is_capped_and_ends(bootstrap_path: Path, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("busy.com", behaviour="ratelimit", retry_after=86400)
    rdap_sim.set_domain("calm.com", registered="2015-01-01T00:00:00Z")
    registry = RdapRegistry(load_bootstrap(bootstrap_path),
                            RdapLimits(rate_per_second=100, max_backoff_seconds=1.0, negative_cache_seconds=0))
    try:
        assert registry.registrations(["busy.com"])["busy.com"].reason.startswith("rate limited")
        assert registry.registrations(["calm.com"])["calm.com"].reason.startswith("rate limited")
        # A day's Retry-After is honoured for the cap (1 s), then the server is asked again.
        answer = registry.registrations(["calm.com"])["calm.com"]
        while answer.status != "known":  # pytest-timeout is the backstop
            time.sleep(0.1)
            answer = registry.registrations(["calm.com"])["calm.com"]
        assert answer.source == SIM
        assert rdap_sim.stats()["by_domain"] == {"busy.com": 1, "calm.com": 1}
    finally:
        registry.close()


def test_a_streamed_answer_without_a_length_is_cut_at_the_limit(registry: RdapRegistry, rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("streamed.org", behaviour="huge_chunked")
    answer = registry.registrations(["streamed.org"])["streamed.org"]
    assert (answer.status, answer.reason) == ("unknown", f"answer from {SIM} larger than 1048576 bytes")
    assert registry.stats()["failures"] == {"too_large": 1}


def test_a_redirect_is_followed_on_the_same_loopback_registry(registry: RdapRegistry, rdap_sim: RdapSimClient) -> None:
    # RFC 7480: a registry may redirect a query (to the registrar's server, for thin registries).
    rdap_sim.set_domain("moved-login.com", behaviour="redirect", registered="2026-12-01T00:00:00Z",
                        location=f"{rdap_sim.base_url}/registrar/domain/moved-login.com")
    answer = registry.registrations(["moved-login.com"])["moved-login.com"]
    assert (answer.status, answer.registered) == ("known", datetime(2026, 12, 1, tzinfo=UTC))
    assert rdap_sim.stats()["by_domain"] == {"moved-login.com": 2}  # the registry, then the registrar


@pytest.mark.parametrize("location", ["http://rdap.example.net/domain/x.com", "http://10.0.0.1/domain/x.com"])
def test_a_redirect_to_anything_but_https_is_refused(
        registry: RdapRegistry, rdap_sim: RdapSimClient, location: str) -> None:
    rdap_sim.set_domain("moved-away.com", behaviour="redirect", location=location, status=301)
    answer = registry.registrations(["moved-away.com"])["moved-away.com"]
    assert (answer.status, answer.reason) == ("unknown", f"redirect from {SIM} to a non-https URL refused")
    assert rdap_sim.stats()["requests"] == 1  # nothing was sent to the refused target
