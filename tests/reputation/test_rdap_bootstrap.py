"""The RDAP bootstrap (connectors/rdap/bootstrap.py): the shipped IANA file, longest match, and
what a file may name as a server (https; plain http on loopback only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.devstack.rdap import RdapSimClient
from connectors.rdap import BootstrapError, RdapRegistry, build_registry, load_bootstrap
from connectors.settings import Settings


def _write(path: Path, services: list[Any], **extra: Any) -> Path:
    path.write_text(json.dumps({"version": "1.0", "publication": "2026-01-01T00:00:00Z",
                                "services": services, **extra}), encoding="utf-8")
    return path


def test_the_shipped_iana_file_loads_and_names_the_registries() -> None:
    shipped = load_bootstrap()
    assert shipped.publication == "2026-03-23T19:00:02Z"
    assert len(shipped.servers) > 1000
    assert shipped.server_for("example.com").base_url == "https://rdap.verisign.com/com/v1/"
    assert shipped.server_for("example.org").host == "rdap.publicinterestregistry.org"
    assert shipped.server_for("example.co.uk").base_url == "https://rdap.nominet.uk/uk/"
    # Every server it will use is https: the three plain-http-only ccTLDs get no lookups.
    assert all(s.base_url.startswith("https://") for s in shipped.servers.values())
    assert shipped.server_for("example.kg") is None
    assert shipped.why_none("example.kg") == (
        "no https RDAP server for .kg (plain http refused: http://rdap.cctld.kg/)")
    readme = (Path(load_bootstrap.__code__.co_filename).parent / "data" / "README.md").read_text("utf-8")
    assert "https://data.iana.org/rdap/dns.json" in readme and "2026-03-23T19:00:02Z" in readme


def test_longest_match_on_the_labels(tmp_path: Path) -> None:
    bootstrap = load_bootstrap(_write(tmp_path / "dns.json", [
        [["uk"], ["https://rdap.uk.example/"]],
        [["co.uk"], ["https://rdap.co-uk.example/base"]],  # no trailing slash: one is added
        [["COM."], ["http://rdap.example.net/", "https://rdap.com.example/"]],  # https chosen
    ]))
    assert bootstrap.server_for("shop.co.uk").base_url == "https://rdap.co-uk.example/base/"
    assert bootstrap.server_for("shop.uk").base_url == "https://rdap.uk.example/"
    assert bootstrap.server_for("coo.uk").base_url == "https://rdap.uk.example/"
    assert bootstrap.server_for("example.com").base_url == "https://rdap.com.example/"
    assert bootstrap.server_for("example.zz") is None
    assert bootstrap.why_none("example.zz") == "no RDAP server for .zz"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/", "http://127.9.9.9/rdap/", "http://[::1]:9/", "http://localhost:1234/",
])
def test_plain_http_is_allowed_on_loopback(tmp_path: Path, url: str) -> None:
    bootstrap = load_bootstrap(_write(tmp_path / "dns.json", [[["test"], [url]]]))
    server = bootstrap.server_for("a.test")
    assert server is not None and server.loopback_http and server.base_url == url


def test_plain_http_elsewhere_is_refused_and_never_asked(tmp_path: Path, rdap_sim: RdapSimClient) -> None:
    path = _write(tmp_path / "dns.json", [
        [["com"], ["http://rdap.example.net/"]],
        [["net"], [rdap_sim.base_url + "/"]],
    ])
    registry = RdapRegistry(load_bootstrap(path))
    try:
        answers = registry.registrations(["shop.com", "shop.net"])
    finally:
        registry.close()
    assert answers["shop.com"].status == "unknown"
    assert answers["shop.com"].reason == "no https RDAP server for .com (plain http refused: http://rdap.example.net/)"
    assert answers["shop.net"].status == "known"
    assert rdap_sim.stats()["by_domain"] == {"shop.net": 1}


@pytest.mark.parametrize(("services", "message"), [
    ([[["com"], ["http://10.0.0.1/"]]], "no usable (https or loopback) RDAP server"),
    ([[["com"], ["ftp://rdap.example/"]]], "is not an https URL"),
    ([[["com"], ["file:///etc/passwd"]]], "is not an https URL"),
    ([[["com"], ["https://user:pw@rdap.example/"]]], "carries credentials"),
    ([[["com"], ["https://rdap.example/?q=1"]]], "query or fragment"),
    ([[["com"], ["https://rdap.example:99999/"]]], "is not a URL"),
    ([[["com"], [42]]], "must be a non-empty string"),
    ([[["com"]]], "is not a [[entries...], [urls...]] pair"),
    ([[[""], ["https://rdap.example/"]]], "is not a domain label"),
    ("not a list", "no \"services\" list"),
])
def test_an_unusable_file_is_refused_at_load_with_the_reason(tmp_path: Path, services: Any, message: str) -> None:
    path = _write(tmp_path / "dns.json", services)
    with pytest.raises(BootstrapError, match=f"{path}.*") as refused:
        load_bootstrap(path)
    assert message in str(refused.value)


def test_a_missing_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BootstrapError, match="cannot read"):
        load_bootstrap(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BootstrapError, match="not JSON"):
        load_bootstrap(tmp_path / "bad.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(BootstrapError):
        load_bootstrap(tmp_path / "deep.json")


def test_build_registry_follows_the_settings(tmp_path: Path, rdap_sim: RdapSimClient) -> None:
    assert build_registry(Settings(rdap_enabled=False)) is None
    path = rdap_sim.write_bootstrap(tmp_path / "dns.json", ["test"])
    # tap365 scan --rdap asks for it whatever TAP365_RDAP_ENABLED says.
    forced = build_registry(Settings(rdap_enabled=False, rdap_bootstrap=str(path)), enabled=True)
    assert forced is not None and forced.bootstrap.source == str(path)
    registry = build_registry(Settings(rdap_enabled=True, rdap_bootstrap=str(path), rdap_budget_seconds=3,
                                       rdap_concurrency=2, rdap_rate_per_second=7, rdap_cache_days=9,
                                       rdap_negative_cache_seconds=11, rdap_max_response_bytes=5000))
    assert registry is not None
    assert (registry.limits.budget_seconds, registry.limits.concurrency, registry.limits.rate_per_second,
            registry.limits.cache_days, registry.limits.negative_cache_seconds,
            registry.limits.max_response_bytes) == (3, 2, 7, 9, 11, 5000)
    shipped = build_registry(Settings(rdap_enabled=True))
    assert shipped is not None and shipped.bootstrap.source == "shipped IANA dns.json"
    with pytest.raises(BootstrapError):
        build_registry(Settings(rdap_enabled=True, rdap_bootstrap=str(tmp_path / "absent.json")))
