"""User-reported phishing end to end: reports delivered to the reporting mailbox of the simulated
tenant (m365sim over HTTPS), processed by the real MessageProcessor with Azurite storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from connectors.service.processing import MessageProcessor
from tests.e2e.processor_harness import ADELE, Service, mail
from tests.reports.msgfile import build_msg

REPORTS = "phish-report@contoso.test"
NOTIFIER = "it-admin@contoso.test"
MEGAN = "megan.bowen@contoso.test"
FINANCE = "finance@contoso.test"
LURE_ID = "lure-1@billing.evil.example"
LURE_SENDER = "billing@evil.example"
LURE_SUBJECT = "Invoice 4471 overdue: pay today"


def _setup(service: Service, **reports: Any) -> str:
    """The reporting mailbox in the tenant and in its policy; returns its user id."""
    user = service.sim.control("POST", "/users", json={
        "tenant": service.tenant_id, "userPrincipalName": REPORTS, "displayName": "Phish reports",
    })
    service.put_policy({"reports": {"mailbox": REPORTS, **reports}, "blocked_senders": ["evil.example"]})
    return str(user.get("id") or "")


def _lure(to: str) -> bytes:
    return mail(LURE_ID, sender=f"Billing <{LURE_SENDER}>", subject=LURE_SUBJECT, to=to,
                html='<p>Pay at <a href="https://billing.evil.example/pay">our portal</a></p>')


def _report(reporter: str, subject: str, *, attach: tuple[str, str, bytes] | None = None,
            rfc822: bytes | None = None, text: str = "Reported from Outlook.") -> bytes:
    msg = EmailMessage()
    msg["From"] = reporter
    msg["To"] = REPORTS
    msg["Subject"] = subject
    msg["Message-ID"] = f"<report-{abs(hash((reporter, subject)))}@contoso.test>"
    msg.set_content(text)
    if rfc822 is not None:
        from email import message_from_bytes, policy

        msg.add_attachment(message_from_bytes(rfc822, policy=policy.default))
    if attach is not None:
        name, ctype, data = attach
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes()


def _process(service: Service, raw: bytes, mailbox: str = REPORTS) -> Any:
    delivered = service.sim.deliver(REPORTS, raw)
    return service.run(MessageProcessor(service.runtime).process(service.tenant_id, mailbox,
                                                                 delivered["immutableId"]))


def _answers(service: Service, upn: str) -> list[str]:
    return [m["subject"] for f in service.sim.mailbox(upn)["folders"] for m in f["messages"]
            if str(m.get("subject", "")).startswith("Your report:")]


def test_three_reports_of_one_phish_make_one_entry_and_every_reporter_is_answered(
    service_factory: Any,
) -> None:
    service = service_factory(admin_notify_from=NOTIFIER)
    reports_id = _setup(service)
    for person in (ADELE, MEGAN, FINANCE):
        service.deliver(_lure(person), upn=person)
    headers = (f"From: Billing <{LURE_SENDER}>\r\nTo: {FINANCE}\r\nSubject: {LURE_SUBJECT}\r\n"
               f"Message-ID: <{LURE_ID}>\r\nDate: Mon, 7 Dec 2026 09:00:00 +0000\r\n")
    msg_file = build_msg(subject=LURE_SUBJECT, headers=headers, body="Pay at https://billing.evil.example/pay")
    forward = (f"FYI, this looks odd.\n\n-----Original Message-----\nFrom: Billing <{LURE_SENDER}>\n"
               f"Sent: Monday, December 7, 2026 9:00 AM\nTo: Megan Bowen <{MEGAN}>\nSubject: {LURE_SUBJECT}\n\n"
               "Pay at https://billing.evil.example/pay\n")
    outcomes = [
        # The Report button: the message attached as message/rfc822; this one by the mailbox's id.
        _process(service, _report(ADELE, f"Phishing: {LURE_SUBJECT}", rfc822=_lure(ADELE)), reports_id),
        _process(service, _report(FINANCE, "Suspicious", attach=("Invoice.msg", "application/vnd.ms-outlook",
                                                                 msg_file))),
        _process(service, _report(MEGAN, f"FW: {LURE_SUBJECT}", text=forward)),
    ]
    assert [o.action for o in outcomes] == ["report"] * 3, [o.detail for o in outcomes]
    assert [o.verdict for o in outcomes] == ["confirmed"] * 3, [o.detail for o in outcomes]
    entries = service.runtime.stores.reports.list(service.tenant_id)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.count == 3 and entry.internet_message_id == f"<{LURE_ID}>"
    assert {r.address for r in entry.reporters} == {ADELE, MEGAN, FINANCE}
    assert sorted(r.format for r in entry.reporters) == ["attached", "forward", "msg"]
    assert entry.verdict == "malicious" and entry.analysed == "mailbox"
    assert any(f["name"] == "sender_blocked_by_policy" for f in entry.findings)
    for person in (ADELE, MEGAN, FINANCE):
        assert _answers(service, person) == ["Your report: Phishing confirmed"], person
    # Each report is in the audit trail, with its reporter.
    since = datetime.now(UTC) - timedelta(hours=1)
    audit = [a for a in service.runtime.stores.audit.list_audit(service.tenant_id, since, 100) if a.action == "report"]
    assert sorted(a.actor for a in audit) == sorted([ADELE, MEGAN, FINANCE])
    assert all("confirmed" in a.reason for a in audit)
    # The reports themselves are left as they are in the reporting mailbox (nothing held).
    folders = {f["displayName"]: len(f["messages"]) for f in service.sim.mailbox(REPORTS)["folders"]}
    assert folders.get("Inbox") == 3


def test_a_report_counts_once_whatever_the_redelivery(service_factory: Any) -> None:
    service = service_factory(admin_notify_from=NOTIFIER)
    _setup(service)
    service.deliver(_lure(ADELE))
    delivered = service.sim.deliver(REPORTS, _report(ADELE, "Phish", rfc822=_lure(ADELE)))
    processor = MessageProcessor(service.runtime)
    first = service.run(processor.process(service.tenant_id, REPORTS, delivered["immutableId"]))
    again = service.run(processor.process(service.tenant_id, REPORTS, delivered["immutableId"]))
    assert first.action == "report" and again.status == "duplicate"
    [entry] = service.runtime.stores.reports.list(service.tenant_id)
    assert entry.count == 1
    assert _answers(service, ADELE) == ["Your report: Phishing confirmed"]


HOSTILE = {
    "report_of_report": lambda: _report(MEGAN, "Report of a report",
                                        rfc822=_report(ADELE, "Phish", rfc822=_lure(ADELE))),
    "attachment_too_large": lambda: _report(MEGAN, "Big", attach=("big.msg", "application/vnd.ms-outlook",
                                                                  b"\xd0\xcf" * 4096)),
    "msg_unparseable": lambda: _report(MEGAN, "Broken", attach=("broken.msg", "application/vnd.ms-outlook",
                                                                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 700)),
    "no_reported_message": lambda: _report(MEGAN, "Please look", text="I got something odd this morning."),
}


@pytest.mark.parametrize("outcome", list(HOSTILE))
def test_hostile_reports_get_a_clear_outcome_an_answer_and_a_finished_journal(
    service_factory: Any, outcome: str
) -> None:
    service = service_factory(admin_notify_from=NOTIFIER)
    _setup(service, max_attachment_bytes=4096)  # the named limit, small here (default 50 MiB)
    result = _process(service, HOSTILE[outcome]())
    assert (result.status, result.action, result.verdict) == ("processed", "report", outcome), result.detail
    [entry] = service.runtime.stores.reports.list(service.tenant_id)
    assert entry.outcome == outcome and entry.reporters[0].address == MEGAN and entry.reasons
    assert _answers(service, MEGAN) == ["Your report: Not analysed"]
    # The worker went on: the journal has the report done, and a good report after it works.
    service.deliver(_lure(ADELE))
    assert _process(service, _report(ADELE, "Phish", rfc822=_lure(ADELE))).verdict == "confirmed"


def test_mail_to_other_mailboxes_is_not_a_report(service_factory: Any) -> None:
    service = service_factory(admin_notify_from=NOTIFIER)
    _setup(service)
    delivered = service.deliver(_lure(ADELE))
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE,
                                                                    delivered["immutableId"]))
    assert outcome.action == "quarantine"
    assert service.runtime.stores.reports.list(service.tenant_id) == []


EVERYONE = (ADELE, "alex.wilber@contoso.test", MEGAN, "jane.doe@contoso.test", FINANCE, NOTIFIER)


def test_confirmed_reports_purge_every_copy_once_and_an_admin_releases_them_again(service_factory: Any) -> None:
    """Six people got the same message and it was delivered; three report it (the three formats);
    today it is phishing: one triage entry, each reporter answered, the six copies quarantined
    once each, put back on the admin's request, and all of it in the audit trail."""
    from connectors.service.campaigns import message_key, release_campaign

    service = service_factory(admin_notify_from=NOTIFIER)
    user = service.sim.control("POST", "/users", json={
        "tenant": service.tenant_id, "userPrincipalName": REPORTS, "displayName": "Phish reports",
    })
    service.put_policy({"reports": {"mailbox": REPORTS}})
    processor = MessageProcessor(service.runtime)
    internet_id = f"<{LURE_ID}>"
    copies: list[str] = []
    for person in EVERYONE:  # delivered and processed: nothing known against it yet
        delivered = service.deliver(_lure(person), upn=person)
        copies.append(str(delivered["immutableId"]))
        outcome = service.run(processor.process(service.tenant_id, person, delivered["immutableId"]))
        assert outcome.action in ("deliver", "rewrite", "tag", "log"), (person, outcome)
    # What is learnt later: the sender's domain turns out to be an attacker's.
    service.put_policy({"reports": {"mailbox": REPORTS}, "blocked_senders": ["evil.example"]})

    headers = (f"From: Billing <{LURE_SENDER}>\r\nTo: {FINANCE}\r\nSubject: {LURE_SUBJECT}\r\n"
               f"Message-ID: {internet_id}\r\nDate: Mon, 7 Dec 2026 09:00:00 +0000\r\n")
    msg_file = build_msg(subject=LURE_SUBJECT, headers=headers, body="Pay at https://billing.evil.example/pay")
    forward = (f"FYI.\n\n-----Original Message-----\nFrom: Billing <{LURE_SENDER}>\nSent: Monday, December 7, "
               f"2026 9:00 AM\nTo: Megan Bowen <{MEGAN}>\nSubject: {LURE_SUBJECT}\n\nPay at our portal\n")
    outcomes = [
        _process(service, _report(ADELE, f"Phishing: {LURE_SUBJECT}", rfc822=_lure(ADELE)), str(user["id"])),
        _process(service, _report(FINANCE, "Suspicious", attach=("Invoice.msg", "application/vnd.ms-outlook",
                                                                 msg_file))),
        _process(service, _report(MEGAN, f"FW: {LURE_SUBJECT}", text=forward)),
    ]
    assert [o.verdict for o in outcomes] == ["confirmed"] * 3, [o.detail for o in outcomes]
    [entry] = service.runtime.stores.reports.list(service.tenant_id)
    assert entry.count == 3 and {r.address for r in entry.reporters} == {ADELE, MEGAN, FINANCE}
    for person in (ADELE, MEGAN, FINANCE):
        assert _answers(service, person) == ["Your report: Phishing confirmed"], person
    # Every copy, in all six mailboxes, is in quarantine, moved once.
    for person in EVERYONE:
        assert service.folder_of(internet_id, upn=person)[0] == "Quarantine", person
    since = datetime.now(UTC) - timedelta(hours=1)

    def audit(action: str) -> list[Any]:
        return [a for a in service.runtime.stores.audit.list_audit(service.tenant_id, since, 500) if a.action == action]

    assert len(audit("campaign_purge")) == 6  # one per copy, although three reports confirmed it
    assert sorted(a.actor for a in audit("report")) == sorted([ADELE, MEGAN, FINANCE])

    # The admin asks: the copies go back, once each.
    key = message_key(internet_id)
    released = service.run(release_campaign(service.runtime, service.tenant_id, key, "it-admin@contoso.test"))
    assert len(released["released"]) == 6, released
    for person in EVERYONE:
        assert service.folder_of(internet_id, upn=person)[0] == "Inbox", person
    assert len(audit("released")) == 6 and len(audit("campaign_released")) == 1
    # As the tenant saw it: each copy moved to quarantine once and back once, nothing twice.
    effects = service.sim.control("GET", "/effects")["messages"]
    for copy in copies:
        moves = dict(effects[copy]["moves"])
        assert len(moves) == 2 and set(moves.values()) == {1}, (copy, moves)
