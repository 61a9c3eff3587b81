"""The subscriptions cover every folder: mail the person sent or is writing is not processed
(its links stay as written), and whom they write to becomes a familiar sender to them."""

from __future__ import annotations

import pytest

from connectors.service.processing import MessageProcessor
from tests.e2e.processor_harness import ADELE, PATCH, Service, mail


@pytest.mark.parametrize("folder", ["sentitems", "drafts"])
def test_mail_the_person_sent_or_writes_is_left_as_written(service: Service, folder: str) -> None:
    raw = mail(f"own-{folder}@contoso.test", sender=f"Adele <{ADELE}>", to="Pat <pat@partner.example>")
    delivered = service.sim.deliver(ADELE, raw, folder=folder)
    patches = service.route(PATCH)
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.status == "skipped" and folder in outcome.detail
    assert service.route(PATCH) == patches
    _, message = service.folder_of(f"<own-{folder}@contoso.test>")
    assert "/api/r/" not in message["body"]
    senders = service.runtime.stores.senders
    # Writing to someone makes them a correspondent; a draft is not yet mail the person sent.
    assert senders.has_corresponded(service.tenant_id, ADELE, "pat@partner.example") is (folder == "sentitems")


def test_mail_received_in_the_inbox_is_still_processed(service: Service) -> None:
    delivered = service.deliver(mail("received@partner.example"))
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.status == "processed"
