"""Held and quarantined mail: the list (filters as query parameters, so a filtered page is a link),
a safe preview of one message, and the admin's actions on it (release, release to every
recipient, delete, block the sender, report a false positive). The backend is
``connectors/service/mail_actions.py`` and ``connectors/service/preview.py``."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.console.app import ConsoleError, ConsoleResponse, Context, PageOf, page, register_notice
from connectors.service import mail_actions
from connectors.service.mail_actions import HeldFilter, Outcome
from connectors.service.preview import preview

#: Each action's outcome key -> the fixed sentence shown after the redirect.
OUTCOMES = {
    "released": "The message was released: it is back where it was delivered.",
    "released_all": "The message was released for every recipient it was held for.",
    "released_some": "The message was released for some recipients; the others could not be released "
    "(see the audit trail).",
    "already_released": "Nothing to do: the message had been released already.",
    "deleted": "The message was deleted from the hidden folder.",
    "already_deleted": "Nothing to do: the message had been deleted already.",
    "not_deletable": "Only held or quarantined messages can be deleted here; this one is in the person's "
    "mailbox.",
    "blocked": "The sender was added to the policy's blocked senders: their next message is quarantined "
    "as malicious.",
    "already_blocked": "Nothing to do: the sender is blocked by the policy already.",
    "reported": "The false positive was recorded for the detection engine's feedback.",
    "already_reported": "This message was reported as a false positive before.",
    "changed": "Someone else changed this message or the policy at the same moment; nothing was done. "
    "Look again and retry.",
    "no_sender": "The message has no sender address to block.",
    "no_internet_id": "The verdict record does not name the message's internetMessageId, so its other "
    "recipients cannot be found; release it for this recipient instead.",
    "deleted_message": "This message was deleted; it cannot be released.",
}
for _key, _text in OUTCOMES.items():
    register_notice(f"held_{_key}", _text)

ACTIONS = ("release", "release_all", "delete", "block_sender", "block_domain", "false_positive")


def _filters(ctx: Context) -> tuple[HeldFilter, dict[str, str]]:
    return HeldFilter.from_query(ctx.request.query)


@page("/held")
def held_list(ctx: Context) -> ConsoleResponse:
    wanted, errors = _filters(ctx)
    paging = ctx.paging()
    found = mail_actions.search(
        ctx.runtime,
        ctx.tenant_id,
        wanted,
        offset=paging.offset,
        size=paging.size,
        max_rows=ctx.settings.console_max_rows,
    )
    rows = PageOf(found.rows, paging.page, paging.size, found.has_next, found.truncated)
    return ctx.render(
        "held.html",
        title="Held mail",
        rows=rows,
        filters=wanted.query(),
        wanted=wanted,
        errors=errors,
        verdicts=mail_actions.VERDICTS,
        statuses=[s.value for s in mail_actions.QuarantineStatus],
        scanned=found.scanned,
        max_rows=ctx.settings.console_max_rows,
    )


def _target(ctx: Context, source: dict[str, str]) -> tuple[str, str]:
    mailbox = source.get("mailbox", "").strip()
    message = source.get("id", "").strip()
    if not mailbox or not message or len(mailbox) > 320 or len(message) > 1000:
        raise ConsoleError(400, "No message named", "Open a message from the held mail list.")
    return mailbox, message


@page("/held/message", nav="/held")
async def held_message(ctx: Context) -> ConsoleResponse:
    mailbox, message_id = _target(ctx, dict(ctx.request.query))
    # The tenant is the signed-in person's: another tenant's message is simply not found.
    row = await asyncio.to_thread(mail_actions.find_row, ctx.runtime, ctx.tenant_id, mailbox, message_id)
    if row is None:
        raise ConsoleError(
            404, "Message not found", "There is no held or quarantined message with this id in your tenant."
        )
    findings: list[dict[str, Any]] = []
    if row.verdict is not None:
        findings = [dict(f) for f in row.verdict.details.get("findings") or [] if isinstance(f, dict)]
    if row.entry.status is mail_actions.QuarantineStatus.DELETED:
        shown = None
    else:
        shown = await preview(
            ctx.runtime,
            ctx.tenant_id,
            row.entry.mailbox,
            message_id,
            findings,
            timeout=ctx.settings.console_graph_timeout_seconds,
        )
    report = await asyncio.to_thread(
        mail_actions.feedback_store(ctx.runtime).get, ctx.tenant_id, row.entry.mailbox, message_id
    )
    return ctx.render(
        "held_message.html",
        title=f"Held message: {row.entry.subject[:80]}",
        row=row,
        preview=shown,
        findings=findings,
        score=row.verdict.details.get("score") if row.verdict else None,
        report=report,
        back=ctx.request.query.get("back", ""),
    )


@page("/held/act", methods=("POST",), nav="/held")
async def held_act(ctx: Context) -> ConsoleResponse:
    form = ctx.request.form
    mailbox, message_id = _target(ctx, form)
    action = form.get("action", "")
    if action not in ACTIONS:
        raise ConsoleError(400, "Unknown action", f"The action must be one of {', '.join(ACTIONS)}.")
    actor, runtime, tenant = ctx.principal.upn, ctx.runtime, ctx.tenant_id

    def audit(what: str, target: str, reason: str, details: Any) -> Any:
        return ctx.audit(what, target, reason, details)

    outcome: Outcome
    if action == "release":
        outcome = await mail_actions.release(runtime, tenant, mailbox, message_id, actor)
    elif action == "release_all":
        outcome = await mail_actions.release_all(
            runtime, tenant, mailbox, message_id, actor, max_rows=ctx.settings.console_max_rows
        )
    elif action == "delete":
        outcome = await mail_actions.delete(runtime, tenant, mailbox, message_id, actor, audit)
    elif action in ("block_sender", "block_domain"):
        outcome = await mail_actions.block_sender(
            runtime, tenant, mailbox, message_id, actor, audit, whole_domain=action == "block_domain"
        )
    else:
        outcome = await asyncio.to_thread(
            mail_actions.report_false_positive,
            runtime,
            tenant,
            mailbox,
            message_id,
            actor,
            audit,
            form.get("note", ""),
        )
    if outcome.key == "not_found":
        raise ConsoleError(
            404, "Message not found", "There is no held or quarantined message with this id in your tenant."
        )
    if outcome.key == "failed":
        raise ConsoleError(502, "The action failed", f"Nothing was changed: {outcome.detail}")
    return ctx.redirect("/held/message", notice=f"held_{outcome.key}", mailbox=mailbox, id=message_id)
