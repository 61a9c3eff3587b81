"""User-reported phishing (issue 20): mail in the tenant's reporting mailbox is a report.

The policy names the mailbox (``reports: {mailbox: phish-report@contoso.com}``); it is
subscribed like any other, and :class:`~connectors.service.processing.MessageProcessor` hands
each message in it here instead of analysing it as mail (a report quotes the lure it reports: as
mail it would be held from the security team reading it). For each report:

1. the reported message is taken out of it (``tap_core.parsing.reported``: Report button's
   attached message, an attached ``.msg``, or an inline forward);
2. the original is looked up in the reporter's mailbox by ``internetMessageId`` (a forward has
   none: by sender and subject), falling back to the attached copy;
3. it is analysed again with today's intelligence (the tenant's pipeline, off the loop, under
   ``TAP365_ANALYSIS_TIMEOUT_SECONDS``);
4. the triage entry of that message gets the reporter (one entry per message, reporters grouped);
5. the reporter is answered (``send_notice``): phishing confirmed / looks safe / under review.

A report that cannot be analysed (a report of a report, an attachment over
:data:`~tap_core.parsing.reported.MAX_REPORT_ATTACHMENT_BYTES`, a ``.msg`` that does not parse, no
reported message at all) is recorded with that outcome and answered too; it never fails the
worker. The journal makes each report count once: ``decided`` once the entry holds the report,
``done`` once the answer went out.
"""

from __future__ import annotations

import asyncio
import html as html_lib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.graph.client import seg
from connectors.graph.errors import GraphApiError
from connectors.graph.messages import FetchedMessage
from connectors.service.analysis import analyse
from connectors.service.campaigns import message_key, purge_campaign
from connectors.service.intake import HttpResult
from connectors.service.notices import send_notice
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import AuditRecord, Claim
from connectors.storage.reports import Reporter, TriageEntry
from tap_core.model.decision import DELIVERING, Decision, finding_json
from tap_core.model.findings import Verdict
from tap_core.model.message import Message
from tap_core.parsing.reported import (
    ReportProblem,
    is_report,
    report_key,
    reported_message,
)

log = logging.getLogger("tap365.reports")

#: What the reporter is told, per outcome.
CONFIRMED, SAFE, UNDER_REVIEW, REPORT_OF_REPORT = "confirmed", "safe", "under_review", "report_of_report"
ANSWERS = {
    CONFIRMED: ("Phishing confirmed", "Thank you: the message you reported is phishing. It is being removed; "
                "do not open its links or attachments."),
    SAFE: ("Looks safe", "Thank you: the message you reported looks safe to us. The security team keeps "
           "your report and will look again if more people report it."),
    UNDER_REVIEW: ("Under review", "Thank you: the message you reported is being reviewed by the security "
                   "team. Until you hear back, do not open its links or attachments."),
    REPORT_OF_REPORT: ("Not analysed", "The message you reported is itself a report to this mailbox; "
                       "report the original message instead."),
    ReportProblem.TOO_LARGE.value: ("Not analysed", "The message you reported is too large to analyse; "
                                    "the security team will look at it."),
    ReportProblem.MSG_UNPARSEABLE.value: ("Not analysed", "The attached Outlook file could not be read; "
                                          "please report the message with the Report button."),
    ReportProblem.NO_MESSAGE.value: ("Not analysed", "Your report did not include the message: please use "
                                     "the Report button, or forward the message as an attachment."),
}
#: Findings kept on a triage entry, strongest first.
_FINDINGS = 20


@dataclass
class ReportResult:
    outcome: str
    key: str
    new: bool
    detail: str = ""


def reporting_address(runtime: Runtime, tenant_id: str) -> str:
    policy, _ = runtime.policy(tenant_id)
    return policy.reports.mailbox


_mailbox_ids: dict[tuple[str, str], str] = {}


