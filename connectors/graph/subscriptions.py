"""Change-notification subscriptions per mailbox, and delta sync to catch up after gaps.

Graph caps mail subscriptions at 4,230 minutes; we ask for at most that and keep the expiry
Graph returns. Each subscription gets its own random ``clientState``: the caller stores it as
a secret and hands it to notification validation.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from msgraph.generated.models.subscription import Subscription

from .client import BatchRequest, TenantGraph, seg
from .errors import GraphApiError
from .sdk import sdk_call

MAX_MAIL_SUBSCRIPTION_MINUTES = 4230
CLIENT_STATE_BYTES = 48  # token_urlsafe(48) -> 64 characters, under Graph's 128


@dataclass
class SubscriptionInfo:
    id: str
    tenant_id: str
    resource: str
    change_type: str
    expiration: datetime | None
    notification_url: str
    lifecycle_notification_url: str = ""
    client_state: str = field(default="", repr=False)  # only known when we created it

    def expires_within(self, margin: timedelta, now: datetime | None = None) -> bool:
        if self.expiration is None:
            return True
        return self.expiration - (now or datetime.now(UTC)) <= margin

    @property
    def mailbox(self) -> str:
        """The user id/address from ``users/{id}/...`` ('' for other resources)."""
        parts = self.resource.strip("/").split("/")
        return parts[1] if len(parts) > 1 and parts[0].lower() == "users" else ""


def inbox_resource(mailbox: str) -> str:
    return f"users/{mailbox}/mailFolders('inbox')/messages"


def mailbox_resource(user: str) -> str:
    """Every folder of the mailbox: mail that rules move or that lands in Junk is seen too."""
    return f"users/{user}/messages"


def new_client_state() -> str:
    return secrets.token_urlsafe(CLIENT_STATE_BYTES)


def _info(tenant_id: str, sub: Subscription | None, client_state: str = "") -> SubscriptionInfo:
    if sub is None or not sub.id:
        raise GraphApiError(500, "NoSubscription", "Graph returned no subscription")
    expiration = sub.expiration_date_time
    if expiration is not None and expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    return SubscriptionInfo(
        id=sub.id,
        tenant_id=tenant_id,
        resource=sub.resource or "",
        change_type=sub.change_type or "",
        expiration=expiration,
        notification_url=sub.notification_url or "",
        lifecycle_notification_url=sub.lifecycle_notification_url or "",
        client_state=client_state,
    )


class SubscriptionManager:
    """Create, renew, reauthorize, recreate, delete and list one tenant's subscriptions."""

    def __init__(
        self,
        graph: TenantGraph,
        notification_url: str,
        lifecycle_notification_url: str,
        *,
        minutes: int = MAX_MAIL_SUBSCRIPTION_MINUTES,
    ) -> None:
        self.graph = graph
        self.notification_url = notification_url
        self.lifecycle_notification_url = lifecycle_notification_url
        self.minutes = min(minutes, MAX_MAIL_SUBSCRIPTION_MINUTES)

    def _expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(minutes=self.minutes)

    async def create(
        self,
        mailbox: str,
        *,
        resource: str | None = None,
        encryption_certificate: str | None = None,
        encryption_certificate_id: str | None = None,
    ) -> SubscriptionInfo:
        """Subscribe to new mail in every folder of the mailbox (or ``resource``). Graph
        validates the notification URL (handshake) before answering; the returned
        ``client_state`` must be stored by the caller as a secret.

        With ``encryption_certificate`` (base64 DER of our public certificate) Graph sends rich
        notifications: the message encrypted for us (decrypt with notifications.decrypt_resource_data);
        mail needs a ``$select`` in the resource for that, e.g. ``...messages?$select=subject``."""
        client_state = new_client_state()
        rich = encryption_certificate is not None
        body = Subscription(
            change_type="created",
            notification_url=self.notification_url,
            # Only settable at creation.
            lifecycle_notification_url=self.lifecycle_notification_url or None,
            resource=resource or mailbox_resource(mailbox),
            expiration_date_time=self._expiry(),
            client_state=client_state,
            include_resource_data=True if rich else None,
            encryption_certificate=encryption_certificate,
            encryption_certificate_id=encryption_certificate_id if rich else None,
        )
        created = await sdk_call(self.graph.sdk.subscriptions.post(body), f"create subscription {mailbox}")
        return _info(self.graph.tenant_id, created, client_state)

    async def renew(self, subscription_id: str) -> SubscriptionInfo:
        """Push the expiry out again; Graph may grant less than asked, so use what it returns."""
        body = Subscription(expiration_date_time=self._expiry())
        builder = self.graph.sdk.subscriptions.by_subscription_id(subscription_id)
        return _info(self.graph.tenant_id, await sdk_call(builder.patch(body), f"renew {subscription_id}"))

    async def reauthorize(self, subscription_id: str) -> None:
        """Answer ``reauthorizationRequired``."""
        builder = self.graph.sdk.subscriptions.by_subscription_id(subscription_id)
        await sdk_call(builder.reauthorize.post(), f"reauthorize {subscription_id}")

    async def delete(self, subscription_id: str) -> bool:
        """Delete; False when it was already gone."""
        builder = self.graph.sdk.subscriptions.by_subscription_id(subscription_id)
        try:
            await sdk_call(builder.delete(), f"delete {subscription_id}")
        except GraphApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def recreate(self, old: SubscriptionInfo | str, mailbox: str | None = None) -> SubscriptionInfo:
        """After ``subscriptionRemoved``: drop what is left of the old one and subscribe again
        (then run a delta sync for what arrived meanwhile)."""
        old_id = old if isinstance(old, str) else old.id
        resource = None if isinstance(old, str) else old.resource
        target = mailbox or ("" if isinstance(old, str) else old.mailbox)
        if not target:
            raise ValueError("recreate needs the mailbox (or the old SubscriptionInfo)")
        await self.delete(old_id)
        return await self.create(target, resource=resource)

    async def list_all(self) -> list[SubscriptionInfo]:
        """The app's subscriptions in this tenant (all pages)."""
        result: list[SubscriptionInfo] = []
        page = await sdk_call(self.graph.sdk.subscriptions.get(), "list subscriptions")
        while page is not None:
            result.extend(_info(self.graph.tenant_id, s) for s in page.value or [])
            if not page.odata_next_link:
                break
            page = await sdk_call(
                self.graph.sdk.subscriptions.with_url(page.odata_next_link).get(), "list subscriptions"
            )
        return result

    async def renew_due(
        self, subscriptions: list[SubscriptionInfo], margin: timedelta
    ) -> list[SubscriptionInfo]:
        """Renew those expiring within ``margin``; returns the renewed ones."""
        return [await self.renew(s.id) for s in subscriptions if s.expires_within(margin)]


