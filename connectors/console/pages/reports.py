"""Reported messages (issue 20): the triage list of what people reported to the reporting mailbox,
one row per reported message with its reporters, how many reported it, the verdict of the new
analysis and its findings. The backend is ``connectors/service/reports.py``; read-only here (the
campaign purge acts on a confirmed report)."""

from __future__ import annotations

from connectors.console.app import ConsoleResponse, Context, page

#: Outcomes as the triage list words them.
OUTCOMES = {
    "confirmed": "Phishing confirmed",
    "safe": "Looks safe",
    "under_review": "Under review",
    "report_of_report": "Report of a report",
    "attachment_too_large": "Attachment too large",
    "msg_unparseable": "Unreadable .msg",
    "no_reported_message": "No message in the report",
}


@page("/reports")
def report_list(ctx: Context) -> ConsoleResponse:
    paging = ctx.paging()
    # Always the signed-in person's tenant (never one from the URL).
    rows = ctx.stores.reports.list(ctx.tenant_id, limit=ctx.read_limit(paging))
    return ctx.render("reports.html", title="Reports", rows=ctx.page_of(rows, paging, read=len(rows)),
                      outcomes=OUTCOMES, filters={})
