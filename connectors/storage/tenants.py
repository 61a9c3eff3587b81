"""Tenants and Graph subscriptions on Azure Tables.

Tenants: one partition ``tenant``, row = tenant id (the timers list them all; there are few).
Subscriptions: partition = subscription id, so the notification endpoint's lookup is a point
read; listing for renewal scans the (small) table with a filter.

The ``clientState`` secret is never stored, only ``SHA-256(subscription id, clientState)``:
the notification endpoint only has to *compare* what Graph sends (constant time), renewal
(PATCH expirationDateTime) does not need it, and recreation makes a new one. A leak of the
table, a log line or a repr therefore cannot be used to forge notifications, and no encryption
key has to be managed. clientState values come from :func:`new_client_state` (random, 256 bits),
so a plain salted hash is enough; a slow KDF would only slow every notification down.

Tenant ids are stored lower-case: Entra's GUIDs are case-insensitive, and a lookup that minded
the case once let the same tenant be onboarded twice.

Onboarding progress (partition ``onboarding``) and each tenant's users delta link (partition
``usersdelta``) live in the tenants table; a per-mailbox index (partition ``bymailbox|<tenant>``,
row = the user id or address of the subscription's resource) lives in the subscriptions table,
so "is this mailbox subscribed?" is one point read even for a tenant of 10,000 mailboxes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from pydantic import SecretStr

from connectors.storage import _keys
from connectors.storage.interfaces import ClientStateCheck, ConcurrencyError, Subscription, Tenant
from connectors.storage.tables import TableStore, as_utc, is_precondition_failed

_TENANT_PARTITION = "tenant"
_ONBOARDING_PARTITION = "onboarding"
_USERS_DELTA_PARTITION = "usersdelta"
_SUB_ROW = "subscription"
_BY_MAILBOX = "bymailbox"
MAX_CLIENT_STATE = 128  # Graph's limit


def new_client_state() -> SecretStr:
    """A fresh random clientState for a new subscription (43 URL-safe characters)."""
    return SecretStr(secrets.token_urlsafe(32))


def tenant_key(tenant_id: str) -> str:
    return tenant_id.strip().lower()


def resource_user(resource: str) -> str:
    """The user id or address in ``users/{x}/...`` (lower-case), '' for other resources."""
    parts = resource.strip("/").split("/")
    return parts[1].lower() if len(parts) > 1 and parts[0].lower() == "users" else ""


@dataclass
class OnboardingProgress:
    """Where a tenant's paged onboarding stands; ``next_link`` is the page still to do."""

    tenant_id: str
    run: str  # one onboarding run: items of an older run stop
    status: str = "running"  # running / done
    next_link: str = ""  # the Graph URL of the page to do next ('' = the first page)
    pages: int = 0  # pages done
    mailboxes: int = 0  # protected mailboxes seen
    subscribed: int = 0  # subscriptions created
    errors: list[str] = field(default_factory=list)  # the last few, for the status page
    claimed_by: str = ""  # the worker doing the page now (lease below)
    claimed_until: datetime | None = None
    updated_at: datetime | None = None
    etag: str = field(default="", repr=False, compare=False)


MAX_KEPT_ERRORS = 20


def _hash(subscription_id: str, client_state: str) -> str:
    return hashlib.sha256(f"tap365-client-state\0{subscription_id}\0{client_state}".encode()).hexdigest()


