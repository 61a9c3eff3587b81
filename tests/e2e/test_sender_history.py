"""Mailbox intelligence learns only from delivered mail: an attacker's quarantined message does
not make its sender known for the next one."""

from __future__ import annotations

from connectors.service.processing import MessageProcessor, Outcome
from tests.e2e.processor_harness import ADELE, Service, mail

CEO_POLICY = {
    "internal_domains": ["contoso.test"],
    "vips": [{"name": "Megan Bowen", "email": "megan.bowen@contoso.test"}],
    "impersonation": {"hit_threshold": 2},
}


def test_the_same_impersonation_mail_twice_is_quarantined_twice(service: Service) -> None:
    service.put_policy(CEO_POLICY)
    processor = MessageProcessor(service.runtime)

    async def twice() -> list[Outcome]:  # one event loop: the Graph client lives in it
        outcomes = []
        for n in (1, 2):
            delivered = service.deliver(
                mail(
                    f"ceo-{n}@gmail.com",
                    sender="Megan Bowen <megan.bowen.office@gmail.com>",
                    subject="Quick favour",
                    html="<p>Please call me when you are back in the office.</p>",
                )
            )
            outcomes.append(await processor.process(service.tenant_id, ADELE, delivered["immutableId"]))
        return outcomes

    outcomes = service.run(twice())
    for n in (1, 2):
        assert service.folder_of(f"<ceo-{n}@gmail.com>")[0] == "Quarantine"
    assert [o.action for o in outcomes] == ["quarantine", "quarantine"]
    history = service.runtime.stores.senders
    assert history.first_seen(service.tenant_id, "megan.bowen.office@gmail.com") is None
    assert not history.has_corresponded(service.tenant_id, ADELE, "megan.bowen.office@gmail.com")


def test_delivered_mail_is_remembered(service: Service) -> None:
    delivered = service.deliver(mail("partner-1@partner.example"))
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.action in ("deliver", "rewrite", "tag", "log")
    assert service.runtime.stores.senders.first_seen(service.tenant_id, "docs@partner.example") is not None
