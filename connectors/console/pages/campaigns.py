"""Campaigns (issue 20): the tenant's messages that share a sender, a link, an attachment hash or
a subject fingerprint, where each copy is now, and the two actions on them: purge (every copy
quarantined, once each) and release (the copies the purge took, put back once each). The backend
is ``connectors/service/campaigns.py``; both actions are audited with the person's UPN there."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.console.app import ConsoleError, ConsoleResponse, Context, page, register_notice
from connectors.service.campaigns import (
    DEFAULT_CAMPAIGN_MESSAGES,
    KINDS,
    MAX_CAMPAIGN_MESSAGES,
    CampaignQueryError,
    find_campaign,
    key_for,
    purge_campaign,
    release_campaign,
)

PURGED = register_notice("campaign_purged", "The campaign was purged: each copy listed is in quarantine "
                                            "unless it says why not (deleted, failed).")
RELEASED = register_notice("campaign_released", "The copies this campaign's purge quarantined were released.")
LABELS = {"sender": "Sender address", "url": "Link (URL)", "host": "Link host", "domain": "Link domain",
          "sha256": "Attachment SHA-256", "subject": "Subject", "message_id": "Message-ID (every copy)"}


def _asked(values: Mapping[str, str]) -> tuple[str, str, str, str]:
    """(kind, value, key, error) of the form or query; key '' when nothing (valid) was asked."""
    kind, value = values.get("kind", "sender"), values.get("value", "").strip()[:1000]
    if kind not in KINDS:
        return "sender", value, "", "choose what the messages share"
    if not value:
        return kind, value, "", ""
    try:
        return kind, value, key_for(kind, value), ""
    except CampaignQueryError as exc:
        return kind, value, "", str(exc)


@page("/campaigns")
def campaigns(ctx: Context) -> ConsoleResponse:
    kind, value, key, error = _asked(ctx.request.query)
    limit = ctx.int_param("limit", DEFAULT_CAMPAIGN_MESSAGES, 1, MAX_CAMPAIGN_MESSAGES)
    # Always the signed-in person's tenant (never one from the URL).
    campaign = find_campaign(ctx.runtime, ctx.tenant_id, key, limit=limit) if key else None
    return ctx.render("campaigns.html", title="Campaigns", kinds=KINDS, labels=LABELS, kind=kind,
                      value=value, error=error, campaign=campaign, limit=limit)


async def _act(ctx: Context, release: bool) -> ConsoleResponse:
    kind, value, key, error = _asked(ctx.request.form)
    if not key:
        raise ConsoleError(400, "No campaign named", error or "Give what the messages share.")
    act = release_campaign if release else purge_campaign
    # Audited there, with the person's UPN: each copy moved, and the campaign's summary.
    await act(ctx.runtime, ctx.tenant_id, key, ctx.principal.upn)
    return ctx.redirect("/campaigns", notice=RELEASED if release else PURGED, kind=kind, value=value)


@page("/campaigns/purge", methods=("POST",))
async def purge(ctx: Context) -> ConsoleResponse:
    return await _act(ctx, release=False)


@page("/campaigns/release", methods=("POST",))
async def release(ctx: Context) -> ConsoleResponse:
    return await _act(ctx, release=True)
