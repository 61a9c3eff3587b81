"""``tap365 doctor``: can the app get a token, which roles does it hold, are subscriptions and
hidden folders in place, do the intelligence feeds load? Every check reports its own error; one
failure does not hide the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.storage.intel import BlobIntelStore, redact

from .auth import TenantCredential, token_roles
from .client import GraphApp, TenantGraph, seg
from .config import GraphSettings
from .errors import GraphApiError, GraphAuthError
from .remediation import HOLD, QUARANTINE
from .subscriptions import SubscriptionInfo, SubscriptionManager

REQUIRED_ROLES = ("Mail.ReadWrite", "Mail-Advanced.ReadWrite", "User.Read.All")
OPTIONAL_ROLES = ("Mail.Send", "Organization.Read.All")
_ROLE_WHY = {
    "Mail.ReadWrite": "read and move mail",
    "Mail-Advanced.ReadWrite": "rewrite links in received mail (else only tag/hold/quarantine)",
    "User.Read.All": "list mailboxes to protect",
    "Mail.Send": "send admin notices",
    "Organization.Read.All": "read the verified domains (else the users' address domains are internal)",
}


@dataclass
class MailboxFolders:
    mailbox: str
    quarantine: bool = False
    hold: bool = False
    error: str = ""


@dataclass
class DoctorReport:
    tenant_id: str
    token_ok: bool = False
    token_error: str = ""
    roles: list[str] = field(default_factory=list)
    missing_roles: list[str] = field(default_factory=list)
    missing_optional_roles: list[str] = field(default_factory=list)
    subscriptions: list[SubscriptionInfo] = field(default_factory=list)
    subscriptions_error: str = ""
    mailboxes: list[MailboxFolders] = field(default_factory=list)
    mailboxes_error: str = ""
    #: Each configured feed's last refresh as the service stored it (see connectors.storage.intel).
    feeds: list[dict[str, Any]] = field(default_factory=list)
    feeds_error: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.token_ok
            and not self.missing_roles
            and not self.subscriptions_error
            and not self.mailboxes_error
            and all(not m.error for m in self.mailboxes)
            and not self.feeds_error
            and all(f.get("ok") for f in self.feeds)
        )


def intel_store_from_env() -> BlobIntelStore | None:
    """The service's intelligence store, from the same environment the service reads."""
    from connectors.storage.config import StorageConfig

    try:
        config = StorageConfig.from_env()
        return BlobIntelStore(config.blob_service(), config.container_name("intel"))
    except Exception:  # a misconfigured storage is reported by the caller as "cannot read"
        return None


def feed_health(report: DoctorReport, intel_feeds: str, store: BlobIntelStore | None) -> None:
    """Fill the report's feed section from what the service's last refresh stored."""
    configured = [redact(f.strip()) for f in intel_feeds.split(",") if f.strip()]
    if not configured:
        return
    if store is None:
        report.feeds_error = "storage not configured: cannot read the feeds' status"
        return
    try:
        stored = {s.feed: s.to_json() for s in store.get_status()}
    except Exception as exc:  # reporting must go on whatever storage answers
        report.feeds_error = f"cannot read the feeds' status from storage: {type(exc).__name__}: {exc}"[:500]
        return
    for feed in configured:
        never = {"feed": feed, "ok": False, "source": "none",
                 "error": "never refreshed (has the refresh_intel timer run?)"}
        report.feeds.append(stored.get(feed) or never)


async def doctor(
    settings: GraphSettings,
    tenant_id: str,
    mailboxes: Sequence[str] | None = None,
    first_users: int = 5,
) -> DoctorReport:
    report = DoctorReport(tenant_id=tenant_id)
    try:
        settings.check()
        with TenantCredential(settings, tenant_id) as credential:
            result = await asyncio.to_thread(credential.acquire)
    except (GraphAuthError, ValueError, OSError) as exc:
        report.token_error = str(exc)
        return report
    report.token_ok = True
    report.roles = token_roles(result["access_token"])
    report.missing_roles = [r for r in REQUIRED_ROLES if r not in report.roles]
    report.missing_optional_roles = [r for r in OPTIONAL_ROLES if r not in report.roles]
    async with GraphApp(settings) as app:
        graph = app.tenant(tenant_id)
        try:
            report.subscriptions = await SubscriptionManager(graph, "", "").list_all()
        except GraphApiError as exc:
            report.subscriptions_error = str(exc)
        names = list(mailboxes or [])
        if not names:
            try:
                data = await graph.get_json(
                    "/users", {"$top": str(first_users), "$select": "id,userPrincipalName"}
                )
                names = [str(u.get("userPrincipalName") or u["id"]) for u in data.get("value") or []]
            except GraphApiError as exc:
                report.mailboxes_error = f"cannot list users (needs User.Read.All): {exc}"
        for mailbox in names:
            report.mailboxes.append(await _folders(graph, mailbox))
    return report


