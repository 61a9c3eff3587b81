"""The reputation rules (``tap_core/data/reputation/reputation_rules.toml``): how known the
message's domains are to the public, by the popular domains list shipped with the project."""

from __future__ import annotations

from collections.abc import Iterable

from tap_core.detect.defects import isolated_findings
from tap_core.detect.rules import Rule, family_rules
from tap_core.model.findings import Finding
from tap_core.reputation.popularity import popularity_rank, ranking_domain

_RULES_FILE = ("reputation", "reputation_rules.toml")
#: Link domains named in a reason; the rest are counted.
_SHOWN = 5


def rules() -> dict[str, Rule]:
    """The reputation rules, by name."""
    return family_rules(*_RULES_FILE)


def _key(host: str) -> str:
    """A link's site: its registered domain, or the host itself (an IP literal, an unknown
    top-level domain), lower-case; "" for nothing."""
    host = host.strip().lower().rstrip(".")
    return ranking_domain(host) or host


def _sender(sender_domain: str) -> list[Finding]:
    domain = sender_domain.strip().lower().rstrip(".")
    if not domain or popularity_rank(domain) is not None:
        return []
    shown = _key(domain)
    return [rules()["sender_domain_unranked"].finding(shown, domain=shown)]


def _links(sender_domain: str, link_sites: Iterable[str]) -> list[Finding]:
    sites: list[str] = []
    for host in link_sites:
        key = _key(host)
        if key and key not in sites:
            sites.append(key)
    if not sites:
        return []
    own = _key(sender_domain)
    if own and own in sites:
        return []  # the sender's own site: the list says nothing of it
    if any(popularity_rank(site) is not None for site in sites):
        return []
    shown = ", ".join(sites[:_SHOWN]) + (f" and {len(sites) - _SHOWN} more" if len(sites) > _SHOWN else "")
    return [rules()["link_domains_unranked"].finding(shown, domains=shown)]


def reputation_findings(sender_domain: str, link_sites: Iterable[str]) -> list[Finding]:
    """The reputation findings of a message from ``sender_domain`` (the From address's domain;
    "" when there is none) whose links lead to ``link_sites`` (hosts or registered domains).

    ``sender_domain_unranked``: the sender's registered domain is not in the list.
    ``link_domains_unranked``: there is at least one link site, none is in the list and none is
    the sender's own registered domain.
    """
    # Each rule runs isolated: one that raises adds analysis_defect, the other still runs.
    defects: list[Finding] = []
    sender = isolated_findings("reputation.sender", lambda: _sender(sender_domain), defects)
    links = isolated_findings("reputation.links", lambda: _links(sender_domain, link_sites), defects)
    return [*sender, *links, *defects]


__all__ = ["reputation_findings", "rules"]
