"""Process one message exactly once in effect.

The idempotency journal (tenant + immutable message id) is claimed with a conditional write, so
two workers never act on the same message. Every effect is recorded as a step right after it
happened; a retry (crash, redelivery, duplicate notification) resumes after the last recorded
step and never repeats an effect:

    claimed -> fetched -> decided -> safe_file -> body_patched -> categorized -> moved -> done

The decision is recorded before any effect, so a retry applies the same decision even if
intelligence changed in between. A body patch Graph refuses (no Mail-Advanced.ReadWrite) is
recorded with its reason and the fallback (categories, hold, quarantine) still happens.

Under a Safe File policy the attachments are converted before the decision is recorded (a file
that cannot be made safe turns the decision into hold, with the reason); ``safe_file`` then
replaces each attachment by its PDF copy, one attachment at a time (``connectors.service.safefile``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from connectors.graph.errors import GraphApiError
from connectors.service.analysis import SANDBOX_UNAVAILABLE, analyse
from connectors.service.campaigns import campaign_keys
from connectors.service.detonation import WARNING_CATEGORY, sandbox_gap, warn_unanalysed
from connectors.service.holds import is_score_hold, notify_recipient, schedule_recheck
from connectors.service.notices import is_own_notice
from connectors.service.purge import index_keys
from connectors.service.reports import in_reporting_mailbox, process_report
from connectors.service.runtime import Runtime
from connectors.service.safefile import apply_safe_file, plan_safe_file
from connectors.service.webhook import malicious_attachment_event, queue_event
from connectors.storage.interfaces import (
    AuditRecord,
    Claim,
    QuarantineEntry,
    QuarantineStatus,
    VerdictRecord,
)
from tap_core.impersonation import observe
from tap_core.model.decision import DELIVERING, Action, Decision, finding_json
from tap_core.model.findings import Finding
from tap_core.model.message import Message

log = logging.getLogger("tap365.processing")

STEPS = ("claimed", "fetched", "decided", "safe_file", "body_patched", "categorized", "moved", "done")
FALLBACK_CATEGORY = "TAP365: Links not rewritten"
#: Findings kept with a verdict record (strongest first): what the audit shows with evidence.
_RECORDED_FINDINGS = 20
_RECORDED_CHARS = 400


class RetryLater(RuntimeError):
    """Another worker holds the message; try again after ``seconds``."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"message is being processed by another worker; retry in {seconds}s")
        self.seconds = seconds


@dataclass
class Outcome:
    status: str  # processed / duplicate / not_found / skipped
    action: str = ""
    verdict: str = ""
    graph_requests: int = 0
    final_folder: str = ""
    detail: str = ""


def _recorded(finding: Finding, weight: float) -> dict[str, Any]:
    """A finding as a verdict record keeps it: each text bounded, so the record fits its row."""
    out = finding_json(finding, weight)
    out["reason"], out["evidence"] = out["reason"][:_RECORDED_CHARS], out["evidence"][:_RECORDED_CHARS]
    return out