async def in_reporting_mailbox(runtime: Runtime, tenant_id: str, mailbox: str, message: Message) -> bool:
    """True when ``mailbox`` (a user id or address) is the tenant's reporting mailbox. Only mail
    addressed to that mailbox can be a report, so no other message costs a Graph request."""
    address = await asyncio.to_thread(reporting_address, runtime, tenant_id)
    if not address or not any(a.address == address for a in message.recipients):
        return False
    if "@" in mailbox:
        return mailbox.strip().lower() == address
    wanted = mailbox.strip().lower()
    if _mailbox_ids.get((tenant_id, address)) == wanted:
        return True
    # Not the id known for the reporting mailbox (or none known yet): ask Graph again, since a
    # mailbox re-created under the same address has a new id. Only mail addressed to the
    # reporting mailbox gets here, so this costs a request for few messages.
    try:
        user = await runtime.graph.tenant(tenant_id).get_json(f"/users/{seg(address)}", {"$select": "id"})
    except GraphApiError as exc:
        log.warning("reporting mailbox %s of tenant %s not found: %s", address, tenant_id, exc)
        return False
    current = _mailbox_ids[(tenant_id, address)] = str(user.get("id") or "").lower()
    return wanted == current


async def process_report(
    runtime: Runtime, claim: Claim, mailbox: str, fetched: FetchedMessage
) -> ReportResult:
    """Triage one report (the message ``fetched`` in the reporting mailbox); see the module doc."""
    stores, tenant_id = runtime.stores, claim.tenant_id
    report = fetched.message
    reporter = report.from_address.address if report.from_address else ""
    address = await asyncio.to_thread(reporting_address, runtime, tenant_id)
    now = datetime.now(UTC)
    recorded: dict[str, Any] = dict(claim.data.get("decided", {}).get("report") or {})
    if not recorded:
        policy, _ = await asyncio.to_thread(runtime.policy, tenant_id)
        found = reported_message(report, max_attachment_bytes=policy.reports.max_attachment_bytes,
                                 mime_limits=policy.limits)
        entry: TriageEntry
        if found.message is None:
            outcome, key = found.problem.value, "problem:" + fetched.message_id
            entry = TriageEntry(tenant_id, key, subject=report.subject[:1000], outcome=outcome,
                                reasons=(found.detail,))
        elif is_report(found.message, address):
            outcome, key = REPORT_OF_REPORT, "problem:" + fetched.message_id
            entry = TriageEntry(tenant_id, key, subject=found.message.subject[:1000], outcome=outcome,
                                reasons=("the reported message is itself a report to the reporting mailbox",))
        else:
            original, source = await _original(runtime, tenant_id, reporter, found.message)
            decision = await _analyse(runtime, tenant_id, reporter or mailbox, original, now)
            outcome = _outcome(decision)
            key = report_key(original) if original.internet_message_id else report_key(found.message)
            weights = decision.weights
            findings = [finding_json(f, weights.get(f.name, 0.0)) for f in decision.findings[:_FINDINGS]]
            entry = TriageEntry(
                tenant_id, key,
                internet_message_id=original.internet_message_id or found.message.internet_message_id,
                sender=original.from_address.address if original.from_address else "",
                subject=original.subject[:1000], verdict=decision.verdict.value, outcome=outcome,
                analysed=source, findings=tuple(findings), reasons=tuple(decision.reasons[:20]),
            )
        who = Reporter(address=reporter, report_id=fetched.message_id, at=now, format=found.format.value,
                       outcome=outcome)
        stored, new = await asyncio.to_thread(stores.reports.add_report, entry, who)
        audit = AuditRecord(actor=reporter or "unknown", action="report",
                            target=f"{mailbox}/{fetched.message_id}",
                            reason=f"{found.format.value}: {outcome} ({stored.key})"[:500], at=now)
        await asyncio.to_thread(stores.audit.append_all, tenant_id, [audit])
        recorded = {"outcome": outcome, "key": stored.key, "new": new, "subject": entry.subject[:200],
                    "internet_message_id": entry.internet_message_id[:1000]}
        claim = await asyncio.to_thread(stores.journal.record_step, claim, "decided", {"report": recorded})
    outcome = str(recorded["outcome"])
    copies = message_key(str(recorded.get("internet_message_id") or ""))
    if outcome == CONFIRMED and copies:
        # Confirmed phishing leaves no mailbox: every copy of the message is quarantined, once
        # each (the purge's journal claims), whichever report confirmed it first. A retry after a
        # failure here purges again, which moves nothing twice.
        await purge_campaign(runtime, tenant_id, copies, f"report:{reporter or 'unknown'}")
    if reporter and runtime.settings.admin_notify_from and reporter != address:
        try:
            await _answer(runtime, tenant_id, reporter, outcome, str(recorded.get("subject") or ""))
        except Exception as exc:  # an answer that cannot go out must not lose the report
            log.warning("answer to reporter %s failed: %s", reporter, exc)
    await asyncio.to_thread(stores.journal.record_step, claim, "done", {"report": recorded})
    return ReportResult(outcome, str(recorded["key"]), bool(recorded.get("new")))


