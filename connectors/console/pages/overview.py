"""Overview: threats per day by kind, who is targeted, which links are clicked and blocked, which
sender domains send threats, and how much mail is held and for how long."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.console import charts, stats
from connectors.console.app import ConsoleResponse, Context, page
from connectors.storage.interfaces import QuarantineStatus

#: Rows in each "top" table.
TOP = 10


@page("/")
def overview(ctx: Context) -> ConsoleResponse:
    days = ctx.int_param("days", 14, 1, 90)
    since = ctx.since(days, 90)
    limit = ctx.settings.console_max_rows
    verdicts = ctx.stores.verdicts.list_verdicts(ctx.tenant_id, since, limit=limit)
    clicks = ctx.stores.clicks.list_clicks(ctx.tenant_id, since, limit=limit)
    holding = [
        e
        for status in (QuarantineStatus.HELD, QuarantineStatus.QUARANTINED)
        for e in ctx.stores.quarantine.list(ctx.tenant_id, status=status, limit=limit)
    ]
    now = datetime.now(UTC)
    daily = stats.threats_per_day(verdicts, since, now)
    labels = [d.strftime("%m-%d") for d in daily.days]
    shown_kinds = [(k, label) for k, label in stats.KINDS if k != "other" or any(daily.counts["other"])]
    per_day = charts.stacked_columns(
        f"Threats per day by kind, last {days} days",
        "Stacked columns: messages found to be threats each UTC day, "
        "split by the protection that found them.",
        labels,
        {k: (label, daily.counts[k]) for k, label in shown_kinds},
        label_every=max(1, len(labels) // 10),
    )
    targets = stats.top_targets(verdicts, TOP)
    domains = stats.top_sender_domains(verdicts, TOP)
    return ctx.render(
        "overview.html",
        title="Overview",
        days=days,
        day_choices=(1, 7, 14, 30, 90),
        per_day=per_day,
        daily=daily,
        kinds=shown_kinds,
        targets=targets,
        targets_chart=charts.horizontal_bars(
            "Top targeted people", "Threat messages per recipient mailbox.", targets, series="total"
        ),
        domains=domains,
        domains_chart=charts.horizontal_bars(
            "Top threat sender domains",
            "Threat messages per sender's registered domain.",
            domains,
            series="total",
        ),
        most_clicked=stats.most_clicked(clicks, TOP),
        most_blocked=stats.most_blocked(clicks, TOP),
        held=stats.held_summary(holding, now),
        messages=len(verdicts),
        threats=sum(1 for r in verdicts if stats.is_threat(r)),
        truncated=len(verdicts) >= limit or len(clicks) >= limit,
        limit=limit,
    )