def _worker_id() -> str:
    """A label for people reading the journal; the claim's own random token tells attempts apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _done_index(step: str) -> int:
    return STEPS.index(step) if step in STEPS else 0


class MessageProcessor:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stores = runtime.stores

    async def process(self, tenant_id: str, mailbox: str, message_id: str) -> Outcome:
        # Every storage call runs off the event loop (asyncio.to_thread): the SDK blocks, and the
        # loop carries the other messages of the batch and their Graph calls meanwhile.
        journal = self.stores.journal
        claim = await asyncio.to_thread(
            journal.claim, tenant_id, message_id, _worker_id(), self.runtime.settings.claim_lease_seconds
        )
        if claim is None:
            entry = await asyncio.to_thread(journal.get, tenant_id, message_id)
            if entry is not None and entry.done:
                return Outcome("duplicate", detail="already processed")
            remaining = 30
            if entry is not None:
                remaining = max(5, int((entry.lease_until - datetime.now(UTC)).total_seconds()) + 1)
            raise RetryLater(remaining)
        try:
            return await self._run(claim, mailbox)
        except GraphApiError as exc:
            if exc.status == 404 and _done_index(claim.step) < _done_index("decided"):
                # Deleted (or moved by the user) before we got to it: nothing to protect.
                await asyncio.to_thread(journal.record_step, claim, "done", {"not_found": True})
                return Outcome("not_found", detail="message no longer exists")
            await asyncio.to_thread(journal.release, claim)
            raise
        except Exception:
            await asyncio.to_thread(journal.release, claim)
            raise

    async def _run(self, claim: Claim, mailbox: str) -> Outcome:
        runtime, stores = self.runtime, self.stores
        tenant_id, message_id = claim.tenant_id, claim.message_id
        rem = runtime.remediator(tenant_id)
        requests = 0  # Graph requests made by this attempt
        now = datetime.now(UTC)

        # Fetch (every attempt re-reads the message: its content is never stored in the journal).
        fetched = await runtime.graph.fetch_message(tenant_id, mailbox, message_id)
        requests += fetched.requests
        message_id = fetched.message_id or message_id
        folder_id = fetched.folder_id
        # The subscription covers every folder: mail the person sent or is still writing is not
        # theirs to be protected from (its links stay as written), but whom they write to makes
        # those senders familiar (mailbox intelligence).
        outgoing = (await rem.outgoing_folders(mailbox)).get(folder_id)
        if outgoing:
            if outgoing == "sentitems":
                sent_at = fetched.message.received_at or now
                for rcpt in {a.address.lower() for a in fetched.message.recipients if a.address}:
                    await asyncio.to_thread(stores.senders.record, tenant_id, rcpt, [mailbox], sent_at)
            await asyncio.to_thread(stores.journal.record_step, claim, "done", {"outgoing": outgoing})
            return Outcome("skipped", detail=f"mail in {outgoing} (the person's own)", final_folder=folder_id)
        notify_from = runtime.settings.admin_notify_from
        if is_own_notice(runtime.codec.keyring, tenant_id, fetched.message, notify_from):
            # Our own notice quotes the lures it is about; analysed, it would be held from the
            # very person it tells (a digest of phishing subjects looks like phishing).
            await asyncio.to_thread(stores.journal.record_step, claim, "done", {"own_notice": True})
            return Outcome("skipped", detail="the service's own notice", final_folder=folder_id)
        if await in_reporting_mailbox(runtime, tenant_id, mailbox, fetched.message):
            # A report quotes the lure it reports: triaged (connectors/service/reports.py), never held.
            report = await process_report(runtime, claim, mailbox, fetched)
            return Outcome("processed", action="report", verdict=report.outcome, graph_requests=requests,
                           final_folder=folder_id, detail=f"report: {report.outcome} ({report.key})")
        # Decide once; a retry applies the recorded decision. The journal is written before each
        # effect's step is needed to skip it on a retry, and only then: a step with no effect is
        # harmless to redo, and every write is a round trip to storage.
        # Off the event loop: a cold instance waits here for its first intelligence and directory load.
        pipeline = await asyncio.to_thread(runtime.pipeline, tenant_id)
        attachment_policy = pipeline.policy.attachments
        gap = ""
        if attachment_policy.mode == "dynamic" and fetched.message.attachments:
            gap = await asyncio.to_thread(sandbox_gap, runtime.settings, fetched.message)
        # Off the event loop, in a child process killed at the limit (then: hold, with the reason).
        decision = await analyse(
            pipeline,
            fetched.message,
            timeout_seconds=runtime.settings.analysis_timeout_seconds,
            tenant_id=tenant_id,
            recipient=mailbox,
            now=now,
            no_sandbox=bool(gap),
        )
        if decision.pipelines.get("sandbox") == SANDBOX_UNAVAILABLE:
            timeout_action = attachment_policy.timeout_action
            _no_sandbox_for(runtime, tenant_id, decision, fetched.message, gap, timeout_action)
        if _done_index(claim.step) < _done_index("decided"):
            planned = decision.action
            plan = None
            # Safe File replaces the attachments of what stays in the mailbox.
            if pipeline.policy.attachments.mode == "safe_file" and planned in DELIVERING:
                plan = await plan_safe_file(stores.artefacts, tenant_id, message_id, fetched)
                if plan.hold_reason:
                    planned = Action.HOLD  # the admin releases it as it is, or deletes it
            claim = await asyncio.to_thread(
                stores.journal.record_step,
                claim,
                "decided",
                {
                    "action": planned.value,
                    "safe_file": plan.items if plan else [],
                    "safe_file_hold": plan.hold_reason if plan else "",
                    "verdict": decision.verdict.value,
                    "categories": decision.categories,
                    "has_body": bool(decision.rewritten_html or decision.rewritten_text),
                    # The body as the decision saw it: a retry that finds another one knows an
                    # earlier attempt's PATCH was applied although its answer was lost.
                    "body_sha": _body_sha(fetched.raw),
                    "folder_id": folder_id,
                },
            )
            if pipeline.tenant.history is not None and planned in DELIVERING:
                # Only mail the person gets teaches the history: a quarantined or held message must
                # not make its sender "known", or the attacker's second try would pass.
                await asyncio.to_thread(observe, fetched.message, pipeline.tenant.history,
                                        tenant_id=tenant_id, now=now, link_domains=decision.link_domains)
        decided = claim.data.get("decided", {})
        original_folder = str(decided.get("folder_id") or folder_id)
        action = Action(decided.get("action", decision.action.value))
        categories = list(decided.get("categories", decision.categories))
        reasons = [r for r in [str(decided.get("safe_file_hold") or "")] if r] + list(decision.reasons)
        audit: list[tuple[str, str]] = []
        sender = fetched.message.from_address.address if fetched.message.from_address else ""

        def listed(folder: str, reason: str, status: QuarantineStatus) -> None:
            """The message in the admin's quarantine list (held, quarantined or converted)."""
            stores.quarantine.put(
                QuarantineEntry(
                    tenant_id=tenant_id,
                    mailbox=mailbox,
                    message_id=message_id,
                    folder_id=folder,
                    original_folder_id=original_folder,
                    reason=reason[:1000],
                    at=datetime.now(UTC),
                    status=status,
                    subject=fetched.message.subject[:200],
                    sender=sender,
                )
            )

        # Safe File: each attachment replaced by its PDF copy (add the copy, then delete the original).
        safe_items = list(decided.get("safe_file") or [])
        if safe_items and _done_index(claim.step) <= _done_index("safe_file"):
            claim, made = await apply_safe_file(
                rem, stores.journal, stores.artefacts, claim, mailbox, message_id, fetched, safe_items
            )
            requests += made
            names = ", ".join(str(i["name"]) for i in safe_items)
            # Listed with the held and quarantined messages: the admin releases the originals there.
            await asyncio.to_thread(listed, original_folder,
                                    f"Safe File: {names} delivered as PDF copies; originals kept",
                                    QuarantineStatus.CONVERTED)
            audit.append(("safe_file", f"replaced by PDF copies: {names}"[:500]))

        # Body (rewrite, banner): at most one PATCH, never twice.
        if _done_index(claim.step) < _done_index("body_patched"):
            html = decision.rewritten_html
            if html is None and decision.rewritten_text is not None:
                html = _text_as_html(decision.rewritten_text, decision.urls)
            if decided.get("has_body") and decided.get("body_sha") not in (None, _body_sha(fetched.raw)):
                # Received mail is not editable by its reader: only our PATCH changed the body.
                audit.append(("body_patched", "applied by an earlier attempt whose answer was lost"))
                claim = await asyncio.to_thread(
                    stores.journal.record_step,
                    claim, "body_patched",
                    {"applied": True, "reason": "", "detail": "found applied on retry"},
                )
            elif decided.get("has_body") and html is not None:
                outcome = await rem.patch_body(mailbox, message_id, html)
                requests += 1
                if outcome.applied:
                    audit.append(("body_patched", f"{len(decision.urls)} links, action {action.value}"))
                else:
                    audit.append(("body_patch_refused", outcome.detail or outcome.reason))
                claim = await asyncio.to_thread(
                    stores.journal.record_step,
                    claim,
                    "body_patched",
                    {"applied": outcome.applied, "reason": outcome.reason, "detail": outcome.detail},
                )
            elif decided.get("has_body") and "analysis" in decision.pipelines:
                # A retry whose analysis was stopped has no body to write for the recorded decision:
                # the message still gets its recorded action, and Outlook says the links are as sent.
                why = "; ".join(decision.reasons)
                audit.append(("body_not_rewritten", f"analysis stopped on a retry: {why}"[:500]))
                claim = await asyncio.to_thread(
                    stores.journal.record_step,
                    claim, "body_patched", {"applied": False, "reason": "analysis_stopped", "detail": why},
                )
        if claim.data.get("body_patched", {}).get("applied") is False:
            categories.append(FALLBACK_CATEGORY)  # the body could not be edited: say so in Outlook

        # Categories (TAG, and the fallback when the body could not be edited).
        if _done_index(claim.step) < _done_index("categorized"):
            if categories:
                existing = [str(c) for c in fetched.raw.get("categories") or []]
                await rem.add_categories(mailbox, message_id, categories, existing=existing)
                requests += 1
                audit.append(("categorized", ", ".join(categories)))
                claim = await asyncio.to_thread(
                    stores.journal.record_step, claim, "categorized", {"categories": categories}
                )

        # Move (hold / quarantine).
        final_folder = original_folder
        if _done_index(claim.step) < _done_index("moved"):
            if action in (Action.HOLD, Action.QUARANTINE):
                mover = rem.quarantine if action is Action.QUARANTINE else rem.hold
                state = await mover(mailbox, message_id, folder_id)
                requests += 1
                final_folder = state.folder_id
                held = QuarantineStatus.QUARANTINED if action is Action.QUARANTINE else QuarantineStatus.HELD
                await asyncio.to_thread(listed, final_folder, "; ".join(reasons), held)
                audit.append((action.value, "; ".join(reasons)[:500]))
                if action is Action.HOLD and is_score_hold(decision, fetched.message):
                    # Held for deeper analysis: a second look with fresh intelligence, later.
                    await asyncio.to_thread(schedule_recheck, runtime, tenant_id, mailbox, message_id)
                if action is Action.HOLD and decision.needs_sandbox:
                    # Dynamic analysis runs as delayed queue work; the message waits in Hold.
                    await asyncio.to_thread(
                        stores.delayed.send,
                        {
                            "kind": "sandbox",
                            "tenant_id": tenant_id,
                            "mailbox": mailbox,
                            "message_id": message_id,
                        },
                        visibility_timeout=1,
                    )
                if action is Action.QUARANTINE and decision.pipelines.get("attachments") == "malicious":
                    # Queued before the step is recorded: a crash in between may queue it twice;
                    # the event id is stable, so the receiver can drop the duplicate.
                    await asyncio.to_thread(
                        queue_event,
                        runtime.settings,
                        stores.delayed,
                        _malicious_event(tenant_id, mailbox, message_id, fetched, decision, reasons),
                    )
                claim = await asyncio.to_thread(
                    stores.journal.record_step, claim, "moved", {"folder_id": final_folder}
                )
        final_folder = str(claim.data.get("moved", {}).get("folder_id") or final_folder)
        if action in (Action.HOLD, Action.QUARANTINE):
            await _tell_recipient(runtime, tenant_id, mailbox, message_id)

        # Records: verdict, audit, URL index for the post-delivery purge. Independent of each other
        # (their round trips overlap); the journal's "done" follows them all.
        writes: list[Callable[[], object]] = [partial(
            stores.verdicts.put_verdict,
            tenant_id,
            message_id,
            VerdictRecord(
                message_id=message_id,
                decided_at=now,
                verdict=decision.verdict.value,
                action=action.value,
                mailbox=mailbox,
                sender=sender,
                subject=fetched.message.subject[:200],
                reasons=tuple(reasons[:20]),
                details={
                    "pipelines": decision.pipelines,
                    # The message score and what each finding added to it (the learned model).
                    "score": decision.score,
                    "weights": decision.weights,
                    # Each finding with its evidence (the domain and its age, the first contact...).
                    "findings": [_recorded(f, decision.weights.get(f.name, 0.0))
                                 for f in decision.findings[:_RECORDED_FINDINGS]],
                    "url_score": decision.url_score,
                    "internet_message_id": fetched.message.internet_message_id,
                    "final_folder": final_folder,
                    "graph_requests": requests,
                    "rewrite_skipped": decision.rewrite_skipped or "",
                    "safe_file": [str(i["pdf_name"]) for i in safe_items],
                },
            ),
        )]
        if audit:
            writes.append(partial(stores.audit.append_all, tenant_id, [
                AuditRecord(actor="system", action=what, target=f"{mailbox}/{message_id}", reason=why,
                            at=datetime.now(UTC))
                for what, why in audit
            ]))
        # Campaign keys (sender, attachment hashes, subject) for every message, so a campaign
        # shows the copies already quarantined too; URL keys only where a purge has work to do.
        keys = campaign_keys(fetched.message)
        if action not in (Action.QUARANTINE,):
            keys += [
                k
                for u in decision.urls
                if u.url.startswith(("http://", "https://"))
                for k in index_keys(u.url)
            ]
        if keys:
            writes.append(partial(stores.urls.add, tenant_id, keys, mailbox, message_id, now))
        await asyncio.gather(*(asyncio.to_thread(write) for write in writes))
        await asyncio.to_thread(stores.journal.record_step, claim, "done", {"requests": {"n": requests}})
        return Outcome(
            "processed",
            action=action.value,
            verdict=decision.verdict.value,
            graph_requests=requests,
            final_folder=final_folder,
        )


