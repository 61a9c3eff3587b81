"""The popular domains list shipped as data, and the reputation rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tap_core.data import data_lines, data_text
from tap_core.parsing.domains import registered_domain
from tap_core.reputation import popularity_rank, reputation_findings
from tap_core.reputation.popularity import popular_domains_count, ranking_domain
from tap_core.reputation.rules import rules

DATA = Path(__file__).resolve().parents[2] / "tap_core" / "data" / "reputation"


def test_the_list_is_registered_domains_once_each_in_rank_order() -> None:
    domains = data_lines("reputation", "popular_domains.txt")
    assert len(domains) == popular_domains_count() == 10_000
    assert len(set(domains)) == len(domains)
    assert domains[:3] == ("google.com", "gtld-servers.net", "cloudflare.com")
    for domain in domains:
        assert domain == domain.lower() and domain.isascii() and registered_domain(domain) == domain, domain
    header = data_text("reputation", "popular_domains.txt").splitlines()[0]
    assert header.startswith("#") and "Tranco" in data_text("reputation", "popular_domains.txt")[:600]
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert "tranco-list.eu" in readme and "NDSS 2019" in readme and "make_popular_domains.py" in readme


@pytest.mark.parametrize(
    ("host", "rank"),
    [
        ("google.com", 1),
        ("cloudflare.com", 3),
        ("WWW.Google.COM.", 1),
        ("docs.google.com", 1),
        ("www.bbc.co.uk", 206),
        ("evil.github.io", None),  # a site on a shared platform is its own registered domain
        ("google.com.evil.example", None),
        ("example.invalid", None),
        ("192.0.2.1", None),
        ("", None),
        ("   ", None),
        ("x" * 5000 + ".com", None),
        ("bücher.de", None),
    ],
)
def test_popularity_rank(host: str, rank: int | None) -> None:
    assert popularity_rank(host) == rank


def test_unicode_hosts_are_looked_up_as_a_labels() -> None:
    assert ranking_domain("München.de") == "xn--mnchen-3ya.de"
    assert ranking_domain("xn--mnchen-3ya.de") == "xn--mnchen-3ya.de"


def test_sender_domain_unranked() -> None:
    found = reputation_findings("tiny-shop-4711.biz", [])
    assert [(f.name, f.evidence, f.group) for f in found] == [
        ("sender_domain_unranked", "tiny-shop-4711.biz", "reputation")
    ]
    assert found[0].reason == "The sender's domain tiny-shop-4711.biz is not among the popular domains."
    assert found[0].score == rules()["sender_domain_unranked"].weight
    assert reputation_findings("news.microsoft.com", []) == []
    assert reputation_findings("", []) == []  # no sender domain: no finding
    sub = reputation_findings("mail.tiny-shop-4711.biz", [])
    assert sub[0].evidence == "tiny-shop-4711.biz"  # the registered domain is what is looked up


def test_link_domains_unranked() -> None:
    sender = "google.com"
    found = reputation_findings(sender, ["login.evil-4711.biz", "cdn.evil-4711.biz", "other-4711.top"])
    assert [f.name for f in found] == ["link_domains_unranked"]
    assert found[0].evidence == "evil-4711.biz, other-4711.top"
    assert found[0].reason == (
        "The message's links lead only to domains outside the popular list (evil-4711.biz, other-4711.top)."
    )
    # One popular site among the links: nothing.
    assert reputation_findings(sender, ["evil-4711.biz", "www.linkedin.com"]) == []
    # The sender's own site among the links: nothing (a small company links to itself).
    own = reputation_findings("news.tiny-shop-4711.biz", ["www.tiny-shop-4711.biz", "evil-4711.top"])
    assert [f.name for f in own] == ["sender_domain_unranked"]
    # No links, or only empty hosts: nothing.
    assert reputation_findings(sender, []) == []
    assert reputation_findings(sender, ["", "  "]) == []
    # IP literals and shared-platform sites count as sites outside the list.
    ip = reputation_findings(sender, ["192.0.2.7", "someone.github.io"])
    assert ip[0].evidence == "192.0.2.7, someone.github.io"


def test_many_link_sites_are_counted_not_listed() -> None:
    sites = [f"site{i}-4711.biz" for i in range(12)]
    found = reputation_findings("google.com", sites)
    assert found[0].evidence.endswith("and 7 more")
    assert "{" not in found[0].reason and "?" not in found[0].reason
