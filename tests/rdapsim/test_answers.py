"""RDAP answers over real HTTP: the RFC 9083 domain object, errors, help, case and trailing dots,
the default age of unconfigured domains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors.devstack.rdap import RdapSimClient, simulated_rdap

RDAP = "application/rdap+json"


def _event(obj: dict[str, Any], action: str) -> str:
    return next(e["eventDate"] for e in obj["events"] if e["eventAction"] == action)


def _date(text: str) -> datetime:
    assert text.endswith("Z")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_rfc9083_domain(response: requests.Response, name: str) -> dict[str, Any]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == RDAP
    obj = response.json()
    assert obj["objectClassName"] == "domain"
    assert obj["ldhName"].lower() == name
    assert "rdap_level_0" in obj["rdapConformance"]
    assert isinstance(obj["handle"], str) and obj["handle"]
    assert obj["status"] and all(isinstance(s, str) for s in obj["status"])
    self_link = next(link for link in obj["links"] if link["rel"] == "self")
    assert self_link["href"].endswith(f"/domain/{name}") and self_link["type"] == RDAP
    assert obj["notices"] and all("title" in n and "description" in n for n in obj["notices"])
    assert all(ns["objectClassName"] == "nameserver" and ns["ldhName"] for ns in obj["nameservers"])
    registrar = next(e for e in obj["entities"] if "registrar" in e["roles"])
    assert registrar["objectClassName"] == "entity"
    vcard = registrar["vcardArray"]
    assert vcard[0] == "vcard" and ["version", {}, "text", "4.0"] in vcard[1]
    assert any(prop[0] == "fn" and prop[3] for prop in vcard[1])
    for event in obj["events"]:
        _date(event["eventDate"])  # every date RFC 3339, in UTC
    return obj  # type: ignore[no-any-return]


def test_a_configured_domain_answers_an_rfc9083_domain_object(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("fresh-login.xyz", registered="2026-12-06T10:00:00Z")
    obj = assert_rfc9083_domain(rdap_sim.domain("fresh-login.xyz"), "fresh-login.xyz")
    assert _event(obj, "registration") == "2026-12-06T10:00:00Z"
    assert _date(_event(obj, "expiration")) > _date(_event(obj, "registration"))
    assert _date(_event(obj, "last changed")) >= _date(_event(obj, "registration"))
    assert obj["ldhName"] == "fresh-login.xyz"


def test_verisign_tlds_answer_upper_case_others_lower(rdap_sim: RdapSimClient) -> None:
    assert rdap_sim.domain("example.com").json()["ldhName"] == "EXAMPLE.COM"
    assert rdap_sim.domain("example.net").json()["ldhName"] == "EXAMPLE.NET"
    assert rdap_sim.domain("wikipedia.org").json()["ldhName"] == "wikipedia.org"


def test_days_ago_counts_back_from_the_query(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("new-domain.test", registered_days_ago=2)
    obj = assert_rfc9083_domain(rdap_sim.domain("new-domain.test"), "new-domain.test")
    age = datetime.now(UTC) - _date(_event(obj, "registration"))
    assert timedelta(days=2) - timedelta(hours=1) < age < timedelta(days=2) + timedelta(hours=1)


def test_names_match_case_insensitively_and_a_trailing_dot_is_ignored(rdap_sim: RdapSimClient) -> None:
    assert rdap_sim.set_domain("Fresh.Example.", registered="2026-01-02T03:04:05Z")["name"] == "fresh.example"
    for query in ("fresh.example", "FRESH.EXAMPLE", "Fresh.Example."):
        assert _event(rdap_sim.domain(query).json(), "registration") == "2026-01-02T03:04:05Z"
    assert rdap_sim.stats()["by_domain"] == {"fresh.example": 3}


def test_an_a_label_domain_carries_its_unicode_name(rdap_sim: RdapSimClient) -> None:
    obj = assert_rfc9083_domain(rdap_sim.domain("xn--bcher-kva.example"), "xn--bcher-kva.example")
    assert obj["unicodeName"] == "bücher.example"


def test_unconfigured_domains_are_old_with_a_stable_age(rdap_sim: RdapSimClient) -> None:
    ages = {}
    for name in ("contoso.com", "fabrikam.net", "example.org", "a.io"):
        first = _date(_event(rdap_sim.domain(name).json(), "registration"))
        assert _date(_event(rdap_sim.domain(name).json(), "registration")) == first
        ages[name] = (datetime.now(UTC) - first).days
        assert 399 <= ages[name] <= 9000
    assert len(set(ages.values())) > 1  # derived from the name, not one constant
    # Another process gives the same dates: runs are reproducible.
    with simulated_rdap() as other:
        for name, days in ages.items():
            assert (datetime.now(UTC) - _date(_event(other.domain(name).json(), "registration"))).days == days


def test_a_bare_tld_is_nobodys_registration(rdap_sim: RdapSimClient) -> None:
    response = rdap_sim.domain("com")
    assert response.status_code == 404 and response.json()["errorCode"] == 404


def test_help_and_other_queries(rdap_sim: RdapSimClient) -> None:
    help_page = rdap_sim.session.get(f"{rdap_sim.base_url}/help", timeout=10)
    assert help_page.status_code == 200 and help_page.headers["Content-Type"] == RDAP
    body = help_page.json()
    assert body["rdapConformance"] == ["rdap_level_0"] and body["notices"][0]["description"]
    for path, status in (("/nameserver/ns1.example.com", 501), ("/entity/X-1", 501), ("/nothing", 404)):
        response = rdap_sim.session.get(f"{rdap_sim.base_url}{path}", timeout=10)
        assert response.status_code == status
        error = response.json()
        assert error["errorCode"] == status and error["title"] and error["description"]
    assert rdap_sim.stats()["requests"] == 0  # only /domain/ queries are counted