def _body_sha(raw: dict[str, Any]) -> str:
    content = str((raw.get("body") or {}).get("content") or "")
    return hashlib.sha256(content.encode("utf-8", "replace")).hexdigest()[:32]


async def _tell_recipient(runtime: Runtime, tenant_id: str, mailbox: str, message_id: str) -> None:
    """The person's notice (per policy, at most once); a failure to send never fails the message."""
    entry = await asyncio.to_thread(runtime.stores.quarantine.get, tenant_id, mailbox, message_id)
    if entry is None:
        return
    try:
        await notify_recipient(runtime, entry)
    except Exception as exc:
        log.warning("notice to %s about held message %s failed: %s", mailbox, message_id, exc)


def _no_sandbox_for(
    runtime: Runtime, tenant_id: str, decision: Decision, message: Message, gap: str, timeout_action: str
) -> None:
    """No configured sandbox can judge the files: the policy's ``timeout_action`` applies now,
    with the reason, instead of a hold no sandbox verdict would ever end."""
    why = f"no configured sandbox can analyse the attachments ({gap})"
    if timeout_action == "hold":
        decision.action = Action.most_severe([decision.action, Action.HOLD])
        decision.reasons.append(f"sandbox not analysed: {why}; held (timeout_action: hold)")
        return
    decision.reasons.append(f"sandbox not analysed: {why}; delivered with a warning (timeout_action: tag)")
    if decision.action not in DELIVERING:
        return  # held or quarantined for reasons of its own
    decision.action = Action.TAG
    decision.categories.append(WARNING_CATEGORY)
    html = decision.rewritten_html or message.html_body
    if html:
        decision.rewritten_html = warn_unanalysed(runtime, tenant_id, html, why)


