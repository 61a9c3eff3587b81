"""The reputation rules (``tap_core/data/reputation/reputation_rules.toml``): how known the
message's domains are to the public (the popular domains list shipped with the project), to the
organisation (first contact, from the tenant's history of delivered mail) and how long they have
existed (their registration dates, from a :class:`~tap_core.reputation.registration.DomainRegistry`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tap_core.detect.defects import isolated_findings
from tap_core.detect.rules import Rule, family_rules
from tap_core.impersonation.interfaces import SenderHistory
from tap_core.model.findings import Finding
from tap_core.reputation.policy import ReputationPolicy
from tap_core.reputation.popularity import popularity_rank, ranking_domain
from tap_core.reputation.registration import DomainRegistration

_RULES_FILE = ("reputation", "reputation_rules.toml")
#: Link domains named in a reason; the rest are counted.
_SHOWN = 5
#: A registration this far after the message still counts as before it (clocks differ).
_CLOCK_SKEW = timedelta(hours=1)


def rules() -> dict[str, Rule]:
    """The reputation rules, by name."""
    return family_rules(*_RULES_FILE)


def _named(items: Sequence[str]) -> str:
    """The first few of ``items``, the rest counted: "a, b, c, d, e and 2 more"."""
    more = len(items) - _SHOWN
    return ", ".join(items[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


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
    shown = _named(sites)
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


def _sites(hosts: Iterable[str]) -> list[str]:
    """Distinct registered domains of ``hosts`` (lower-case A-labels), in order; IP literals,
    bare suffixes and unknown top-level domains have none."""
    sites: list[str] = []
    for host in hosts:
        site = ranking_domain(host)
        if site and site not in sites:
            sites.append(site)
    return sites


def _own(site: str, internal_domains: Sequence[str]) -> bool:
    return any(site == d or site.endswith("." + d) or d.endswith("." + site) for d in internal_domains)


@dataclass(frozen=True, slots=True)
class DomainsToCheck:
    """Which registered domains of a message the reputation lookups ask about."""

    #: The sender's registered domain ("" when there is none, or it is popular or the tenant's).
    sender: str
    #: The links' registered domains, not popular, not the tenant's (the sender's may be one).
    links: tuple[str, ...]
    #: What the registry is asked: the sender's first, then the links', at most the policy's count.
    lookups: tuple[str, ...]
    #: Domains beyond ``max_domains_per_message``: named, not looked up.
    over_limit: tuple[str, ...] = ()
    roles: Mapping[str, str] = field(default_factory=dict)
    #: The sender's domain is the tenant's own: first contact says nothing of it.
    sender_internal: bool = False


def domains_to_check(
    sender_domain: str,
    link_hosts: Iterable[str],
    policy: ReputationPolicy,
    internal_domains: Sequence[str] = (),
) -> DomainsToCheck:
    """The registered domains of the sender and the links worth asking about: popular domains
    (the shipped list) and the tenant's own are never looked up."""
    def worth(site: str) -> bool:
        return bool(site) and popularity_rank(site) is None and not _own(site, internal_domains)

    sender_site = ranking_domain(sender_domain)
    sender = sender_site if worth(sender_site) else ""
    links = tuple(site for site in _sites(link_hosts) if worth(site))
    roles: dict[str, str] = {}
    if sender:
        roles[sender] = "sender's"
    for site in links:
        roles[site] = "sender's and a link's" if site == sender else "link's"
    ordered = list(roles)
    limit = policy.max_domains_per_message
    internal = bool(sender_site) and _own(sender_site, internal_domains)
    return DomainsToCheck(sender, links, tuple(ordered[:limit]), tuple(ordered[limit:]), roles, internal)


def _age(delta: timedelta) -> str:
    days = delta.days
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''}"
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}" if hours >= 1 else "less than an hour"


