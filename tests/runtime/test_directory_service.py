"""The tenant as Graph describes it, in the service: every internal user's display name is
protected (a Graph-backed Directory), the verified domains are the internal domains unless the
policy lists its own, and the default policy file and the sender history window are read.
Through the real processor, Azurite and the simulated tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.graph.directory import DirectoryTooLarge, GraphDirectory
from connectors.service.processing import MessageProcessor
from connectors.storage.senders import TableSenderHistory
from tap_core.parsing.mime import parse_eml
from tests.e2e.processor_harness import ADELE, Service, mail

INTERNAL_USER_FINDING = "display_name_internal_user"
DIRECTORY = "GET /v1.0/users"


def _process(service: Service, *raws: bytes) -> list[dict[str, float]]:
    """Run the service's processor on delivered messages (one event loop: the runtime's Graph
    client lives on it); the findings each verdict recorded."""
    ids = [service.deliver(raw)["immutableId"] for raw in raws]

    async def run() -> None:
        for message_id in ids:
            outcome = await MessageProcessor(service.runtime).process(service.tenant_id, ADELE, message_id)
            assert outcome.status == "processed", outcome

    asyncio.run(run())
    found = []
    for message_id in ids:
        record = service.runtime.stores.verdicts.get_verdict(service.tenant_id, message_id)
        assert record is not None
        found.append(dict(record.details.get("weights") or {}))
    return found


def test_an_internal_users_display_name_from_another_domain_is_caught(service: Service) -> None:
    # Megan Bowen is a user of the tenant (no policy names her): only the directory knows her.
    raw = mail("megan-gmail@gmail.test", sender='"Megan Bowen" <megan.bowen.ceo@gmail.test>',
               subject="quick favour")
    # The finding the service's pipeline makes names her (asked before the service sees the
    # message: mailbox intelligence then knows the sender).
    evidence = service.runtime.pipeline(service.tenant_id).evidence(parse_eml(raw), tenant_id=service.tenant_id,
                                                                    recipient=ADELE)
    (hit,) = [f for f in evidence.findings if f.name == INTERNAL_USER_FINDING]
    assert "Megan Bowen" in hit.evidence

    # In the service; her own mail is no impersonation; the directory is not read per message.
    reads = service.route(DIRECTORY)
    own = mail("megan-own@contoso.test", sender='"Megan Bowen" <megan.bowen@contoso.test>')
    spoof, genuine = _process(service, raw, own)
    assert INTERNAL_USER_FINDING in spoof and INTERNAL_USER_FINDING not in genuine
    assert service.route(DIRECTORY) == reads == 1


def test_verified_domains_become_internal_domains_unless_the_policy_lists_its_own(service: Service) -> None:
    rt = service.runtime
    # The app holds User.Read.All but not Organization.Read.All: the users' domains stand in.
    assert rt.pipeline(service.tenant_id).policy.internal_domains == ["contoso.test"]
    assert "users' addresses" in rt.directory.status(service.tenant_id)["domains_source"]

    service.sim.grant(["Mail.ReadWrite", "Mail-Advanced.ReadWrite", "User.Read.All", "Organization.Read.All"])
    rt.directory.refresh(service.tenant_id)
    assert rt.directory.status(service.tenant_id)["domains_source"] == "verifiedDomains"
    assert rt.pipeline(service.tenant_id).policy.internal_domains == ["contoso.onmicrosoft.com", "contoso.test"]

    service.put_policy({"internal_domains": ["contoso.example"]})
    assert rt.pipeline(service.tenant_id).policy.internal_domains == ["contoso.example"]


def test_the_default_policy_file_applies_to_tenants_without_a_stored_policy(
    service_factory, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("internal_domains: [from-the-file.example]\nurl:\n  rewrite: false\n")
    service = service_factory(policy_file=str(policy))
    used = service.runtime.pipeline(service.tenant_id).policy
    assert used.internal_domains == ["from-the-file.example"] and used.url.rewrite is False
    # A stored policy still wins.
    service.put_policy({"internal_domains": ["stored.example"]})
    assert service.runtime.pipeline(service.tenant_id).policy.internal_domains == ["stored.example"]


def test_an_unusable_policy_file_falls_back_to_the_built_in_defaults(
    service_factory, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("url: [this is not a mapping\n")
    service = service_factory(policy_file=str(policy))
    assert service.runtime.pipeline(service.tenant_id).policy.url.rewrite is True


def test_the_sender_history_window_is_the_setting(service_factory) -> None:  # type: ignore[no-untyped-def]
    service = service_factory(sender_history_days=30)
    history = service.runtime.pipeline(service.tenant_id).tenant.history
    assert isinstance(history, TableSenderHistory) and history.window_days == 30
    now = datetime.now(UTC)
    history.record(service.tenant_id, "old@partner.example", [ADELE], now - timedelta(days=45))
    history.record(service.tenant_id, "recent@partner.example", [ADELE], now - timedelta(days=10))
    # Seen 45 days ago and not since: outside a 30-day window, so new again; 10 days: known.
    assert history.first_seen(service.tenant_id, "old@partner.example") is None
    assert not history.has_corresponded(service.tenant_id, ADELE, "old@partner.example")
    assert history.first_seen(service.tenant_id, "recent@partner.example") is not None
    assert history.has_corresponded(service.tenant_id, ADELE, "recent@partner.example")


def test_the_directory_reads_every_page_and_keeps_its_user_limit(service: Service) -> None:
    settings = service.runtime.graph_settings
    paged = GraphDirectory(settings, page_size=2)
    paged.refresh(service.tenant_id)  # six users, three pages
    users = paged.internal_users(service.tenant_id)
    assert len(users) == 6 and "Megan Bowen" in {u.name for u in users}
    assert paged.internal_users(service.tenant_id) is users  # unchanged: the same sequence object

    small = GraphDirectory(settings, page_size=2, max_users=3)
    with pytest.raises(DirectoryTooLarge):
        small.refresh(service.tenant_id)
    assert "more than 3 users" in small.status(service.tenant_id)["error"]
    assert small.internal_users(service.tenant_id) == ()  # nothing half-read is used