def _malicious_event(
    tenant_id: str, mailbox: str, message_id: str, fetched: Any, decision: Any, reasons: list[str]
) -> dict[str, Any]:
    """The admin webhook event for a message quarantined for a malicious attachment."""
    files = [f for f in decision.attachments if f.get("verdict") == "malicious"]
    return malicious_attachment_event(
        tenant_id=tenant_id,
        mailbox=mailbox,
        message_id=message_id,
        sender=fetched.message.from_address.address if fetched.message.from_address else "",
        subject=fetched.message.subject,
        action="quarantine",
        reasons=reasons,
        sha256=[str(f.get("sha256", "")) for f in files if f.get("sha256")],
        internet_message_id=fetched.message.internet_message_id,
    )


def _text_as_html(text: str, urls: list[Any]) -> str:
    """A text body as HTML for the Graph body edit (Graph edits the body as one content type):
    each rewritten link becomes an anchor that shows the original destination."""
    import html as html_lib

    out = html_lib.escape(text)
    for u in urls:
        if u.rewritten:
            link = html_lib.escape(u.rewritten)
            out = out.replace(link, f'<a href="{link}">{html_lib.escape(u.url)}</a>')
    return (
        '<html><body><div style="white-space:pre-wrap;font-family:Consolas,monospace">'
        f"{out}</div></body></html>"
    )
