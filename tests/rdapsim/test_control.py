"""The /_sim control API: the rate limit, stats, the RFC 9224 bootstrap, reset; and odd input,
which gets a 400 with a reason, never a crash."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from connectors.devstack.rdap import RdapSimClient

from .test_answers import assert_rfc9083_domain


def test_beyond_the_limit_queries_get_429_with_retry_after_1(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_limits(2)
    started = time.monotonic()
    responses = [rdap_sim.domain(f"d{i}.example") for i in range(20)]
    elapsed = time.monotonic() - started
    limited = [r for r in responses if r.status_code == 429]
    answered = [r for r in responses if r.status_code == 200]
    assert len(limited) + len(answered) == 20 and limited
    assert all(r.headers["Retry-After"] == "1" and r.json()["errorCode"] == 429 for r in limited)
    # At most 2 answers in any one second of the run (a bound, whatever the machine's speed).
    assert len(answered) <= 2 * (int(elapsed) + 1)
    stats = rdap_sim.stats()
    assert stats["requests"] == 20 and stats["rate_limited"] == len(limited)

    rdap_sim.set_limits(None)
    assert all(rdap_sim.domain(f"d{i}.example").status_code == 200 for i in range(20))
    rdap_sim.set_limits(1)
    rdap_sim.set_limits(0)  # 0 = no limit, too
    assert all(rdap_sim.domain("e.example").status_code == 200 for _ in range(5))


def test_the_limit_lets_queries_through_again_after_a_second(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_limits(1)
    statuses = [rdap_sim.domain("a.example").status_code for _ in range(50)]
    assert statuses[0] == 200 and 429 in statuses
    time.sleep(1.1)  # the window slides on: the next query is answered
    assert rdap_sim.domain("a.example").status_code == 200


def test_stats_count_domain_queries_and_reset(rdap_sim: RdapSimClient) -> None:
    for name in ("a.example", "A.EXAMPLE.", "b.example"):
        rdap_sim.domain(name)
    rdap_sim.domain("not a name")
    assert rdap_sim.stats() == {"requests": 4, "by_domain": {"a.example": 2, "b.example": 1}, "rate_limited": 0}
    rdap_sim.reset_stats()
    assert rdap_sim.stats() == {"requests": 0, "by_domain": {}, "rate_limited": 0}


def test_reset_forgets_domains_limits_and_stats(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("gone.example", behaviour="not_found")
    rdap_sim.set_limits(1)
    rdap_sim.domain("gone.example")
    rdap_sim.reset()
    assert rdap_sim.stats()["requests"] == 0
    assert all(rdap_sim.domain("gone.example").status_code == 200 for _ in range(3))


def test_forget_domains_keeps_the_limit(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("gone.example", behaviour="not_found")
    assert list(rdap_sim.control("GET", "/domains")) == ["gone.example"]
    rdap_sim.set_limits(1)
    rdap_sim.forget_domains()
    assert rdap_sim.control("GET", "/domains") == {}
    statuses = [rdap_sim.domain("gone.example").status_code for _ in range(50)]
    assert statuses[0] == 200 and 429 in statuses and 404 not in statuses


def _assert_rfc9224(doc: dict[str, Any], base_url: str) -> list[str]:
    assert set(doc) == {"description", "publication", "version", "services"}
    assert doc["version"] == "1.0" and isinstance(doc["description"], str)
    assert doc["publication"].endswith("Z")
    [[tlds, urls]] = doc["services"]
    assert urls == [f"{base_url}/"]  # RFC 9224: base URLs end in "/"
    assert all(isinstance(t, str) and t == t.lower() and "." not in t for t in tlds)
    return tlds  # type: ignore[no-any-return]


def test_bootstrap_names_this_server_for_the_given_tlds(rdap_sim: RdapSimClient, tmp_path: Path) -> None:
    assert _assert_rfc9224(rdap_sim.bootstrap(["com", "NET", "xyz"]), rdap_sim.base_url) == ["com", "net", "xyz"]
    builtin = _assert_rfc9224(rdap_sim.bootstrap(), rdap_sim.base_url)
    assert 55 <= len(builtin) <= 90 and len(set(builtin)) == len(builtin)
    assert {"com", "net", "org", "io", "xyz", "de", "uk", "test", "example", "invalid"} <= set(builtin)
    path = rdap_sim.write_bootstrap(tmp_path / "dns.json", ["org"])
    doc = json.loads(path.read_text(encoding="utf-8"))
    # What a client does with it: base URL + "domain/" + name.
    url = doc["services"][0][1][0] + "domain/example.org"
    assert_rfc9083_domain(requests.get(url, timeout=10), "example.org")


@pytest.mark.parametrize("tlds", ["", ",", "co.uk", "x y", "ümlaut", "-bad",
                                  ",".join(f"t{i}" for i in range(2001))])
def test_bootstrap_refuses_odd_tlds(rdap_sim: RdapSimClient, tlds: str) -> None:
    response = rdap_sim.session.get(f"{rdap_sim.base_url}/_sim/bootstrap", params={"tlds": tlds}, timeout=10)
    assert response.status_code == 400 and response.json()["error"]


def _raw_get(base_url: str, path: str) -> tuple[int, bytes]:
    """A GET with the path exactly as given (requests would normalise dot segments)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", [
    "/domain/" + "a" * 300 + ".com",
    "/domain/" + ("a" * 63 + ".") * 3 + "a" * 62 + ".com",
    "/domain/" + "x" * 8000,
    "/domain/ex%C3%A4mple.com",
    "/domain/%FF%FE.com",
    "/domain/../../etc/passwd",
    "/domain/..%2F..%2Fetc%2Fpasswd",
    "/domain/a..b.com",
    "/domain/-bad.com",
    "/domain/under_score.com",
    "/domain/with%20space.com",
    "/domain/",
    "/domain/.",
    "/domain/a.com%00",
])
def test_odd_names_get_400_with_an_error_object(rdap_sim: RdapSimClient, path: str) -> None:
    status, body = _raw_get(rdap_sim.base_url, path)
    assert status == 400, body[:200]
    error = json.loads(body)
    assert error["errorCode"] == 400 and error["description"]
    assert_rfc9083_domain(rdap_sim.domain("still-fine.example"), "still-fine.example")


