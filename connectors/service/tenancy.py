"""Tenants and their subscriptions: onboarding after consent, renewal, lifecycle, delta resync."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from connectors.graph.errors import GraphApiError
from connectors.graph.subscriptions import SubscriptionInfo, SubscriptionManager, delta_sync
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import AuditRecord, Subscription, SubscriptionStore, Tenant

log = logging.getLogger("tap365.tenancy")

INBOX = "inbox"
#: Renew subscriptions that expire within this margin (the timer runs more often than that).
RENEW_MARGIN = timedelta(hours=12)


def store_subscription(subscriptions: SubscriptionStore, info: SubscriptionInfo, mailbox: str) -> None:
    """Save a subscription we just created, with its clientState (kept only as a keyed hash):
    what the notification endpoint authenticates against. A function of its own so that the
    tests store subscriptions exactly as the service does, without a whole Runtime."""
    subscriptions.put_subscription(
        Subscription(
            subscription_id=info.id,
            tenant_id=info.tenant_id,
            mailbox=mailbox,
            resource=info.resource,
            expires_at=info.expiration or datetime.now(UTC),
        ),
        SecretStr(info.client_state),
    )


class OnboardingRefused(PermissionError):
    """The tenant is not on the allow-list (``TAP365_ALLOWED_TENANTS``)."""


@dataclass
class OnboardResult:
    tenant_id: str
    mailboxes: list[str] = field(default_factory=list)
    subscriptions: int = 0
    errors: list[str] = field(default_factory=list)


class TenantService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stores = runtime.stores

    def manager(self, tenant_id: str) -> SubscriptionManager:
        return SubscriptionManager(
            self.runtime.graph.tenant(tenant_id), self.runtime.notification_url, self.runtime.lifecycle_url
        )

    def allowed(self, tenant_id: str) -> bool:
        allow = [t.strip().lower() for t in self.runtime.settings.allowed_tenants.split(",") if t.strip()]
        return not allow or tenant_id.lower() in allow

    async def protected_mailboxes(self, tenant_id: str) -> list[str]:
        """Every enabled mail user, or the members of the configured group."""
        graph = self.runtime.graph.tenant(tenant_id)
        group = self.runtime.settings.protected_group_id
        path = f"/groups/{group}/members/microsoft.graph.user" if group else "/users"
        out: list[str] = []
        async for user in graph.pages(
            path, {"$select": "id,mail,userPrincipalName,accountEnabled", "$top": "999"}
        ):
            if user.get("mail") and user.get("accountEnabled", True) is not False:
                out.append(str(user.get("userPrincipalName") or user.get("mail")))
        return out

    async def onboard(self, tenant_id: str, display_name: str = "") -> OnboardResult:
        if not self.allowed(tenant_id):
            raise OnboardingRefused(f"tenant {tenant_id} is not in TAP365_ALLOWED_TENANTS")
        result = OnboardResult(tenant_id)
        result.mailboxes = await self.protected_mailboxes(tenant_id)
        self.stores.tenants.put_tenant(
            Tenant(
                tenant_id=tenant_id,
                display_name=display_name or tenant_id,
                consented_at=datetime.now(UTC),
                protected_mailboxes=tuple(result.mailboxes),
                protected_group_id=self.runtime.settings.protected_group_id,
            )
        )
        existing = {s.mailbox.lower() for s in self.stores.subscriptions.list_subscriptions(tenant_id)}
        for mailbox in result.mailboxes:
            if mailbox.lower() in existing:
                continue
            try:
                await self.subscribe(tenant_id, mailbox)
                result.subscriptions += 1
            except GraphApiError as exc:
                result.errors.append(f"{mailbox}: {exc.status} {exc.code}")
        self._audit(
            tenant_id,
            "onboarded",
            f"tenant:{tenant_id}",
            f"{len(result.mailboxes)} mailboxes, {result.subscriptions} new subscriptions",
        )
        return result

    async def subscribe(self, tenant_id: str, mailbox: str) -> SubscriptionInfo:
        """Create the mailbox's subscription (Graph runs the handshake first), store it, take a
        delta baseline so a later resync only sees what arrives from now on, and make the
        hidden folders so the first quarantine costs one request."""
        info = await self.manager(tenant_id).create(mailbox)
        self._store(info, mailbox)
        await self._baseline(info.id, tenant_id, mailbox)
        try:
            await self.runtime.remediator(tenant_id).ensure_folders(mailbox)
        except GraphApiError as exc:
            log.warning("hidden folders for %s not created yet: %s", mailbox, exc.code)
        return info

    def _store(self, info: SubscriptionInfo, mailbox: str) -> None:
        store_subscription(self.stores.subscriptions, info, mailbox)

    async def _baseline(self, subscription_id: str, tenant_id: str, mailbox: str) -> None:
        graph = self.runtime.graph.tenant(tenant_id)
        result = await delta_sync(graph, mailbox, INBOX, None, received_since=datetime.now(UTC))
        self.stores.subscriptions.set_delta_link(subscription_id, INBOX, result.delta_link)

    async def renew_due(self, now: datetime | None = None) -> dict[str, int]:
        now = now or datetime.now(UTC)
        counts = {"renewed": 0, "recreated": 0, "failed": 0}
        for sub in self.stores.subscriptions.list_subscriptions(expiring_before=now + RENEW_MARGIN):
            try:
                info = await self.manager(sub.tenant_id).renew(sub.subscription_id)
                self.stores.subscriptions.set_expiry(sub.subscription_id, info.expiration or now)
                counts["renewed"] += 1
            except GraphApiError as exc:
                if exc.status == 404:  # gone on Graph's side: make a new one and catch up
                    await self.recreate(sub.tenant_id, sub.subscription_id, sub.mailbox)
                    counts["recreated"] += 1
                else:
                    counts["failed"] += 1
                    log.error("renewing %s failed: %s %s", sub.subscription_id, exc.status, exc.code)
        return counts

    async def recreate(self, tenant_id: str, subscription_id: str, mailbox: str) -> int:
        """After ``subscriptionRemoved``: a new subscription, then delta from the old baseline so
        nothing that arrived in between goes unscanned. Returns messages queued."""
        old = self.stores.subscriptions.get_subscription(subscription_id)
        delta_link = (old.delta_links or {}).get(INBOX) if old else None
        info = await self.manager(tenant_id).create(mailbox)
        self._store(info, mailbox)
        if delta_link:
            self.stores.subscriptions.set_delta_link(info.id, INBOX, delta_link)
        self.stores.subscriptions.delete_subscription(subscription_id)
        self._audit(
            tenant_id,
            "subscription_recreated",
            f"subscription/{info.id}",
            f"replaces {subscription_id} for {mailbox}",
        )
        return await self.resync(info.id)

    async def resync(self, subscription_id: str) -> int:
        """Delta query from the stored link; queue every message that arrived. 410 restarts
        from scratch (bounded to the last day)."""
        sub = self.stores.subscriptions.get_subscription(subscription_id)
        if sub is None:
            return 0
        graph = self.runtime.graph.tenant(sub.tenant_id)
        link = (sub.delta_links or {}).get(INBOX)
        since = datetime.now(UTC) - timedelta(days=1)
        result = await delta_sync(graph, sub.mailbox, INBOX, link, received_since=since)
        for message_id in result.added:
            self.stores.notifications.send(
                {
                    "kind": "message",
                    "tenant_id": sub.tenant_id,
                    "mailbox": sub.mailbox,
                    "message_id": message_id,
                    "subscription_id": subscription_id,
                    "source": "delta",
                }
            )
        self.stores.subscriptions.set_delta_link(subscription_id, INBOX, result.delta_link)
        return len(result.added)

    async def handle_lifecycle(self, event: str, subscription_id: str, tenant_id: str, mailbox: str) -> str:
        manager = self.manager(tenant_id)
        if event == "reauthorizationRequired":
            await manager.reauthorize(subscription_id)
            info = await manager.renew(subscription_id)
            self.stores.subscriptions.set_expiry(subscription_id, info.expiration or datetime.now(UTC))
            return "reauthorized"
        if event == "subscriptionRemoved":
            queued = await self.recreate(tenant_id, subscription_id, mailbox)
            return f"recreated ({queued} queued)"
        if event == "missed":
            queued = await self.resync(subscription_id)
            return f"resynced ({queued} queued)"
        return f"ignored {event}"

    def _audit(self, tenant_id: str, action: str, target: str, reason: str) -> None:
        self.stores.audit.append(
            tenant_id,
            AuditRecord(actor="system", action=action, target=target, reason=reason, at=datetime.now(UTC)),
        )