@dataclass
class DeltaResult:
    added: list[str]  # ids of messages new or changed since the last sync
    removed: list[str]
    delta_link: str  # store it; pass it back next time
    restarted: bool = False  # the old state was gone (410): everything in the folder is listed
    requests: int = 0


async def delta_sync(
    graph: TenantGraph,
    mailbox: str,
    folder_id: str = "inbox",
    delta_link: str | None = None,
    *,
    page_size: int = 50,
    received_since: datetime | None = None,
    change_type: str | None = "created",
) -> DeltaResult:
    """Follow ``@odata.nextLink`` to the ``@odata.deltaLink``; on 410 (syncStateNotFound) start over.

    Only ``created`` changes by default: our own edits (rewrite, categories) would otherwise come
    back as updates. ``received_since`` bounds a first or restarted sync (``receivedDateTime ge``)."""
    restarted = False
    requests = 0
    while True:
        added: list[str] = []
        removed: list[str] = []
        headers: Mapping[str, str] = {"Prefer": f"odata.maxpagesize={page_size}"}
        url = delta_link
        params: dict[str, str] | None = None
        if not url:
            url = f"/users/{seg(mailbox)}/mailFolders/{seg(folder_id)}/messages/delta"
            params = {"$select": "id,parentFolderId,receivedDateTime"}
            if change_type:
                params["changeType"] = change_type
            if received_since is not None:
                stamp = received_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                params["$filter"] = f"receivedDateTime ge {stamp}"
        try:
            while True:
                requests += 1
                response = await graph.request("GET", url, params=params, headers=headers)
                data = response.json()
                params = None  # the links carry the query
                for item in data.get("value") or []:
                    target = removed if "@removed" in item else added
                    target.append(str(item.get("id")))
                if data.get("@odata.nextLink"):
                    url = data["@odata.nextLink"]
                    continue
                return DeltaResult(
                    added=list(dict.fromkeys(added)),
                    removed=list(dict.fromkeys(removed)),
                    delta_link=str(data.get("@odata.deltaLink") or ""),
                    restarted=restarted,
                    requests=requests,
                )
        except GraphApiError as exc:
            if exc.status == 410 and not restarted and delta_link:
                delta_link = None
                restarted = True
                continue
            raise