async def _original(runtime: Runtime, tenant_id: str, reporter: str, copy: Message) -> tuple[Message, str]:
    """The message as it sits in the reporter's mailbox (found by ``internetMessageId``, or for
    a forward by sender and subject); the reported copy when it cannot be found there."""
    if not reporter:
        return copy, "attached"
    graph = runtime.graph.tenant(tenant_id)
    if copy.internet_message_id:
        query = f"internetMessageId eq '{_quote(copy.internet_message_id)}'"
    elif copy.from_address and copy.subject:
        query = (f"from/emailAddress/address eq '{_quote(copy.from_address.address)}' "
                 f"and subject eq '{_quote(copy.subject)}'")
    else:
        return copy, "attached"
    try:
        found = await graph.get_json(f"/users/{seg(reporter)}/messages",
                                     {"$filter": query, "$select": "id", "$top": "5"})
        ids = [str(m["id"]) for m in found.get("value") or [] if isinstance(m, dict) and m.get("id")]
        if not ids:
            return copy, "attached"
        fetched = await runtime.graph.fetch_message(tenant_id, reporter, ids[0])
    except GraphApiError as exc:  # not a mailbox of the tenant, gone, no access: the copy it is
        log.info("original of a report not found in %s: %s", reporter, exc)
        return copy, "attached"
    return fetched.message, "mailbox"


def _quote(value: str) -> str:
    return value.replace("'", "''")


async def _analyse(
    runtime: Runtime, tenant_id: str, recipient: str, message: Message, now: datetime
) -> Decision:
    pipeline = await asyncio.to_thread(runtime.pipeline, tenant_id)
    # The attachments' sandbox runs as delayed work for mail; a report is judged on what is known now.
    return await analyse(pipeline, message, timeout_seconds=runtime.settings.analysis_timeout_seconds,
                         tenant_id=tenant_id, recipient=recipient, now=now, no_sandbox=True)


def _outcome(decision: Decision) -> str:
    if decision.verdict is Verdict.MALICIOUS:
        return CONFIRMED
    if decision.verdict is Verdict.CLEAN and decision.action in DELIVERING:
        return SAFE
    return UNDER_REVIEW


async def _answer(runtime: Runtime, tenant_id: str, reporter: str, outcome: str, subject: str) -> None:
    title, text = ANSWERS.get(outcome, ANSWERS[UNDER_REVIEW])
    quoted = html_lib.escape(subject[:200]) or "(no subject)"
    body = (f"<p>{html_lib.escape(text)}</p><p>Reported message: <b>{quoted}</b></p>"
            "<p>- Your security team</p>")
    await send_notice(runtime, tenant_id, [reporter], f"Your report: {title}", body)


def api_reports(runtime: Runtime, tenant_id: str, query: dict[str, str]) -> HttpResult:
    """``GET manage/tenants/{tenant}/reports``: the triage list, most recently reported first
    (``limit``, default 100), each entry with its reporters, count, verdict and findings."""
    from connectors.service.admin import _json, _limit

    return _json({"value": runtime.stores.reports.list(tenant_id, limit=_limit(query))})


__all__ = [
    "ANSWERS",
    "CONFIRMED",
    "REPORT_OF_REPORT",
    "SAFE",
    "UNDER_REVIEW",
    "ReportResult",
    "api_reports",
    "in_reporting_mailbox",
    "process_report",
]