class TableTenantStore:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def put_tenant(self, tenant: Tenant) -> None:
        self._store.upsert({
            "PartitionKey": _TENANT_PARTITION, "RowKey": _keys.escape(tenant_key(tenant.tenant_id)),
            "TenantId": tenant_key(tenant.tenant_id), "DisplayName": tenant.display_name,
            "ConsentedAt": _keys.utc(tenant.consented_at), "Status": tenant.status,
            "Mailboxes": _keys.dumps(list(tenant.protected_mailboxes), what="protected mailboxes"),
            "GroupId": tenant.protected_group_id,
        })

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        entity = self._store.read(_TENANT_PARTITION, _keys.escape(tenant_key(tenant_id)))
        return None if entity is None else _tenant(entity)

    # -- onboarding progress ----------------------------------------------------------------------
    def get_onboarding(self, tenant_id: str) -> OnboardingProgress | None:
        e = self._store.read(_ONBOARDING_PARTITION, _keys.escape(tenant_key(tenant_id)))
        if e is None:
            return None
        return OnboardingProgress(
            e["TenantId"], e["Run"], e["Status"], e.get("NextLink", ""), int(e.get("Pages", 0)),
            int(e.get("Mailboxes", 0)), int(e.get("Subscribed", 0)), list(_keys.loads(e.get("Errors")) or []),
            e.get("ClaimedBy", ""), as_utc(e["ClaimedUntil"]) if e.get("ClaimedUntil") else None,
            as_utc(e["UpdatedAt"]) if e.get("UpdatedAt") else None, e["_etag"],
        )

    def put_onboarding(self, progress: OnboardingProgress, *, etag: str | None = None) -> OnboardingProgress:
        """Write the progress; with ``etag`` only if nobody changed it since it was read
        (ConcurrencyError otherwise). Returns it with its new ETag."""
        entity = {
            "PartitionKey": _ONBOARDING_PARTITION, "RowKey": _keys.escape(tenant_key(progress.tenant_id)),
            "TenantId": tenant_key(progress.tenant_id), "Run": progress.run, "Status": progress.status,
            "NextLink": progress.next_link, "Pages": progress.pages, "Mailboxes": progress.mailboxes,
            "Subscribed": progress.subscribed,
            "Errors": _keys.dumps(progress.errors[-MAX_KEPT_ERRORS:], what="onboarding errors"),
            "ClaimedBy": progress.claimed_by, "UpdatedAt": datetime.now(UTC),
        }
        if progress.claimed_until is not None:
            entity["ClaimedUntil"] = _keys.utc(progress.claimed_until)
        if etag is None:
            new_etag = self._store.upsert(entity)
        else:
            try:
                new_etag = self._store.replace_if_match(entity, etag)
            except HttpResponseError as error:
                if is_precondition_failed(error):
                    raise ConcurrencyError(f"onboarding of {progress.tenant_id} changed meanwhile") from error
                raise
        progress.etag = new_etag
        progress.errors = progress.errors[-MAX_KEPT_ERRORS:]
        return progress

    # -- users delta ------------------------------------------------------------------------------
    def get_users_delta_link(self, tenant_id: str) -> str:
        e = self._store.read(_USERS_DELTA_PARTITION, _keys.escape(tenant_key(tenant_id)))
        return str(e.get("DeltaLink", "")) if e else ""

    def set_users_delta_link(self, tenant_id: str, delta_link: str) -> None:
        if len(delta_link) > _keys.MAX_PROPERTY_CHARS:
            raise ValueError(f"users delta link is {len(delta_link)} characters; a table property holds "
                             f"{_keys.MAX_PROPERTY_CHARS}")
        self._store.upsert({
            "PartitionKey": _USERS_DELTA_PARTITION, "RowKey": _keys.escape(tenant_key(tenant_id)),
            "DeltaLink": delta_link,
            "UpdatedAt": datetime.now(UTC),
        })

    def list_tenants(self, status: str | None = None) -> list[Tenant]:
        if status is None:
            entities = self._store.query("PartitionKey eq @p", {"p": _TENANT_PARTITION})
        else:
            entities = self._store.query(
                "PartitionKey eq @p and Status eq @s", {"p": _TENANT_PARTITION, "s": status}
            )
        return [_tenant(e) for e in entities]


def _tenant(e: dict[str, Any]) -> Tenant:
    return Tenant(e["TenantId"], e["DisplayName"], as_utc(e["ConsentedAt"]), e["Status"],
                  tuple(_keys.loads(e.get("Mailboxes")) or ()), e.get("GroupId", ""))


