"""Every held message has a next step and a deadline.

* A message held as SUSPICIOUS on its score ("held for deeper analysis") gets a second look after
  ``TAP365_HOLD_RECHECK_MINUTES`` (a delayed ``recheck`` queue item): the pipeline again with
  the intelligence of that moment, and a time-of-click analysis of its links (the redirector's
  analyzer, most suspicious links first). Then, per the policy's thresholds: MALICIOUS ->
  quarantine; still SUSPICIOUS (or a link that is) -> released with a warning category; clean ->
  released. A message that is now held for another reason (a limit, a file) stays held: an
  admin decides, and the overdue-hold notice tells them.
* The admin gets one mail listing the holds older than ``TAP365_HOLD_ALERT_HOURS`` (a timer);
  each hold is listed at most once (``QuarantineIndex.mark_once``).
* The person a held message was for gets a short notice, per policy (``notices``).

The re-check acts exactly once: it has its own journal entry (``recheck|<message id>``) with the
same steps as processing (decided -> categorized -> moved -> done), so a retry after a crash
applies the recorded outcome and never moves or tags twice. Notices are given at most once
(recorded before sending: a crash in between loses that notice rather than sending it twice).
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.graph.errors import GraphApiError
from connectors.graph.messages import FetchedMessage
from connectors.service.analysis import analyse
from connectors.service.notices import send_notice
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import (
    AuditRecord,
    Claim,
    ConcurrencyError,
    QuarantineEntry,
    QuarantineStatus,
)
from tap_core.model.decision import Action, Decision
from tap_core.model.findings import Verdict
from tap_core.model.message import Message

log = logging.getLogger("tap365.holds")

RECHECK_CATEGORY = "TAP365: Released after a second look"
#: Links analysed at re-check time (each one a fetch of at most the click analysis timeout).
MAX_RECHECK_LINKS = 10
#: Finding groups that say the analysis did not see the whole message (tap_core/data/detect/groups.toml).
_UNFINISHED_GROUPS = frozenset({"limits", "analysis", "file_limits"})

def is_score_hold(decision: Decision, message: Message) -> bool:
    """Held only because the message scored SUSPICIOUS: the hold a second look can settle.
    Holds for a sandbox run, a parse or analysis limit, a file or an impersonation are not."""
    pipelines = decision.pipelines
    # A limit reached or a defect of the analysis: the message was not seen whole, and a second
    # look would meet the same limit; that hold is an admin's to judge.
    unfinished = any(f.group in _UNFINISHED_GROUPS for f in decision.findings)
    return (
        not unfinished
        and decision.action is Action.HOLD
        and decision.verdict is Verdict.SUSPICIOUS
        and not decision.needs_sandbox
        and not message.limits_reached
        and "analysis" not in pipelines
        and pipelines.get("attachments", "off") in ("off", "clean")
        and pipelines.get("impersonation", "off") != "hold"
    )


def schedule_recheck(runtime: Runtime, tenant_id: str, mailbox: str, message_id: str) -> None:
    runtime.stores.delayed.send(
        {"kind": "recheck", "tenant_id": tenant_id, "mailbox": mailbox, "message_id": message_id},
        visibility_timeout=runtime.settings.hold_recheck_minutes * 60,
    )


async def _second_look(
    runtime: Runtime, tenant_id: str, mailbox: str, fetched: FetchedMessage
) -> tuple[Action, str]:
    """The outcome of the re-check: fresh intelligence, then the links as at click time."""
    pipeline = await asyncio.to_thread(runtime.pipeline, tenant_id)  # off the event loop
    policy = pipeline.policy
    fresh = await analyse(
        pipeline,
        fetched.message,
        timeout_seconds=runtime.settings.analysis_timeout_seconds,
        tenant_id=tenant_id,
        recipient=mailbox,
        now=datetime.now(UTC),
        no_sandbox=True,  # the files were judged before (statically, or by a sandbox): not again
    )
    if fresh.verdict is Verdict.MALICIOUS or fresh.action is Action.QUARANTINE:
        return Action.QUARANTINE, "re-check: " + "; ".join(fresh.reasons[:3])
    if fresh.action is Action.HOLD and not is_score_hold(fresh, fetched.message):
        return Action.HOLD, "re-check: still held: " + "; ".join(fresh.reasons[:3])
    links = [
        u for u in fresh.urls if u.url.startswith(("http://", "https://")) and not u.excluded_by
    ]
    links.sort(key=lambda u: u.score, reverse=True)
    analyzer = runtime.click_service.analyzer
    looked: list[tuple[str, Verdict, str]] = []
    for link in links[:MAX_RECHECK_LINKS]:
        result = await analyzer.analyze(
            link.url,
            intel=runtime.intel,
            thresholds=policy.url.thresholds,
            tenant_domains=policy.internal_domains,
        )
        top = result.findings[0].name if result.findings else "no findings"
        looked.append((link.url, result.verdict, top))
    worst = Verdict.worst([v for _, v, _ in looked])
    shown = "; ".join(f"{u[:120]}: {v.value} ({why})" for u, v, why in looked if v is worst)
    if worst is Verdict.MALICIOUS:
        return Action.QUARANTINE, f"re-check: a link is malicious at click time: {shown}"
    if worst is Verdict.SUSPICIOUS:
        return Action.TAG, f"re-check: a link is still suspicious at click time: {shown}"
    if fresh.action in (Action.HOLD, Action.TAG):
        reasons = "; ".join(fresh.reasons[:2])
        return Action.TAG, f"re-check: {len(looked)} link(s) clean at click time; still suspicious: {reasons}"
    return Action.DELIVER, f"re-check: clean now; {len(looked)} link(s) clean at click time"


async def run_recheck(runtime: Runtime, item: dict[str, Any]) -> str:
    tenant_id, mailbox, message_id = str(item["tenant_id"]), str(item["mailbox"]), str(item["message_id"])
    stores = runtime.stores
    entry = stores.quarantine.get(tenant_id, mailbox, message_id)
    journal = stores.journal
    from connectors.service.processing import RetryLater, _worker_id  # processing imports this module

    key = f"recheck|{message_id}"
    claim = journal.claim(tenant_id, key, _worker_id(), runtime.settings.claim_lease_seconds)
    if claim is None:
        done = journal.get(tenant_id, key)
        if done is not None and done.done:
            return "already re-checked"
        raise RetryLater(30)
    if claim.step == "claimed" and (entry is None or entry.status is not QuarantineStatus.HELD):
        journal.record_step(claim, "done", {"skipped": "not held any more"})
        return "not held any more"  # an admin released or deleted it meanwhile
    assert entry is not None
    try:
        return await _recheck(runtime, claim, entry)
    except GraphApiError as exc:
        if exc.status == 404 and claim.step == "claimed":  # deleted meanwhile: nothing to protect
            journal.record_step(claim, "done", {"not_found": True})
            return "message no longer exists"
        journal.release(claim)
        raise
    except Exception:
        journal.release(claim)
        raise


async def leave_hold(
    runtime: Runtime, claim: Claim, entry: QuarantineEntry, fetched: FetchedMessage, action: Action,
    *, by: str,
) -> Claim:
    """A held message out of Hold once its outcome is decided: into Quarantine, or back where it
    was delivered; the move journalled (once), the quarantine list marked by ``by``."""
    tenant_id, mailbox, message_id = entry.tenant_id, entry.mailbox, entry.message_id
    if "moved" not in claim.data:
        rem = runtime.remediator(tenant_id)
        if action is Action.QUARANTINE:
            state = await rem.quarantine(mailbox, message_id, fetched.folder_id)
        else:
            back = entry.original_folder_id or "inbox"
            state = await rem.release(mailbox, message_id, back, fetched.folder_id)
        claim = runtime.stores.journal.record_step(claim, "moved", {"folder_id": state.folder_id})
    status = QuarantineStatus.QUARANTINED if action is Action.QUARANTINE else QuarantineStatus.RELEASED
    try:
        runtime.stores.quarantine.update_status(
            tenant_id, mailbox, message_id, status, by=by, folder_id=str(claim.data["moved"]["folder_id"])
        )
    except ConcurrencyError:
        log.warning("quarantine entry %s changed while its %s outcome was applied", message_id, by)
    return claim


async def _recheck(runtime: Runtime, claim: Claim, entry: QuarantineEntry) -> str:
    stores, journal = runtime.stores, runtime.stores.journal
    tenant_id, mailbox, message_id = entry.tenant_id, entry.mailbox, entry.message_id
    fetched = await runtime.graph.fetch_message(tenant_id, mailbox, message_id)
    if claim.step == "claimed":
        action, reason = await _second_look(runtime, tenant_id, mailbox, fetched)
        claim = journal.record_step(claim, "decided", {"action": action.value, "reason": reason[:1000]})
    decided = claim.data["decided"]
    action, reason = Action(decided["action"]), str(decided["reason"])
    rem = runtime.remediator(tenant_id)
    if action is Action.TAG and claim.step == "decided":
        existing = [str(c) for c in fetched.raw.get("categories") or []]
        await rem.add_categories(mailbox, message_id, [RECHECK_CATEGORY], existing=existing)
        claim = journal.record_step(claim, "categorized", {"categories": [RECHECK_CATEGORY]})
    if action is not Action.HOLD:
        claim = await leave_hold(runtime, claim, entry, fetched, action, by="recheck")
    stores.audit.append(
        tenant_id,
        AuditRecord(
            actor="recheck",
            action=action.value if action is not Action.HOLD else "still_held",
            target=f"{mailbox}/{message_id}",
            reason=reason[:500],
            at=datetime.now(UTC),
        ),
    )
    folder = str(claim.data.get("moved", {}).get("folder_id") or fetched.folder_id)
    journal.record_step(claim, "done", {"folder_id": folder})
    return f"re-check {action.value}: {reason}"


# -- notices ---------------------------------------------------------------------------------------


async def notify_recipient(runtime: Runtime, entry: QuarantineEntry) -> bool:
    """Tell the person a message for them is held (or quarantined) and why, per policy; at most
    once per entry. False when the policy or the settings say not to (or it was sent before)."""
    policy = runtime.policy(entry.tenant_id)[0].notices
    wanted = policy.recipient_on_hold if entry.status is QuarantineStatus.HELD else (
        policy.recipient_on_quarantine and entry.status is QuarantineStatus.QUARANTINED
    )
    sender = runtime.settings.admin_notify_from
    if not wanted:
        return False
    if not sender:
        log.warning("held message for %s: no TAP365_ADMIN_NOTIFY_FROM to send the notice from", entry.mailbox)
        return False
    if not runtime.stores.quarantine.mark_once(entry.tenant_id, entry.mailbox, entry.message_id, "noticed"):
        return False
    state = "held for a security check" if entry.status is QuarantineStatus.HELD else "quarantined"
    body = (
        f"<p>A message for you was {state} and is not in your mailbox yet.</p>"
        f"<p>From: {html.escape(entry.sender)}<br>Subject: {html.escape(entry.subject)}<br>"
        f"Why: {html.escape(_first_reason(entry.reason))}</p>"
        "<p>If you expected it, ask your administrator to release it. Do not ask the sender to send it "
        "again.</p>"
    )
    subject = f"TAP365: a message for you is {state}"
    await send_notice(runtime, entry.tenant_id, [entry.mailbox], subject, body)
    return True


def _first_reason(reason: str) -> str:
    return reason.split("; ")[0][:300]


async def alert_overdue_holds(runtime: Runtime, now: datetime | None = None) -> int:
    """One notice per tenant to the admin listing holds older than TAP365_HOLD_ALERT_HOURS that
    no earlier notice listed. Returns how many holds were listed."""
    settings = runtime.settings
    to = [a.strip() for a in settings.admin_notify_to.split(",") if a.strip()]
    if not to or not settings.admin_notify_from:
        log.warning("overdue holds not announced: set TAP365_ADMIN_NOTIFY_TO and TAP365_ADMIN_NOTIFY_FROM")
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=settings.hold_alert_hours)
    listed = 0
    for tenant in runtime.stores.tenants.list_tenants():
        held = runtime.stores.quarantine.list(tenant.tenant_id, status=QuarantineStatus.HELD, limit=1000)
        due = [e for e in held if e.at <= cutoff and e.alerted_at is None]
        quarantine = runtime.stores.quarantine
        mine = [e for e in due if quarantine.mark_once(e.tenant_id, e.mailbox, e.message_id, "alerted")]
        if not mine:
            continue
        await send_notice(
            runtime,
            tenant.tenant_id,
            to,
            f"TAP365: {len(mine)} held message(s) waiting more than {settings.hold_alert_hours} h",
            _alert_body(tenant.tenant_id, mine, settings.hold_alert_hours),
        )
        listed += len(mine)
    return listed


def _alert_body(tenant_id: str, entries: Sequence[QuarantineEntry], hours: int) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(e.at.isoformat(timespec='minutes'))}</td><td>{html.escape(e.mailbox)}</td>"
        f"<td>{html.escape(e.sender)}</td><td>{html.escape(e.subject)}</td>"
        f"<td>{html.escape(_first_reason(e.reason))}</td><td>{html.escape(e.message_id)}</td></tr>"
        for e in entries
    )
    return (
        f"<p>These messages in tenant {html.escape(tenant_id)} have been held for more than {hours} hours. "
        "Release or delete them in the quarantine list (GET /api/manage/tenants/{tenant}/quarantine).</p>"
        "<table><tr><th>Held since</th><th>Mailbox</th><th>From</th><th>Subject</th><th>Why</th>"
        f"<th>Message id</th></tr>{rows}</table>"
    )

