"""Tenants and their subscriptions: onboarding after consent, renewal, lifecycle, delta resync.

Onboarding runs from the queue, one page of users per item (``onboard``): the progress (the
Graph link of the page still to do) is stored before the next page is queued, so a crash resumes
where it stopped and a tenant of any size completes. A users delta on a timer (``users_delta``)
subscribes new mailboxes and unsubscribes removed ones.

Tenant ids are canonical everywhere they enter: a lower-case GUID. Entra sends that form; the
same tenant upper-cased once doubled every subscription, so anything else is refused.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from connectors.graph.client import TenantGraph, seg
from connectors.graph.errors import GraphApiError
from connectors.graph.subscriptions import (
    SubscriptionInfo,
    SubscriptionManager,
    delivery_folders,
    delta_sync,
    mailbox_resource,
)
from connectors.service.processing import RetryLater
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import AuditRecord, ConcurrencyError, Subscription, Tenant
from connectors.storage.tenants import OnboardingProgress, TableSubscriptionStore, resource_user
from tap_core.parsing.timestamps import parse_iso_datetime

log = logging.getLogger("tap365.tenancy")

INBOX = "inbox"
#: Key of the subscription's delta links holding when it was created: a folder with no delta link
#: yet (first resync, a folder made later) is read from then on (at most RESYNC_LOOKBACK back).
SINCE_KEY = "_since"
RESYNC_LOOKBACK = timedelta(days=1)
#: Renew subscriptions that expire within this margin (the timer runs more often than that).
RENEW_MARGIN = timedelta(hours=12)
#: Users per onboarding item (Graph's ``$top``; at most 999).
ONBOARD_PAGE_SIZE = 100
#: A worker holds an onboarding page this long; after it another may take the page over.
ONBOARD_LEASE = timedelta(minutes=5)
#: A running onboarding untouched this long is resumed by the users-delta timer.
ONBOARD_STALE = timedelta(minutes=15)
USER_SELECT = "id,mail,userPrincipalName,accountEnabled"

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class InvalidTenantId(ValueError):
    """Not a tenant id (a GUID): a domain, an empty or a malformed value."""


class OnboardingRefused(PermissionError):
    """The tenant is not allowed to onboard (home tenant and ``TAP365_ALLOWED_TENANTS``)."""


def canonical_tenant_id(value: str) -> str:
    """The tenant id as stored everywhere: a lower-case GUID. A verified domain
    (``contoso.com``) names a tenant but is not its id: refused, as is anything else."""
    text = (value or "").strip().lower()
    if not _GUID.fullmatch(text):
        shown = (value or "")[:80]
        raise InvalidTenantId(f"{shown!r} is not a tenant id (a GUID such as "
                              "72f988bf-86f1-41af-91ab-2d7cd011db47)")
    return text


def store_subscription(
    subscriptions: TableSubscriptionStore,
    info: SubscriptionInfo,
    mailbox: str,
    delta_links: dict[str, str] | None = None,
) -> None:
    """Save a subscription we just created, with its clientState (kept only as a keyed hash):
    what the notification endpoint authenticates against. A function of its own so that the
    tests store subscriptions exactly as the service does, without a whole Runtime."""
    subscriptions.put_subscription(
        Subscription(
            subscription_id=info.id,
            tenant_id=info.tenant_id.lower(),
            mailbox=mailbox,
            resource=info.resource,
            expires_at=info.expiration or datetime.now(UTC),
            delta_links=dict(delta_links or {}),
        ),
        SecretStr(info.client_state),
    )


@dataclass
class OnboardStart:
    tenant_id: str
    run: str
    started: bool  # False: an onboarding of this tenant is already running (nothing queued)


@dataclass
class OnboardResult:
    tenant_id: str
    mailboxes: int = 0
    subscriptions: int = 0
    pages: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class UsersDeltaResult:
    subscribed: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class TenantService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stores = runtime.stores

    def manager(self, tenant_id: str) -> SubscriptionManager:
        return SubscriptionManager(
            self.runtime.graph.tenant(tenant_id), self.runtime.notification_url, self.runtime.lifecycle_url
        )

    # -- who may onboard --------------------------------------------------------------------------
    def allowed_tenant_ids(self) -> set[str]:
        """The app's home tenant (``TAP365_HOME_TENANT_ID``) and ``TAP365_ALLOWED_TENANTS``;
        empty = nobody. Raises InvalidTenantId naming the setting with a bad entry."""
        allowed: set[str] = set()
        home = self.runtime.settings.home_tenant_id.strip()
        if home:
            try:
                allowed.add(canonical_tenant_id(home))
            except InvalidTenantId as exc:
                raise InvalidTenantId(f"TAP365_HOME_TENANT_ID: {exc}") from exc
        for entry in self.runtime.settings.allowed_tenants.split(","):
            if entry.strip():
                try:
                    allowed.add(canonical_tenant_id(entry))
                except InvalidTenantId as exc:
                    raise InvalidTenantId(f"TAP365_ALLOWED_TENANTS: {exc}") from exc
        return allowed

    def allowed(self, tenant_id: str) -> bool:
        return canonical_tenant_id(tenant_id) in self.allowed_tenant_ids()

    def check_allowed(self, tenant_id: str) -> str:
        """The canonical id of an allowed tenant; OnboardingRefused (or InvalidTenantId) otherwise."""
        canonical = canonical_tenant_id(tenant_id)
        allowed = self.allowed_tenant_ids()
        if canonical not in allowed:
            why = ("no tenant is allowed: set TAP365_HOME_TENANT_ID (the tenant the app is "
                   "registered in) or TAP365_ALLOWED_TENANTS") if not allowed else (
                "only the app's home tenant (TAP365_HOME_TENANT_ID) and TAP365_ALLOWED_TENANTS may onboard")
            raise OnboardingRefused(f"tenant {canonical} is not allowed to onboard: {why}")
        return canonical

    # -- onboarding ------------------------------------------------------------------------------
    def start_onboarding(
        self, tenant_id: str, display_name: str = "", *, page_size: int = ONBOARD_PAGE_SIZE,
        now: datetime | None = None,
    ) -> OnboardStart:
        """Record the tenant and queue its first page. Idempotent: while an onboarding of the
        tenant runs (touched within ONBOARD_STALE) a second consent queues nothing, and pages
        only subscribe mailboxes that have no subscription yet."""
        tenant_id = self.check_allowed(tenant_id)
        if not 1 <= page_size <= 999:
            raise ValueError("the onboarding page size must be 1-999 (Graph's $top)")
        now = now or datetime.now(UTC)
        current = self.stores.tenants.get_onboarding(tenant_id)
        if (current is not None and current.status == "running" and current.updated_at is not None
                and now - current.updated_at < ONBOARD_STALE):
            return OnboardStart(tenant_id, current.run, started=False)
        existing = self.stores.tenants.get_tenant(tenant_id)
        self.stores.tenants.put_tenant(
            Tenant(
                tenant_id=tenant_id,
                display_name=display_name or (existing.display_name if existing else tenant_id),
                consented_at=now,
                protected_group_id=self.runtime.settings.protected_group_id,
            )
        )
        run = secrets.token_hex(8)
        self.stores.tenants.put_onboarding(OnboardingProgress(tenant_id, run))
        self._queue_page(tenant_id, run, 0, page_size)
        self._audit(tenant_id, "onboarding_started", f"tenant:{tenant_id}", f"run {run}")
        return OnboardStart(tenant_id, run, started=True)

    def _queue_page(self, tenant_id: str, run: str, page: int, page_size: int) -> None:
        self.stores.notifications.send(
            {"kind": "onboard", "tenant_id": tenant_id, "run": run, "page": page, "page_size": page_size}
        )

    async def onboard_page(self, item: dict[str, Any], now: datetime | None = None) -> str:
        """One ``onboard`` queue item: subscribe one page of users, store the link of the next
        page, queue it. Duplicates and items of an older run do nothing."""
        tenant_id = canonical_tenant_id(str(item.get("tenant_id", "")))
        run, page = str(item.get("run", "")), int(item.get("page", 0))
        page_size = int(item.get("page_size", ONBOARD_PAGE_SIZE))
        progress = self.stores.tenants.get_onboarding(tenant_id)
        if progress is None or progress.run != run:
            return "onboard: an older run, ignored"
        if page < progress.pages:
            if page == progress.pages - 1 and progress.status == "running":
                # Crashed after storing the progress, before queueing the next page: queue it
                # (a duplicate next item is harmless).
                self._queue_page(tenant_id, run, progress.pages, page_size)
                return f"onboard: page {page} already done; page {progress.pages} queued"
            return f"onboard: page {page} already done"
        if page > progress.pages or progress.status != "running":
            return f"onboard: page {page} is not the next one ({progress.pages}, {progress.status})"
        now = now or datetime.now(UTC)
        if progress.claimed_by and progress.claimed_until and progress.claimed_until > now:
            raise RetryLater(max(1, int((progress.claimed_until - now).total_seconds())))
        claim = secrets.token_hex(8)
        progress.claimed_by, progress.claimed_until = claim, now + ONBOARD_LEASE
        try:
            progress = self.stores.tenants.put_onboarding(progress, etag=progress.etag)
        except ConcurrencyError:
            raise RetryLater(5) from None
        try:
            data = await self._users_page(tenant_id, progress.next_link, page_size)
            subscribed, mailboxes, errors = await self._subscribe_users(tenant_id, data.get("value") or [])
        except BaseException:
            self._release_claim(tenant_id, claim)
            raise
        next_link = str(data.get("@odata.nextLink") or "")
        progress.next_link = next_link
        progress.pages += 1
        progress.mailboxes += mailboxes
        progress.subscribed += subscribed
        progress.errors.extend(errors)
        progress.claimed_by, progress.claimed_until = "", None
        progress.status = "running" if next_link else "done"
        try:
            self.stores.tenants.put_onboarding(progress, etag=progress.etag)
        except ConcurrencyError:
            return "onboard: the run was restarted meanwhile"
        if next_link:
            self._queue_page(tenant_id, run, progress.pages, page_size)
        else:
            self._audit(tenant_id, "onboarded", f"tenant:{tenant_id}",
                        f"{progress.mailboxes} mailboxes, {progress.subscribed} new subscriptions, "
                        f"{len(progress.errors)} errors, {progress.pages} pages")
        return (f"onboard: page {page}: {mailboxes} mailboxes, {subscribed} subscribed"
                + ("" if next_link else " (done)"))

    def _release_claim(self, tenant_id: str, claim: str) -> None:
        """After a failed page: let the retry take it at once instead of waiting for the lease."""
        current = self.stores.tenants.get_onboarding(tenant_id)
        if current is not None and current.claimed_by == claim:
            current.claimed_by, current.claimed_until = "", None
            try:
                self.stores.tenants.put_onboarding(current, etag=current.etag)
            except ConcurrencyError:
                pass

    async def _users_page(self, tenant_id: str, next_link: str, page_size: int) -> dict[str, Any]:
        graph = self.runtime.graph.tenant(tenant_id)
        if next_link:
            return await graph.get_json(next_link)
        group = self.runtime.settings.protected_group_id
        path = f"/groups/{seg(group)}/members/microsoft.graph.user" if group else "/users"
        return await graph.get_json(path, {"$select": USER_SELECT, "$top": str(page_size)})

    async def _subscribe_users(
        self, tenant_id: str, users: list[dict[str, Any]]
    ) -> tuple[int, int, list[str]]:
        """(subscriptions created, protected mailboxes seen, errors) for one page of users."""
        subscribed, mailboxes, errors = 0, 0, []
        for user in users:
            mailbox = _mailbox_of(user)
            if not mailbox:
                continue
            mailboxes += 1
            user_id = str(user.get("id") or mailbox)
            if self.stores.subscriptions.find_for_user(tenant_id, user_id) is not None:
                continue
            try:
                await self.subscribe(tenant_id, mailbox, user_id)
                subscribed += 1
            except GraphApiError as exc:
                errors.append(f"{mailbox}: {exc.status} {exc.code}")
        return subscribed, mailboxes, errors

    async def onboard(self, tenant_id: str, display_name: str = "",
                      page_size: int = ONBOARD_PAGE_SIZE) -> OnboardResult:
        """Onboard here and now, page after page (the command line and tests; the service goes
        through the queue). The queued first item is taken back from the queue."""
        start = self.start_onboarding(tenant_id, display_name, page_size=page_size)
        item: dict[str, Any] = {"kind": "onboard", "tenant_id": start.tenant_id, "run": start.run,
                                "page": 0, "page_size": page_size}
        while True:
            progress = self.stores.tenants.get_onboarding(start.tenant_id)
            if progress is None or progress.run != start.run or progress.status != "running":
                break
            item["page"] = progress.pages
            await self.onboard_page(item)
        final = self.stores.tenants.get_onboarding(start.tenant_id)
        if final is None:
            return OnboardResult(start.tenant_id)
        return OnboardResult(start.tenant_id, final.mailboxes, final.subscribed, final.pages, final.errors)

    def resume_stalled(self, now: datetime | None = None) -> list[str]:
        """Queue again the page of every running onboarding untouched for ONBOARD_STALE (its
        item was lost: poisoned, or the queue dropped it)."""
        now = now or datetime.now(UTC)
        resumed = []
        for tenant in self.stores.tenants.list_tenants():
            progress = self.stores.tenants.get_onboarding(tenant.tenant_id)
            if (progress is not None and progress.status == "running" and progress.updated_at is not None
                    and now - progress.updated_at >= ONBOARD_STALE):
                self._queue_page(tenant.tenant_id, progress.run, progress.pages, ONBOARD_PAGE_SIZE)
                resumed.append(tenant.tenant_id)
        return resumed

    # -- one mailbox ------------------------------------------------------------------------------
    async def subscribe(self, tenant_id: str, mailbox: str, user_id: str = "") -> SubscriptionInfo:
        """Subscribe to every folder of the mailbox (``users/{id}/messages``), store it with its
        creation time (a later delta resync reads each folder from then on), and make the hidden
        folders so the first quarantine costs one request."""
        created = datetime.now(UTC)
        info = await self.manager(tenant_id).create(mailbox, resource=mailbox_resource(user_id or mailbox))
        store_subscription(self.stores.subscriptions, info, mailbox, {SINCE_KEY: created.isoformat()})
        try:
            await self.runtime.remediator(tenant_id).ensure_folders(mailbox)
        except GraphApiError as exc:
            log.warning("hidden folders for %s not created yet: %s", mailbox, exc.code)
        return info

    async def unsubscribe(self, sub: Subscription, reason: str) -> None:
        await self.manager(sub.tenant_id).delete(sub.subscription_id)
        self.stores.subscriptions.delete_subscription(sub.subscription_id)
        self._audit(sub.tenant_id, "unsubscribed", f"subscription/{sub.subscription_id}",
                    f"{sub.mailbox}: {reason}")

    # -- users delta ------------------------------------------------------------------------------
    async def users_delta(self, tenant_id: str) -> UsersDeltaResult:
        """New mailboxes subscribed, removed or disabled ones unsubscribed, from ``/users/delta``
        (the first round lists every user: it also repairs anything onboarding missed). With
        ``TAP365_PROTECTED_GROUP_ID`` the group's members are compared instead."""
        tenant_id = canonical_tenant_id(tenant_id)
        result = UsersDeltaResult()
        if self.runtime.settings.protected_group_id:
            await self._group_reconcile(tenant_id, result)
            return result
        graph = self.runtime.graph.tenant(tenant_id)
        link = self.stores.tenants.get_users_delta_link(tenant_id)
        try:
            delta_link = await self._users_delta_rounds(graph, tenant_id, link, result)
        except GraphApiError as exc:
            if exc.status != 410 or not link:
                raise
            delta_link = await self._users_delta_rounds(graph, tenant_id, "", result)  # token expired
        self.stores.tenants.set_users_delta_link(tenant_id, delta_link)
        if result.subscribed or result.unsubscribed:
            self._audit(tenant_id, "users_delta", f"tenant:{tenant_id}",
                        f"{len(result.subscribed)} subscribed, {len(result.unsubscribed)} unsubscribed")
        return result

    async def _users_delta_rounds(
        self, graph: TenantGraph, tenant_id: str, link: str, result: UsersDeltaResult
    ) -> str:
        if link:
            data = await graph.get_json(link)
        else:
            data = await graph.get_json("/users/delta", {"$select": USER_SELECT})
        while True:
            for user in data.get("value") or []:
                await self._apply_user_change(graph, tenant_id, user, result)
            if data.get("@odata.nextLink"):
                data = await graph.get_json(str(data["@odata.nextLink"]))
                continue
            return str(data.get("@odata.deltaLink") or "")

    async def _apply_user_change(
        self, graph: TenantGraph, tenant_id: str, user: dict[str, Any], result: UsersDeltaResult
    ) -> None:
        user_id = str(user.get("id") or "")
        if not user_id:
            return
        sub = self.stores.subscriptions.find_for_user(tenant_id, user_id)
        gone = "@removed" in user or user.get("accountEnabled") is False
        if gone:
            if sub is not None:
                await self.unsubscribe(sub, "removed or disabled in the directory")
                result.unsubscribed.append(sub.mailbox)
            return
        if sub is not None:
            return
        if "mail" not in user or "userPrincipalName" not in user:
            # A later round carries only the changed properties: read the user whole.
            try:
                user = await graph.get_json(f"/users/{seg(user_id)}", {"$select": USER_SELECT})
            except GraphApiError as exc:
                if exc.status == 404:
                    return
                raise
        mailbox = _mailbox_of(user)
        if not mailbox:
            return
        try:
            await self.subscribe(tenant_id, mailbox, user_id)
            result.subscribed.append(mailbox)
        except GraphApiError as exc:
            result.errors.append(f"{mailbox}: {exc.status} {exc.code}")

    async def _group_reconcile(self, tenant_id: str, result: UsersDeltaResult) -> None:
        graph = self.runtime.graph.tenant(tenant_id)
        group = self.runtime.settings.protected_group_id
        members: set[str] = set()
        async for user in graph.pages(f"/groups/{seg(group)}/members/microsoft.graph.user",
                                      {"$select": USER_SELECT, "$top": "999"}):
            members.add(str(user.get("id") or "").lower())
            await self._apply_user_change(graph, tenant_id, user, result)
        for sub in self.stores.subscriptions.list_subscriptions(tenant_id):
            subscribed = resource_user(sub.resource)
            # Subscriptions by address (made before user ids were used) cannot be compared.
            if _GUID.fullmatch(subscribed) and subscribed not in members:
                await self.unsubscribe(sub, "no longer a member of TAP365_PROTECTED_GROUP_ID")
                result.unsubscribed.append(sub.mailbox)

    # -- keeping subscriptions alive -------------------------------------------------------------
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
        """After ``subscriptionRemoved``: a new subscription over every folder, then delta from
        the old links so nothing that arrived in between goes unscanned. Returns messages queued."""
        old = self.stores.subscriptions.get_subscription(subscription_id)
        links = dict(old.delta_links or {}) if old else {}
        user = resource_user(old.resource) if old else ""
        links.setdefault(SINCE_KEY, datetime.now(UTC).isoformat())
        info = await self.manager(tenant_id).create(mailbox, resource=mailbox_resource(user or mailbox))
        store_subscription(self.stores.subscriptions, info, mailbox, links)
        self.stores.subscriptions.delete_subscription(subscription_id)
        self._audit(
            tenant_id,
            "subscription_recreated",
            f"subscription/{info.id}",
            f"replaces {subscription_id} for {mailbox}",
        )
        return await self.resync(info.id)

    async def resync(self, subscription_id: str) -> int:
        """Delta query on every folder mail can land in (Inbox, Junk Email, user folders; not
        Sent Items, Drafts, Deleted Items or our hidden Hold/Quarantine), one delta link per
        folder; queue every message that arrived. 410 restarts a folder from scratch (bounded
        to the last day)."""
        sub = self.stores.subscriptions.get_subscription(subscription_id)
        if sub is None:
            return 0
        graph = self.runtime.graph.tenant(sub.tenant_id)
        folders = await delivery_folders(graph, sub.mailbox)
        if folders.truncated:
            log.warning("%s has more than %d folders: the delta resync reads the first %d; the rest "
                        "rely on notifications", sub.mailbox, len(folders.ids), len(folders.ids))
        links = dict(sub.delta_links or {})
        inbox_id = folders.well_known.get(INBOX)
        if INBOX in links and inbox_id and inbox_id not in links:
            links[inbox_id] = links.pop(INBOX)  # a link kept by an Inbox-only subscription
        now = datetime.now(UTC)
        created = parse_iso_datetime(links.get(SINCE_KEY, "")) or now - RESYNC_LOOKBACK
        since = max(created, now - RESYNC_LOOKBACK)
        new_links: dict[str, str] = {SINCE_KEY: links.get(SINCE_KEY) or created.isoformat()}
        if SINCE_KEY not in links:
            self.stores.subscriptions.set_delta_link(subscription_id, SINCE_KEY, new_links[SINCE_KEY])
        queued = 0
        for folder_id in folders.ids:
            link = links.get(folder_id)
            result = await delta_sync(graph, sub.mailbox, folder_id, link, received_since=since)
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
            queued += len(result.added)
            new_links[folder_id] = result.delta_link
            # Each folder's progress is kept as it completes: a retry after a failure (Graph
            # throttling, a timeout) goes on from there instead of reading every folder again.
            self.stores.subscriptions.set_delta_link(subscription_id, folder_id, result.delta_link)
        self.stores.subscriptions.replace_delta_links(subscription_id, new_links)
        return queued

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


def _mailbox_of(user: dict[str, Any]) -> str:
    """The address a protected user is subscribed under; '' for users without a mailbox or
    disabled ones."""
    if not user.get("mail") or user.get("accountEnabled", True) is False:
        return ""
    return str(user.get("userPrincipalName") or user.get("mail"))