class TableSubscriptionStore:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def put_subscription(self, subscription: Subscription, client_state: SecretStr) -> None:
        secret = client_state.get_secret_value()
        if not 1 <= len(secret) <= MAX_CLIENT_STATE:
            raise ValueError(f"clientState must be 1-{MAX_CLIENT_STATE} characters (Graph's limit)")
        entity = self._entity(subscription)
        entity["ClientStateHash"] = _hash(subscription.subscription_id, secret)
        self._store.upsert(entity)
        user = resource_user(subscription.resource)
        if user:
            self._store.upsert({
                "PartitionKey": _keys.key(_BY_MAILBOX, tenant_key(subscription.tenant_id)),
                "RowKey": _keys.escape(user), "SubscriptionId": subscription.subscription_id,
            })

    def find_for_user(self, tenant_id: str, user: str) -> Subscription | None:
        """The subscription whose resource is ``users/{user}/...`` (user id or address as it
        was subscribed), through the per-mailbox index: one or two point reads."""
        row = self._store.read(_keys.key(_BY_MAILBOX, tenant_key(tenant_id)), _keys.escape(user.lower()))
        return None if row is None else self.get_subscription(str(row["SubscriptionId"]))

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        entity = self._store.read(_keys.escape(subscription_id), _SUB_ROW)
        return None if entity is None else _subscription(entity)

    def verify_client_state(self, subscription_id: str, client_state: str) -> ClientStateCheck:
        return self.authenticate(subscription_id, client_state)[0]

    def authenticate(self, subscription_id: str,
                     client_state: str) -> tuple[ClientStateCheck, Subscription | None]:
        """The clientState check and, when it passes, the subscription: one read, as the
        notification endpoint needs both for every notification."""
        entity = self._store.read(_keys.escape(subscription_id), _SUB_ROW)
        if entity is None:
            return ClientStateCheck.UNKNOWN_SUBSCRIPTION, None
        presented = _hash(subscription_id, client_state or "")
        if hmac.compare_digest(presented, entity.get("ClientStateHash", "")):
            return ClientStateCheck.OK, _subscription(entity)
        return ClientStateCheck.MISMATCH, None

    def set_expiry(self, subscription_id: str, expires_at: datetime) -> None:
        self._change(subscription_id, lambda e: e.update(ExpiresAt=_keys.utc(expires_at)))

    def set_delta_link(self, subscription_id: str, folder_id: str, delta_link: str | None) -> None:
        def change(entity: dict[str, Any]) -> None:
            links = dict(_keys.loads(entity.get("DeltaLinks")) or {})
            if delta_link is None:
                links.pop(folder_id, None)  # 410 syncStateNotFound: resync from scratch
            else:
                links[folder_id] = delta_link
            entity["DeltaLinks"] = _keys.dumps(links, what="delta links")

        self._change(subscription_id, change)

    def replace_delta_links(self, subscription_id: str, links: dict[str, str]) -> None:
        """All the subscription's delta links at once (folders gone from the mailbox drop out)."""
        text = _keys.dumps(dict(links), what="delta links")
        self._change(subscription_id, lambda e: e.update(DeltaLinks=text))

    def list_subscriptions(self, tenant_id: str | None = None,
                           expiring_before: datetime | None = None) -> list[Subscription]:
        clauses: list[str] = ["RowKey eq @row"]
        params: dict[str, Any] = {"row": _SUB_ROW}
        if tenant_id is not None:
            clauses.append("TenantId eq @t")
            params["t"] = tenant_key(tenant_id)
        if expiring_before is not None:
            clauses.append("ExpiresAt lt @exp")
            params["exp"] = _keys.utc(expiring_before)
        subs = [_subscription(e) for e in self._store.query(" and ".join(clauses), params)]
        return sorted(subs, key=lambda s: s.expires_at)

    def delete_subscription(self, subscription_id: str) -> None:
        sub = self.get_subscription(subscription_id)
        try:
            self._store.delete(_keys.escape(subscription_id), _SUB_ROW)
        except ResourceNotFoundError:
            pass
        user = resource_user(sub.resource) if sub is not None else ""
        if sub is not None and user:
            partition, row = _keys.key(_BY_MAILBOX, tenant_key(sub.tenant_id)), _keys.escape(user)
            index = self._store.read(partition, row)
            # A recreated subscription already took the index over: leave it.
            if index is not None and index.get("SubscriptionId") == subscription_id:
                try:
                    self._store.delete(partition, row, etag=index["_etag"])
                except (ResourceNotFoundError, HttpResponseError):
                    pass

    def _change(self, subscription_id: str, change: Any) -> None:
        # Read-modify-write with the ETag: a renewal and a delta update racing both survive.
        for _ in range(5):
            entity = self._store.read(_keys.escape(subscription_id), _SUB_ROW)
            if entity is None:
                raise KeyError(
                    f"subscription {subscription_id!r} is not stored; was it deleted or never saved?"
                )
            change(entity)
            try:
                self._store.replace_if_match(entity, entity["_etag"])
                return
            except HttpResponseError as error:
                if not is_precondition_failed(error):
                    raise
        raise ConcurrencyError(f"subscription {subscription_id!r} kept changing under us; try again")

    @staticmethod
    def _entity(s: Subscription) -> dict[str, Any]:
        return {
            "PartitionKey": _keys.escape(s.subscription_id), "RowKey": _SUB_ROW,
            "SubscriptionId": s.subscription_id, "TenantId": tenant_key(s.tenant_id), "Mailbox": s.mailbox,
            "Resource": s.resource, "ExpiresAt": _keys.utc(s.expires_at),
            "DeltaLinks": _keys.dumps(dict(s.delta_links), what="delta links"),
        }


def _subscription(e: dict[str, Any]) -> Subscription:
    return Subscription(e["SubscriptionId"], e["TenantId"], e["Mailbox"], e["Resource"],
                        as_utc(e["ExpiresAt"]), _keys.loads(e.get("DeltaLinks")) or {}, e["_etag"])