def registration_findings(
    checked: DomainsToCheck,
    answers: Mapping[str, DomainRegistration],
    policy: ReputationPolicy,
    now: datetime,
) -> list[Finding]:
    """``domain_registered_recently`` for each domain younger than the policy's window (the
    stronger ``days`` variant within ``registered_very_recently_days``), and one
    ``domain_age_unknown`` naming every domain whose date could not be learned, and why."""
    rule = rules()
    found: list[Finding] = []
    unknown: list[tuple[str, str]] = [(d, "not looked up: over the limit of "
                                       f"{policy.max_domains_per_message} domains per message")
                                      for d in checked.over_limit]
    for domain in checked.lookups:
        answer = answers.get(domain)
        if answer is None:
            unknown.append((domain, "no answer"))
            continue
        if answer.status == "unknown":
            unknown.append((domain, answer.reason or "no answer"))
            continue
        if answer.status != "known" or answer.registered is None:
            continue  # not_found: the registry has no such domain; nothing to weigh
        age = now - answer.registered
        if age >= timedelta(days=policy.registered_recently_days) or age < -_CLOCK_SKEW:
            continue  # old; or registered after the message (re-registered since): says nothing
        age = max(age, timedelta(0))
        variant = "days" if age < timedelta(days=policy.registered_very_recently_days) else ""
        date = answer.registered.date().isoformat()
        role = checked.roles.get(domain, "link's")
        found.append(rule["domain_registered_recently"].finding(
            f"{domain} registered {date}, {_age(age)} before the message (the {role} domain)", variant,
            domain=domain, role=role, age=_age(age), date=date, days=age.days,
        ))
    if unknown:
        shown = _named([d for d, _ in unknown])
        why = "; ".join(dict.fromkeys(f"{d}: {r}" for d, r in unknown[:_SHOWN]))
        found.append(rule["domain_age_unknown"].finding(why, domains=shown, why=why))
    return found


def _first_time(first: datetime | None, now: datetime, policy: ReputationPolicy) -> bool:
    return first is None or now - first < timedelta(hours=policy.first_seen_grace_hours)


def first_seen_findings(
    history: SenderHistory,
    tenant_id: str,
    sender_address: str,
    checked: DomainsToCheck,
    policy: ReputationPolicy,
    now: datetime,
    *,
    sender_weighed: bool = False,
) -> list[Finding]:
    """First contact across the organisation, from its history of delivered mail:
    ``org_first_seen_sender_domain`` (else ``org_first_seen_sender_address``) and
    ``org_first_seen_link_domain`` (links to sites neither popular, nor the tenant's, nor the
    sender's own). ``sender_weighed``: Impersonation Protect already weighed this sender as newly
    observed: one fact is counted once."""
    rule = rules()
    found: list[Finding] = []
    address = sender_address.strip().lower()
    if address and not sender_weighed and not checked.sender_internal:
        # A popular domain (a free mailbox provider) is always known: then the address tells.
        first = history.first_seen_domain(tenant_id, checked.sender) if checked.sender else None
        if checked.sender and _first_time(first, now, policy):
            seen = f"first delivered {first.isoformat()}" if first else "never delivered before"
            found.append(rule["org_first_seen_sender_domain"].finding(
                f"{checked.sender}: {seen}", domain=checked.sender))
        else:
            first = history.first_seen(tenant_id, address)
            if _first_time(first, now, policy):
                seen = f"first delivered {first.isoformat()}" if first else "never delivered before"
                found.append(rule["org_first_seen_sender_address"].finding(
                    f"{address}: {seen}", address=address))
    asked = checked.links[: policy.max_domains_per_message]  # one history read each: bounded
    new_links = [site for site in asked if site != checked.sender
                 and _first_time(history.first_seen_link_domain(tenant_id, site), now, policy)]
    if new_links:
        shown = _named(new_links)
        found.append(rule["org_first_seen_link_domain"].finding(shown, domains=shown))
    return found


__all__ = [
    "DomainsToCheck",
    "domains_to_check",
    "first_seen_findings",
    "registration_findings",
    "reputation_findings",
    "rules",
]