async def _folders(graph: TenantGraph, mailbox: str) -> MailboxFolders:
    entry = MailboxFolders(mailbox)
    try:
        async for folder in graph.pages(
            f"/users/{seg(mailbox)}/mailFolders", {"includeHiddenFolders": "true", "$top": "100"}
        ):
            name = str(folder.get("displayName") or "")
            hidden = bool(folder.get("isHidden"))
            if name == QUARANTINE and hidden:
                entry.quarantine = True
            elif name == HOLD and hidden:
                entry.hold = True
    except GraphApiError as exc:
        entry.error = str(exc)
    return entry


def run_doctor(
    settings: GraphSettings,
    tenant_id: str,
    mailboxes: Sequence[str] | None = None,
    first_users: int = 5,
) -> DoctorReport:
    """Synchronous entry point for the CLI."""
    return asyncio.run(doctor(settings, tenant_id, mailboxes, first_users))


def format_report(report: DoctorReport, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    lines = [f"Tenant {report.tenant_id}"]
    if not report.token_ok:
        lines.append(f"  [FAIL] token: {report.token_error}")
        return "\n".join(lines)
    lines.append("  [ok]   token acquired")
    for role in (*REQUIRED_ROLES, *OPTIONAL_ROLES):
        optional = role in OPTIONAL_ROLES
        if role in report.roles:
            lines.append(f"  [ok]   {role}")
        else:
            mark = "[warn]" if optional else "[FAIL]"
            lines.append(
                f"  {mark} {role} not granted: needed to {_ROLE_WHY[role]}; grant it, then admin consent"
            )
    if report.subscriptions_error:
        lines.append(f"  [FAIL] subscriptions: {report.subscriptions_error}")
    elif not report.subscriptions:
        lines.append("  [warn] no subscriptions: no new mail is being notified")
    for sub in report.subscriptions:
        left = "unknown expiry"
        if sub.expiration is not None:
            minutes = int((sub.expiration - now).total_seconds() // 60)
            left = f"expires {sub.expiration:%Y-%m-%d %H:%M}Z ({minutes} min)"
        mark = "[ok]  " if sub.expiration is not None and sub.expiration > now else "[FAIL]"
        lines.append(f"  {mark} subscription {sub.id} on {sub.resource}: {left}")
    if report.mailboxes_error:
        lines.append(f"  [FAIL] mailboxes: {report.mailboxes_error}")
    for box in report.mailboxes:
        if box.error:
            lines.append(f"  [FAIL] {box.mailbox}: {box.error}")
            continue
        missing = [n for n, present in ((QUARANTINE, box.quarantine), (HOLD, box.hold)) if not present]
        if missing:
            lines.append(f"  [warn] {box.mailbox}: hidden folder(s) {', '.join(missing)} not created yet")
        else:
            lines.append(f"  [ok]   {box.mailbox}: hidden Quarantine and Hold folders present")
    if report.feeds_error:
        lines.append(f"  [FAIL] intelligence feeds: {report.feeds_error}")
    for feed in report.feeds:
        if feed.get("ok"):
            lines.append(f"  [ok]   feed {feed['feed']}: {feed.get('indicators', 0)} indicators")
        else:
            copy = feed.get("source") == "last good copy"
            using = "its last good copy is used" if copy else "no copy to use"
            last = feed.get("last_success") or "never"
            lines.append(f"  [FAIL] feed {feed['feed']} failed {feed.get('checked_at', '')}: "
                         f"{feed.get('error', '')} ({using}; last success {last})")
    lines.append("  OK" if report.ok else "  problems found")
    return "\n".join(lines)
