"""Tenant health: what ``tap365 doctor`` checks (token, permissions, subscriptions in Graph, hidden
folders, intelligence feeds), beside what the service's own stores say (onboarding, stored
subscriptions and their expiry). Graph is asked with a time limit: a slow Graph makes a slow
section, not a hung page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from connectors.console.app import ConsoleResponse, Context, page
from connectors.storage.interfaces import Subscription

if TYPE_CHECKING:  # the Graph SDK loads when the page is first shown, not with the console
    from connectors.graph.doctor import DoctorReport

#: Mailboxes whose hidden folders the page checks (the first users Graph lists).
CHECK_MAILBOXES = 3
#: A stored subscription expiring sooner than this is flagged (the renewal timer runs every 30 min).
EXPIRY_WARNING = timedelta(hours=12)


@page("/health")
async def health(ctx: Context) -> ConsoleResponse:
    tenant = ctx.tenant_id
    paging = ctx.paging()
    stored, record = await asyncio.to_thread(_stored, ctx)
    now = datetime.now(UTC)
    report, graph_error = await _graph_checks(ctx)
    await asyncio.to_thread(_feeds, ctx, report)
    runtime = ctx.runtime
    return ctx.render(
        "health.html",
        title="Health",
        tenant_record=record,
        report=report,
        graph_error=graph_error,
        subscriptions=ctx.page_of(stored, paging, read=len(stored)),
        subscription_count=len(stored),
        expiring=sum(1 for s in stored if s.expires_at - now < EXPIRY_WARNING),
        now=now,
        expiry_warning_hours=int(EXPIRY_WARNING.total_seconds() // 3600),
        intel_version=runtime.intel_version,
        intel_error=runtime.intel_error,
        timeout=ctx.settings.console_graph_timeout_seconds,
        tenant=tenant,
    )


def _stored(ctx: Context) -> tuple[list[Subscription], object]:
    subs = ctx.stores.subscriptions.list_subscriptions(ctx.tenant_id)
    subs.sort(key=lambda s: s.expires_at)
    return subs[: ctx.settings.console_max_rows], ctx.stores.tenants.get_tenant(ctx.tenant_id)


async def _graph_checks(ctx: Context) -> tuple[DoctorReport, str]:
    """``tap365 doctor``'s checks for the person's tenant, within TAP365_CONSOLE_GRAPH_TIMEOUT_SECONDS."""
    from connectors.graph.doctor import DoctorReport, doctor

    limit = ctx.settings.console_graph_timeout_seconds
    try:
        report = await asyncio.wait_for(
            doctor(ctx.runtime.graph_settings, ctx.tenant_id, first_users=CHECK_MAILBOXES), limit
        )
    except TimeoutError:
        return DoctorReport(tenant_id=ctx.tenant_id), f"Microsoft Graph did not answer within {limit:g} s."
    except Exception as exc:  # the page reports every failure; the trace goes to the log
        return DoctorReport(tenant_id=ctx.tenant_id), f"The Graph checks failed: {type(exc).__name__}: {exc}"[
            :500
        ]
    return report, ""


def _feeds(ctx: Context, report: DoctorReport) -> None:
    from connectors.graph.doctor import feed_health

    feed_health(report, ctx.settings.intel_feeds, ctx.stores.intel)