def test_a_normalised_dot_segment_path_is_no_crash(rdap_sim: RdapSimClient) -> None:
    status, body = _raw_get(rdap_sim.base_url, "/domain/../help")
    assert status in (200, 400) and json.loads(body)


@pytest.mark.parametrize("body", [
    {"behaviour": "explode"},
    {"registered": "yesterday"},
    {"registered": "2026-12-06T10:00:00"},  # no offset
    {"registered": 12},
    {"registered_days_ago": -1},
    {"registered_days_ago": True},
    {"registered_days_ago": "2"},
    {"registered": "2026-12-06T10:00:00Z", "registered_days_ago": 2},
    {"delay_seconds": 100000},
    {"status": 42},
    {"retry_after": 1.5},
    {"size_bytes": 10**12},
    {"colour": "blue"},
    [1, 2],
])
def test_bad_domain_settings_get_400_with_the_reason(rdap_sim: RdapSimClient, body: Any) -> None:
    response = rdap_sim.session.put(f"{rdap_sim.base_url}/_sim/domains/x.example", json=body, timeout=10)
    assert response.status_code == 400 and response.json()["error"]
    assert rdap_sim.control("GET", "/domains") == {}


def test_bad_control_requests_get_400(rdap_sim: RdapSimClient) -> None:
    base = f"{rdap_sim.base_url}/_sim"
    for url, data in ((f"{base}/domains/x.example", b"{not json"), (f"{base}/domains/x.example", b"\xff\xfe"),
                      (f"{base}/domains/..%2Fetc", b"{}"), (f"{base}/domains/%C3%A4.com", b"{}"),
                      (f"{base}/limits", b'{"requests_per_second": -1}'),
                      (f"{base}/limits", b'{"requests_per_second": 1.5}'),
                      (f"{base}/limits", b'{"rps": 3}')):
        response = rdap_sim.session.put(url, data=data, timeout=10)
        assert response.status_code == 400, (url, data)
        assert response.json()["error"]


def test_an_oversized_control_body_is_refused_unread(rdap_sim: RdapSimClient) -> None:
    body = b'{"behaviour": "ok", "registered_days_ago": 2' + b" " * 70_000 + b"}"
    response = rdap_sim.session.put(f"{rdap_sim.base_url}/_sim/domains/x.example", data=body, timeout=10)
    assert response.status_code == 400 and "larger than 65536 bytes" in response.json()["error"]
    assert rdap_sim.control("GET", "/domains") == {}
