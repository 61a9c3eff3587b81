"""Clicks and the audit trail: filterable, paginated lists of the tenant's records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.console.app import ConsoleResponse, Context, page

#: With no "from" date, lists start this many days back.
DEFAULT_DAYS = 30
_WHO = ("all", "person", "scanner")


def _period(ctx: Context) -> tuple[datetime, datetime | None, dict[str, str]]:
    """The from/to filters (UTC); errors by field name."""
    errors: dict[str, str] = {}
    start, errors["from"] = ctx.date_param("from")
    end, errors["to"] = ctx.date_param("to", end_of_day=True)
    if start is not None and end is not None and end < start:
        errors["to"] = "The end is before the start."
    return (
        (start or datetime.now(UTC) - timedelta(days=DEFAULT_DAYS)),
        end,
        {k: v for k, v in errors.items() if v},
    )


def _text(ctx: Context, name: str) -> str:
    """A text filter from the query (bounded: a filter is a few words)."""
    return ctx.request.query.get(name, "").strip()[:200]


@page("/clicks")
def clicks(ctx: Context) -> ConsoleResponse:
    start, end, errors = _period(ctx)
    user, url_part, verdict = (
        _text(ctx, "user").lower(),
        _text(ctx, "url").lower(),
        _text(ctx, "verdict").lower(),
    )
    who = _text(ctx, "who") if _text(ctx, "who") in _WHO else "all"
    paging = ctx.paging()
    limit = ctx.settings.console_max_rows
    rows = ctx.stores.clicks.list_clicks(ctx.tenant_id, start, limit=limit)
    read = len(rows)
    rows = [
        c
        for c in rows
        if (end is None or c.at <= end)
        and (not user or user in c.recipient.lower())
        and (not url_part or url_part in c.url.lower())
        and (not verdict or c.verdict.lower() == verdict)
        and (who == "all" or (who == "scanner") == c.is_scanner)
    ]
    filters = {
        "from": _text(ctx, "from"),
        "to": _text(ctx, "to"),
        "user": _text(ctx, "user"),
        "url": _text(ctx, "url"),
        "verdict": verdict,
        "who": who if who != "all" else "",
    }
    return ctx.render(
        "clicks.html",
        title="Clicks",
        rows=ctx.page_of(rows, paging, read=read),
        filters=filters,
        errors=errors,
        who_choices=_WHO,
        verdict_choices=("", "clean", "suspicious", "malicious", "unknown"),
        start=start,
    )


@page("/audit")
def audit(ctx: Context) -> ConsoleResponse:
    start, end, errors = _period(ctx)
    actor, action, target = (
        _text(ctx, "actor").lower(),
        _text(ctx, "action").lower(),
        _text(ctx, "target").lower(),
    )
    paging = ctx.paging()
    limit = ctx.settings.console_max_rows
    rows = ctx.stores.audit.list_audit(ctx.tenant_id, start, limit=limit)
    read = len(rows)
    rows = [
        a
        for a in rows
        if (end is None or a.at <= end)
        and (not actor or actor in a.actor.lower())
        and (not action or action == a.action.lower())
        and (not target or target in a.target.lower())
    ]
    actions = sorted({a.action for a in rows} | ({action} if action else set()))
    filters = {
        "from": _text(ctx, "from"),
        "to": _text(ctx, "to"),
        "actor": _text(ctx, "actor"),
        "action": action,
        "target": _text(ctx, "target"),
    }
    return ctx.render(
        "audit.html",
        title="Audit trail",
        rows=ctx.page_of(rows, paging, read=read),
        filters=filters,
        errors=errors,
        actions=actions,
        start=start,
    )