#: Well-known folders mail is not delivered into (our own copies, drafts, deletions, Skype
#: history): the delta safety net skips them. Hidden folders (the service's Hold and Quarantine)
#: are skipped too.
SKIPPED_FOLDERS = ("sentitems", "drafts", "deleteditems", "outbox", "conversationhistory")
#: Folders whose delivery comes first when a mailbox has more than the limit.
FIRST_FOLDERS = ("inbox", "junkemail")
#: Folders per mailbox the delta resync keeps a link for (each link is one request per resync).
#: 25 links of Graph's length stay well inside one table property.
MAX_DELTA_FOLDERS = 25


@dataclass
class DeliveryFolders:
    ids: list[str]  # Inbox, Junk Email, then user folders (nested ones too), at most ``limit``
    well_known: dict[str, str] = field(default_factory=dict)  # well-known name -> folder id
    truncated: bool = False  # more folders than the limit: the rest rely on notifications only
    requests: int = 0


async def delivery_folders(
    graph: TenantGraph, mailbox: str, *, limit: int = MAX_DELTA_FOLDERS
) -> DeliveryFolders:
    """The folders mail can land in (delivery, Junk, inbox rules), for a per-folder delta.

    One ``$batch`` lists the top-level folders and resolves the well-known ones; only folders
    with children cost a request more."""
    if limit < 1:
        raise ValueError("the folder limit must be at least 1")
    base = f"/users/{seg(mailbox)}/mailFolders"
    select = "$select=id,displayName,childFolderCount,isHidden"
    names = FIRST_FOLDERS + SKIPPED_FOLDERS
    answers = await graph.batch(
        [BatchRequest("GET", f"{base}?$top=100&{select}", id="list")]
        + [BatchRequest("GET", f"{base}/{name}?$select=id", id=name) for name in names]
    )
    requests = 1
    by_name = {a.id: a for a in answers}
    listing = by_name["list"]
    if not listing.ok:
        raise listing.error(BatchRequest("GET", base))
    known = {
        name: str(by_name[name].body["id"])
        for name in names
        if by_name[name].ok and isinstance(by_name[name].body, dict) and by_name[name].body.get("id")
    }
    skipped = {known[name] for name in SKIPPED_FOLDERS if name in known}
    out: list[str] = [known[name] for name in FIRST_FOLDERS if name in known]
    pending: list[dict[str, object]] = list((listing.body or {}).get("value") or [])
    next_link = (listing.body or {}).get("@odata.nextLink")
    truncated = False
    while pending or next_link:
        if not pending and next_link:
            requests += 1
            data = await graph.get_json(str(next_link))
            pending, next_link = list(data.get("value") or []), data.get("@odata.nextLink")
            continue
        folder = pending.pop(0)
        folder_id = str(folder.get("id") or "")
        if not folder_id or folder.get("isHidden") or folder_id in skipped:
            continue
        if folder_id not in out:
            if len(out) >= limit:
                truncated = True
                break
            out.append(folder_id)
        if int(str(folder.get("childFolderCount") or 0)) > 0:
            requests += 1
            children = f"{base}/{seg(folder_id)}/childFolders"
            async for child in graph.pages(children, {"$top": "100", "$select": select[len("$select="):]}):
                if len(out) + len(pending) > 2 * limit:
                    break  # enough candidates: the rest would be cut by the limit anyway
                pending.append(child)
    return DeliveryFolders(out, known, truncated, requests)
