"""Dynamic analysis of a held message's attachments, as delayed queue work.

The message already waits in the hidden Hold folder (processing put it there). A delayed queue
item brings it here: each attachment goes to the sandbox that can run it (Speakeasy for PE,
box-js for JScript, CAPEv2 when configured); the verdicts map through the attachment policy to
one outcome: release to where the message came from, deliver with a warning category, keep
holding, or quarantine and tell the admin. Local emulation finishes in seconds (bounded by rlimits)
and runs in the invocation; a remote sandbox (CAPEv2) is submitted once and polled from delayed
queue items with a growing interval until the policy's sandbox timeout, so no function blocks
for minutes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.dispatcher import LocalSandbox, run_to_completion
from connectors.service.analysis import analyse
from connectors.service.holds import is_score_hold, leave_hold, schedule_recheck
from connectors.service.notices import send_notice
from connectors.service.runtime import Runtime
from connectors.service.webhook import malicious_attachment_event, queue_event
from connectors.settings import Settings
from connectors.storage.interfaces import (
    AuditRecord,
    Claim,
    QuarantineEntry,
    QuarantineStatus,
)
from tap_core.attachments.sandbox.model import SandboxStatus, SubmissionId
from tap_core.attachments.sandbox.orchestration import (
    Concluded,
    PollSchedule,
    SandboxOutcome,
    Terminal,
    TimedOut,
    Unanalysed,
    message_outcome,
)
from tap_core.attachments.sandbox.provider import SandboxError, UnsupportedFile
from tap_core.attachments.sandbox.rules import behaviour_findings, sandbox_verdict, timeout_finding
from tap_core.model.decision import Action
from tap_core.model.findings import Verdict
from tap_core.model.message import Message
from tap_core.parsing.timestamps import parse_iso_datetime

log = logging.getLogger("tap365.detonation")
WARNING_CATEGORY = "TAP365: Attachment not fully analysed"


def _remote_step(sandbox: LocalSandbox, submission: str, expired: bool) -> Terminal | None:
    """The terminal step of a remote run, or None while it is still running."""
    status = sandbox.status(SubmissionId(submission))
    if status is SandboxStatus.DONE:
        report = sandbox.report(SubmissionId(submission))
        return Concluded(verdict=sandbox_verdict(report), findings=behaviour_findings(report), report=report)
    if status is SandboxStatus.FAILED:
        return Unanalysed(reason=f"the sandbox run {submission} failed")
    return TimedOut() if expired else None


def detonate(sandbox: LocalSandbox, name: str, data: bytes, timeout_seconds: int) -> Terminal:
    """One file to its terminal step (verdict, time-out or no sandbox for it)."""
    try:
        report = run_to_completion(sandbox, name, data, timeout_seconds)
    except UnsupportedFile as exc:
        return Unanalysed(reason=str(exc))
    except SandboxError as exc:
        return TimedOut(reason=str(exc)) if "within" in str(exc) else Unanalysed(reason=str(exc))
    if report.timed_out:
        return TimedOut(reason="the sandbox run hit its time limit")
    return Concluded(verdict=sandbox_verdict(report), findings=behaviour_findings(report), report=report)


def sandbox_gap(settings: Settings, message: Message) -> str:
    """Why no configured sandbox can run any of ``message``'s attachments; "" when one can (or
    it has none). Such a message is not held for a sandbox: its policy's ``timeout_action``
    applies at once (processing), since no later poll could ever bring a verdict."""
    files = [a for a in message.attachments if a.data]
    if not files:
        return ""
    sandbox = LocalSandbox.from_environment(settings=settings)
    reasons: list[str] = []
    try:
        for att in files:
            try:
                sandbox.route(att.name, att.data)
                return ""
            except UnsupportedFile as exc:
                reasons.append(str(exc))
    finally:
        sandbox.close()
    return "; ".join(dict.fromkeys(reasons))


def warn_unanalysed(runtime: Runtime, tenant_id: str, html: str, why: str) -> str:
    """``html`` with the "could not be fully analysed" banner, saying why."""
    from tap_core.impersonation.banner import add_banner_html
    from tap_core.pipeline import ATTACHMENT_HEADLINE

    token = runtime.banner_token(tenant_id)
    return add_banner_html(html, [timeout_finding(why)], marker_token=token, headline=ATTACHMENT_HEADLINE)


async def run_detonation(runtime: Runtime, item: dict[str, Any]) -> str:
    tenant_id, mailbox, message_id = str(item["tenant_id"]), str(item["mailbox"]), str(item["message_id"])
    stores = runtime.stores
    entry = stores.quarantine.get(tenant_id, mailbox, message_id)
    if entry is None or entry.status is not QuarantineStatus.HELD:
        return "not held any more"  # released or quarantined meanwhile: nothing to decide
    policy = runtime.policy(tenant_id)[0].attachments
    fetched = await runtime.graph.fetch_message(tenant_id, mailbox, message_id)
    started = parse_iso_datetime(item.get("started")) or datetime.now(UTC)
    remote: dict[str, str] = dict(item.get("remote") or {})  # sha256 -> CAPE submission id
    expired = (datetime.now(UTC) - started).total_seconds() > policy.sandbox_timeout_seconds
    sandbox = LocalSandbox.from_environment(settings=runtime.settings)
    steps: list[Terminal] = []
    pending = False
    try:
        for att in fetched.message.attachments:
            if not att.data:
                continue
            try:
                backend = sandbox.route(att.name, att.data)
            except UnsupportedFile as exc:
                steps.append(Unanalysed(reason=str(exc)))
                continue
            if backend != "cape":
                # Local emulation: seconds, bounded by rlimits, and its run lives in this process.
                steps.append(
                    await asyncio.to_thread(
                        detonate, sandbox, att.name, att.data, policy.sandbox_timeout_seconds
                    )
                )
                continue
            # A remote sandbox takes minutes: submit once, then poll from delayed queue items.
            digest = hashlib.sha256(att.data).hexdigest()
            if digest not in remote:
                remote[digest] = await asyncio.to_thread(
                    sandbox.submit, att.name, att.data, policy.sandbox_timeout_seconds
                )
            step = await asyncio.to_thread(_remote_step, sandbox, remote[digest], expired)
            if step is None:
                pending = True
            else:
                steps.append(step)
    finally:
        sandbox.close()
    if pending:
        polls = int(item.get("polls", 0))
        stores.delayed.send(
            {**item, "started": started.isoformat(), "remote": remote, "polls": polls + 1},
            visibility_timeout=int(PollSchedule().delay(polls)),
        )
        return f"polling the sandbox (poll {polls + 1})"
    result = message_outcome(steps, policy)
    recheck = False
    if result.action in (Action.DELIVER, Action.TAG):
        # The sandbox has judged the files (over their static findings), but the message may be
        # held for more than its files (a suspicious score, a limit): decide the message without
        # them before releasing it.
        without_files = dataclasses.replace(fetched.message, attachments=[])
        rest = await analyse(
            await asyncio.to_thread(runtime.pipeline, tenant_id),
            without_files,
            timeout_seconds=runtime.settings.analysis_timeout_seconds,
            tenant_id=tenant_id,
            recipient=mailbox,
            now=datetime.now(UTC),
        )
        if rest.action.rank >= Action.HOLD.rank:
            recheck = is_score_hold(rest, without_files)
            why = "; ".join(rest.reasons[:3])
            result = result.model_copy(
                update={"action": Action.HOLD, "reason": f"{result.reason}; still held: {why}"[:1000]}
            )
    # The outcome's effects happen once: their own journal entry, as processing's (a duplicate
    # or retried item resumes after the last recorded effect and never patches or moves twice).
    from connectors.service.processing import RetryLater, _worker_id  # processing imports this module

    journal, key = stores.journal, f"sandbox|{message_id}"
    claim = journal.claim(tenant_id, key, _worker_id(), runtime.settings.claim_lease_seconds)
    if claim is None:
        previous = journal.get(tenant_id, key)
        if previous is not None and previous.done:
            return "already decided"
        raise RetryLater(30)
    try:
        return await _apply(runtime, claim, entry, fetched, result, steps, recheck)
    except Exception:
        journal.release(claim)
        raise


async def _apply(
    runtime: Runtime, claim: Claim, entry: QuarantineEntry, fetched: Any, result: SandboxOutcome,
    steps: list[Terminal],
    recheck: bool,
) -> str:
    stores, journal = runtime.stores, runtime.stores.journal
    tenant_id, mailbox, message_id = entry.tenant_id, entry.mailbox, entry.message_id
    if claim.step == "claimed":
        decided = {"action": result.action.value, "reason": result.reason}
        claim = journal.record_step(claim, "decided", decided)
    action, reason = Action(claim.data["decided"]["action"]), str(claim.data["decided"]["reason"])
    rem = runtime.remediator(tenant_id)
    now = datetime.now(UTC)
    if action is Action.HOLD:  # keep holding (timeout_action = hold): an admin decides
        stores.audit.append(
            tenant_id,
            AuditRecord(
                actor="sandbox", action="still_held", target=f"{mailbox}/{message_id}", reason=reason, at=now
            ),
        )
        if recheck:  # held for its score alone now: the second look settles it
            schedule_recheck(runtime, tenant_id, mailbox, message_id)
        journal.record_step(claim, "done", {})
        return f"held: {reason}"
    if action is Action.TAG:
        # Warn while the message is still held: once released, the user may open it at once,
        # and must not see it without the warning (immutable ids survive the move).
        body = fetched.raw.get("body") or {}
        if claim.step == "decided":
            if str(body.get("contentType", "")).lower() == "html" and body.get("content"):
                html = warn_unanalysed(runtime, tenant_id, str(body["content"]), reason)
                # Refused without Mail-Advanced: the category below still says it.
                await rem.patch_body(mailbox, message_id, html)
            claim = journal.record_step(claim, "body_patched", {})
        if claim.step == "body_patched":
            existing = [str(c) for c in fetched.raw.get("categories") or []]
            await rem.add_categories(mailbox, message_id, [WARNING_CATEGORY], existing=existing)
            claim = journal.record_step(claim, "categorized", {"categories": [WARNING_CATEGORY]})
    claim = await leave_hold(runtime, claim, entry, fetched, action, by="sandbox")
    stores.audit.append(
        tenant_id,
        AuditRecord(
            actor="sandbox",
            action=action,
            target=f"{mailbox}/{message_id}",
            reason=reason,
            at=now,
            details={"findings": [f.name for f in result.findings]},
        ),
    )
    # The webhook event is queued first: a sendMail failure below fails this item, and its retry
    # finds the outcome applied and does nothing.
    if any(isinstance(s, Concluded) and s.verdict is Verdict.MALICIOUS for s in steps):
        sender = fetched.message.from_address.address if fetched.message.from_address else ""
        event = malicious_attachment_event(
            tenant_id=tenant_id,
            mailbox=mailbox,
            message_id=message_id,
            sender=sender,
            subject=fetched.message.subject,
            action=action,
            reasons=[reason, *(f.name for f in result.findings)],
            sha256=[hashlib.sha256(a.data).hexdigest() for a in fetched.message.attachments if a.data],
            internet_message_id=fetched.message.internet_message_id,
        )
        queue_event(runtime.settings, stores.delayed, event)
    folder = str(claim.data.get("moved", {}).get("folder_id") or fetched.folder_id)
    journal.record_step(claim, "done", {"folder_id": folder})
    if result.notify_admin:
        await _notify_admin(runtime, tenant_id, mailbox, fetched.message.subject, reason)
    return f"{action}: {reason}"


async def _notify_admin(runtime: Runtime, tenant_id: str, mailbox: str, subject: str, reason: str) -> None:
    settings = runtime.settings
    to = [a.strip() for a in settings.admin_notify_to.split(",") if a.strip()]
    if not to or not settings.admin_notify_from:
        log.warning("malicious attachment quarantined in %s; no TAP365_ADMIN_NOTIFY_TO/FROM to tell", mailbox)
        return
    import html

    body = (
        f"<p>A message to <b>{html.escape(mailbox)}</b> was quarantined after dynamic analysis.</p>"
        f"<p>Subject: {html.escape(subject)}</p><p>Why: {html.escape(reason)}</p>"
    )
    await send_notice(runtime, tenant_id, to, "TAP365: malicious attachment quarantined", body)
