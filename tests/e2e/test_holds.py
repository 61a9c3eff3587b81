"""Every held message has a next step and a deadline, through the real processor and worker
(Azurite, the simulated tenant over HTTPS): no sandbox -> the policy's timeout action at once;
a suspicious hold -> a second look, then released, tagged or quarantined, exactly once; the
admin told once of overdue holds; the person told their message is held."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.service.detonation import WARNING_CATEGORY
from connectors.service.holds import RECHECK_CATEGORY, alert_overdue_holds
from connectors.service.processing import MessageProcessor, Outcome
from connectors.service.worker import run_queue_item
from connectors.storage.interfaces import QuarantineStatus, Tenant
from tests.e2e.processor_harness import ADELE, MOVE, SEND, Service, drain, mail

ADMIN = "it-admin@contoso.test"
NOTIFIER = "alex.wilber@contoso.test"


def _blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=300, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _process(service: Service, message_id: str) -> Outcome:
    return service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, message_id))


def _mails_to(service: Service, upn: str, subject_part: str) -> list[dict[str, object]]:
    return [
        m
        for folder in service.sim.mailbox(upn)["folders"]
        for m in folder["messages"]
        if subject_part in str(m.get("subject", ""))
    ]


def test_clean_pdf_with_no_sandbox_is_delivered_with_a_warning(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAP365_SANDBOX_URL", raising=False)  # no CAPE: nothing can run a PDF
    service = service_factory()
    delivered = service.deliver(mail("pdf@partner.example", files={"minutes.pdf": _blank_pdf()}))
    outcome = _process(service, delivered["immutableId"])
    assert outcome.action == "tag"
    folder, message = service.folder_of("<pdf@partner.example>")
    assert folder == "Inbox"
    assert WARNING_CATEGORY in message["categories"]
    assert "could not be fully analysed" in message["body"]
    verdict = service.runtime.stores.verdicts.get_verdict(service.tenant_id, delivered["immutableId"])
    assert verdict is not None
    assert any("no configured sandbox can analyse the attachments" in r for r in verdict.reasons)
    assert service.runtime.stores.quarantine.get(service.tenant_id, ADELE, delivered["immutableId"]) is None
    assert drain(service.runtime.stores.delayed) == []  # no sandbox poll nobody could answer


def test_with_timeout_action_hold_the_pdf_stays_held_with_the_reason(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAP365_SANDBOX_URL", raising=False)
    service = service_factory()
    service.put_policy({"attachments": {"timeout_action": "hold"}})
    delivered = service.deliver(mail("pdf-hold@partner.example", files={"minutes.pdf": _blank_pdf()}))
    assert _process(service, delivered["immutableId"]).action == "hold"
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, delivered["immutableId"])
    assert entry is not None and entry.status is QuarantineStatus.HELD
    assert "held (timeout_action: hold)" in entry.reason


def _parcel(message_id: str, link: str) -> bytes:
    """Held for deeper analysis on its score (a delivery lure), its link leading to ``link``."""
    return mail(
        message_id,
        sender="Shipping <noreply@parcel-notice.example>",
        subject="Delivery failed - print your label",
        html=f'<p>Delivery failed. Download your label: <a href="{link}">label</a></p>',
    )


@pytest.fixture
def recheck_service(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Service:
    monkeypatch.setenv("TAP365_SCAN_ALLOW_NETWORKS", "127.0.0.1/32")  # the click analyzer's SSRF guard
    feed = tmp_path / "feed.txt"
    feed.write_text("# nothing listed yet\n")
    return service_factory(hold_recheck_minutes=0, intel_feeds=str(feed))


def _recheck_items(service: Service) -> list[dict[str, object]]:
    return [i for i in drain(service.runtime.stores.delayed) if i["kind"] == "recheck"]


def _run(service: Service, item: dict[str, object]) -> object:
    delayed = service.runtime.stores.delayed
    return service.run(run_queue_item(service.runtime, json.dumps(item), 1, delayed, 5))


def test_suspicious_hold_is_rechecked_and_released_with_a_warning_exactly_once(
    recheck_service: Service, pages: str
) -> None:
    service = recheck_service
    delivered = service.deliver(_parcel("parcel-1@parcel-notice.example", f"{pages}/label/1"))
    outcome = _process(service, delivered["immutableId"])
    assert outcome.action == "hold", outcome
    assert service.folder_of("<parcel-1@parcel-notice.example>")[0] == "Hold"
    items = _recheck_items(service)
    assert len(items) == 1 and items[0]["message_id"] == delivered["immutableId"]

    moves = service.route(MOVE)
    result = _run(service, items[0])
    assert "re-check tag" in str(result)
    folder, message = service.folder_of("<parcel-1@parcel-notice.example>")
    assert folder == "Inbox" and RECHECK_CATEGORY in message["categories"]
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, delivered["immutableId"])
    assert entry is not None and entry.status is QuarantineStatus.RELEASED and entry.updated_by == "recheck"
    since = datetime.now(UTC) - timedelta(hours=1)
    audit = [a for a in service.runtime.stores.audit.list_audit(service.tenant_id, since) if a.actor == "recheck"]
    assert [a.action for a in audit] == ["tag"] and "at click time" in audit[0].reason
    # The same item again (a duplicate delivery of the queue message): nothing more happens.
    assert _run(service, items[0]) in ("already re-checked", "not held any more")
    assert service.route(MOVE) - moves == 1


def test_suspicious_hold_is_quarantined_when_fresh_intelligence_lists_its_link(
    recheck_service: Service, pages: str
) -> None:
    service = recheck_service
    link = f"{pages}/label/2"
    delivered = service.deliver(_parcel("parcel-2@parcel-notice.example", link))
    assert _process(service, delivered["immutableId"]).action == "hold"
    # The feed lists the link after the message was held; the intelligence is refreshed.
    Path(service.runtime.settings.intel_feeds).write_text(f"{link}\n")
    service.runtime.refresh_intel()
    [item] = _recheck_items(service)
    assert "re-check quarantine" in str(_run(service, item))
    assert service.folder_of("<parcel-2@parcel-notice.example>")[0] == "Quarantine"
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, delivered["immutableId"])
    assert entry is not None and entry.status is QuarantineStatus.QUARANTINED


def test_admin_told_once_of_overdue_holds_and_the_person_told_of_theirs(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAP365_SANDBOX_URL", raising=False)
    service = service_factory(
        analysis_timeout_seconds=0.001,  # every message is held: analysis did not finish
        admin_notify_from=NOTIFIER,
        admin_notify_to=ADMIN,
        hold_alert_hours=2,
    )
    service.runtime.stores.tenants.put_tenant(Tenant(service.tenant_id, "Contoso", datetime.now(UTC)))
    sends = service.route(SEND)
    held = [service.deliver(mail(f"held-{n}@partner.example", subject=f"report {n}")) for n in (1, 2)]
    for d in held:
        assert _process(service, d["immutableId"]).action == "hold"
    # The person: one short notice per held message, saying why.
    notices = _mails_to(service, ADELE, "TAP365: a message for you is held")
    assert len(notices) == 2
    assert "analysis did not finish within 0.001 s" in json.dumps(notices)
    assert service.route(SEND) - sends == 2

    # Not overdue yet: no notice. Three hours later: one notice listing both; never again.
    assert service.run(alert_overdue_holds(service.runtime)) == 0
    later = datetime.now(UTC) + timedelta(hours=3)
    assert service.run(alert_overdue_holds(service.runtime, now=later)) == 2
    assert service.run(alert_overdue_holds(service.runtime, now=later + timedelta(hours=5))) == 0
    alerts = _mails_to(service, ADMIN, "held message(s) waiting more than 2 h")
    assert len(alerts) == 1
    assert "report 1" in json.dumps(alerts) and "report 2" in json.dumps(alerts)
    assert service.route(SEND) - sends == 3


def test_no_notice_to_the_person_when_the_policy_says_so(service_factory: Callable[..., Service]) -> None:
    service = service_factory(analysis_timeout_seconds=0.001, admin_notify_from=NOTIFIER)
    service.put_policy({"notices": {"recipient_on_hold": False}})
    delivered = service.deliver(mail("quiet@partner.example", subject="quiet one"))
    assert _process(service, delivered["immutableId"]).action == "hold"
    assert _mails_to(service, ADELE, "TAP365: a message for you") == []


def test_a_hold_for_a_limit_is_left_to_the_admin_not_rechecked(recheck_service: Service) -> None:
    service = recheck_service
    links = " ".join(f'<a href="https://h{i}.example.org/p">{i}</a>' for i in range(1001))
    raw = mail("many-links@parcel-notice.example", sender="Shipping <noreply@parcel-notice.example>",
               subject="Delivery failed - print your label", html=f"<p>Delivery failed. {links}</p>")
    delivered = service.deliver(raw)
    assert _process(service, delivered["immutableId"]).action == "hold"
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, delivered["immutableId"])
    assert entry is not None and "url_limit" in entry.reason
    assert _recheck_items(service) == []  # a second look would meet the same limit
