"""Domain age and first contact across the organisation, through the pipeline: the findings
``domain_registered_recently``, ``domain_age_unknown`` and ``org_first_seen_*``, their evidence,
what is and is not looked up, and what delivered mail teaches the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tap_core.impersonation import observe
from tap_core.impersonation.memory_history import InMemorySenderHistory
from tap_core.model.decision import Action, Decision
from tap_core.model.findings import Finding, Verdict
from tap_core.parsing.mime import parse_eml
from tap_core.pipeline import Pipeline, TenantContext
from tap_core.policy import Policy, PolicyError, parse_policy
from tap_core.reputation.policy import ReputationPolicy
from tap_core.reputation.registration import StaticRegistry

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
TENANT = "tenant-a"


def mail(sender: str, *links: str) -> bytes:
    anchors = " ".join(f'<a href="https://{link}/files/q4-statement">statement {i}</a>' for i, link in enumerate(links))
    return f"""From: Accounts <{sender}>
To: Alice <alice@contoso.com>
Subject: Shared document: Q4 statement
Date: Tue, 08 Dec 2026 08:59:00 +0000
Message-ID: <q4@example.test>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<p>Hello Alice,</p><p>The Q4 statement we discussed is ready. You can review it here: {anchors}</p>
<p>Kind regards,<br>Mark</p>
""".encode()


def run(
    raw: bytes,
    registry: StaticRegistry | None,
    history: InMemorySenderHistory | None = None,
    policy: Policy | None = None,
) -> Decision:
    policy = policy or parse_policy("internal_domains: [contoso.com]\n")
    pipeline = Pipeline(policy, tenant=TenantContext(tenant_id=TENANT, history=history, registry=registry))
    return pipeline.run(parse_eml(raw, "m.eml"), tenant_id=TENANT, now=NOW)


def named(decision: Decision, name: str) -> Finding | None:
    return next((f for f in decision.findings if f.name == name), None)


REGISTRY = {
    "northwind-ledger.com": NOW - timedelta(days=400),
    "northwind-docs.com": NOW - timedelta(days=2, hours=3),
    "fabrikam-partners.com": NOW - timedelta(days=4000),
    "tailspin-files.net": NOW - timedelta(days=20),
}


def test_a_two_day_old_link_domain_from_a_sender_nobody_knows_is_held() -> None:
    registry = StaticRegistry(REGISTRY)
    decision = run(mail("mark@northwind-ledger.com", "northwind-docs.com"), registry, InMemorySenderHistory())
    assert decision.verdict is Verdict.SUSPICIOUS and decision.action is Action.HOLD
    recent = named(decision, "domain_registered_recently")
    assert recent is not None and recent.variant == "days"
    assert "northwind-docs.com registered 2026-12-06, 2 days before the message" in recent.evidence
    assert "registered only 2 days ago" in recent.reason
    first_link = named(decision, "org_first_seen_link_domain")
    assert first_link is not None and first_link.evidence == "northwind-docs.com"
    # The new sender domain is weighed once: Impersonation Protect's newly observed sender says it.
    assert named(decision, "newly_observed_sender") is not None
    assert named(decision, "org_first_seen_sender_domain") is None
    assert any(r.startswith("domain_registered_recently") for r in decision.reasons)
    assert registry.asked == ["northwind-ledger.com", "northwind-docs.com"]


def test_the_same_message_from_a_long_known_correspondent_linking_to_an_old_domain_is_delivered() -> None:
    history = InMemorySenderHistory()
    raw = mail("mark@fabrikam-partners.com", "fabrikam-partners.com")
    observe(parse_eml(raw, "old.eml"), history, tenant_id=TENANT, now=NOW - timedelta(days=300),
            link_domains=["fabrikam-partners.com"])
    decision = run(raw, StaticRegistry(REGISTRY), history)
    assert decision.action not in (Action.HOLD, Action.QUARANTINE)
    assert decision.verdict is Verdict.CLEAN
    for name in ("domain_registered_recently", "org_first_seen_sender_domain", "org_first_seen_link_domain",
                 "newly_observed_sender", "domain_age_unknown"):
        assert named(decision, name) is None, name


def test_first_contact_is_per_tenant_and_only_what_was_recorded_counts() -> None:
    history = InMemorySenderHistory()
    raw = mail("mark@fabrikam-partners.com", "tailspin-files.net")
    observe(parse_eml(raw, "old.eml"), history, tenant_id="another-tenant", now=NOW - timedelta(days=300),
            link_domains=["tailspin-files.net"])
    decision = run(raw, None, history, parse_policy("internal_domains: [contoso.com]\nimpersonation: {enabled: false}\n"))
    sender = named(decision, "org_first_seen_sender_domain")
    assert sender is not None and sender.evidence == "fabrikam-partners.com: never delivered before"
    assert named(decision, "org_first_seen_link_domain") is not None
    # Known in this tenant: nothing; a link domain first seen within the grace hours still counts.
    observe(parse_eml(raw, "old.eml"), history, tenant_id=TENANT, now=NOW - timedelta(days=30))
    history.record_link_domains(TENANT, ["tailspin-files.net"], NOW - timedelta(hours=2))
    again = run(raw, None, history, parse_policy("internal_domains: [contoso.com]\nimpersonation: {enabled: false}\n"))
    assert named(again, "org_first_seen_sender_domain") is None
    assert named(again, "org_first_seen_sender_address") is None
    link = named(again, "org_first_seen_link_domain")
    assert link is not None and link.evidence == "tailspin-files.net"


def test_a_new_address_at_a_known_or_popular_domain_is_first_contact_by_address() -> None:
    history = InMemorySenderHistory()
    observe(parse_eml(mail("anna@gmail.com"), "old.eml"), history, tenant_id=TENANT, now=NOW - timedelta(days=90))
    policy = parse_policy("internal_domains: [contoso.com]\nimpersonation: {enabled: false}\n")
    decision = run(mail("mallory@gmail.com"), None, history, policy)
    address = named(decision, "org_first_seen_sender_address")
    assert address is not None and "mallory@gmail.com" in address.reason
    assert named(decision, "org_first_seen_sender_domain") is None
    assert named(run(mail("anna@gmail.com"), None, history, policy), "org_first_seen_sender_address") is None
    # Mail from the tenant's own domain is never first contact.
    assert named(run(mail("bob@contoso.com"), None, history, policy), "org_first_seen_sender_address") is None


def test_a_domain_registered_within_the_month_is_the_weaker_variant_and_the_window_is_the_policys() -> None:
    raw = mail("mark@fabrikam-partners.com", "tailspin-files.net")
    recent = named(run(raw, StaticRegistry(REGISTRY)), "domain_registered_recently")
    assert recent is not None and recent.variant == "" and "20 days" in recent.evidence
    narrow = parse_policy("internal_domains: [contoso.com]\nreputation: {registered_recently_days: 14}\n")
    assert named(run(raw, StaticRegistry(REGISTRY), policy=narrow), "domain_registered_recently") is None


def test_popular_and_own_domains_are_never_looked_up_and_the_count_is_limited() -> None:
    links = ["www.google.com", "docs.microsoft.com", "intranet.contoso.com", *[f"site{i}-files.net" for i in range(5)]]
    registry = StaticRegistry({})
    policy = parse_policy("internal_domains: [contoso.com]\nreputation: {max_domains_per_message: 3}\n")
    decision = run(mail("mark@northwind-ledger.com", *links), registry, policy=policy)
    assert registry.asked == ["northwind-ledger.com", "site0-files.net", "site1-files.net"]
    unknown = named(decision, "domain_age_unknown")
    assert unknown is not None and unknown.score == 0
    assert "site2-files.net: not looked up: over the limit of 3 domains per message" in unknown.evidence
    assert decision.weights["domain_age_unknown"] == 0


def test_a_registry_that_could_not_answer_is_said_not_weighed() -> None:
    registry = StaticRegistry({}, unknown={"northwind-docs.com": "no answer within 2 s"})
    decision = run(mail("mark@fabrikam-partners.com", "northwind-docs.com"), registry)
    unknown = named(decision, "domain_age_unknown")
    assert unknown is not None
    assert unknown.reason == "The registration date of northwind-docs.com is not known: northwind-docs.com: no answer within 2 s."
    assert named(decision, "domain_registered_recently") is None


def test_a_domain_registered_after_the_message_says_nothing_of_its_age_then() -> None:
    raw = mail("mark@fabrikam-partners.com", "northwind-docs.com")  # dated 2026-12-08
    registry = StaticRegistry({"northwind-docs.com": NOW + timedelta(days=40)})
    assert named(run(raw, registry), "domain_registered_recently") is None


def test_a_tenant_may_turn_both_off() -> None:
    registry = StaticRegistry(REGISTRY)
    policy = parse_policy("internal_domains: [contoso.com]\nreputation: {domain_age: false, first_seen: false}\n"
                          "impersonation: {enabled: false}\n")
    decision = run(mail("mark@northwind-ledger.com", "northwind-docs.com"), registry, InMemorySenderHistory(), policy)
    assert registry.asked == []
    assert not [f for f in decision.findings if f.name.startswith(("org_first_seen", "domain_"))]


@pytest.mark.parametrize(
    "section",
    [{"registered_recently_days": 0}, {"registered_very_recently_days": 40}, {"max_domains_per_message": 0},
     {"first_seen_grace_hours": -1}, {"rdap": True}],
)
def test_policy_limits_are_checked(section: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        parse_policy({"reputation": section})
    assert ReputationPolicy().registered_recently_days == 30


def test_delivered_mail_teaches_the_link_domains() -> None:
    history = InMemorySenderHistory()
    decision = run(mail("mark@northwind-ledger.com", "northwind-docs.com", "www.google.com"), None, history)
    assert decision.link_domains == ["northwind-docs.com"]
    observe(parse_eml(mail("x@y.test"), "m"), history, tenant_id=TENANT, now=NOW, link_domains=decision.link_domains)
    assert history.first_seen_link_domain(TENANT, "northwind-docs.com") == NOW
    assert history.first_seen_link_domain("another-tenant", "northwind-docs.com") is None
