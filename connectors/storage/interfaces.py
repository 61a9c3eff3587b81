"""The stores the service uses, as protocols; :mod:`connectors.storage.azure` implements them on
Azure Storage (tables, blobs, queues).

Functions and timers depend on these protocols only. Times are timezone-aware UTC datetimes.
Every ``list_*`` returns newest first and at most ``limit`` items. Conditional writes fail
with :class:`ConcurrencyError` (a subclass per case) rather than overwriting someone else's work.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from tap_core.impersonation.interfaces import SenderHistory

__all__ = [
    "NOTICES", "STEPS", "ArtefactStore", "ArtefactTooLarge", "AuditRecord", "AuditStore", "Claim",
    "ClickLog", "ClickRecord", "ClientStateCheck", "ConcurrencyError", "IdempotencyJournal",
    "JournalEntry", "LeaseLost", "PolicyConflict", "PolicyDocument", "PolicyStore",
    "QuarantineEntry", "QuarantineIndex", "QuarantineStatus", "QueueItem", "RateLimiter",
    "SenderHistory", "Subscription", "SubscriptionStore", "Tenant", "TenantStore", "UrlHit",
    "UrlIndex", "VerdictRecord", "VerdictStore", "WorkQueue",
]


class ConcurrencyError(RuntimeError):
    """Someone else changed the record since it was read (ETag mismatch)."""


class LeaseLost(ConcurrencyError):
    """The journal entry was taken over by another worker: stop, do not act on the message."""


class PolicyConflict(ConcurrencyError):
    """The policy changed since it was read: re-read it, re-apply the change, save again."""


class ArtefactTooLarge(ValueError):
    """An artefact is over the configured size limit."""


# -- 1. idempotency journal -------------------------------------------------------------------
#: Processing steps in order. ``claimed`` is implicit (the entry exists); a worker records each
#: later step once it is done, with the data needed to resume after it.
STEPS: tuple[str, ...] = ("claimed", "fetched", "decided", "safe_file", "body_patched", "categorized",
                          "moved", "done")


@dataclass(frozen=True, slots=True)
class Claim:
    """A worker's lease on one message. Pass it back to ``record_step``; it carries the ETag."""

    tenant_id: str
    message_id: str
    worker_id: str
    step: str  # the last step recorded; resume after it
    data: Mapping[str, Any]  # step name -> the data recorded with it
    lease_until: datetime
    lease_seconds: int
    attempt: int  # 1 for the first claim, +1 on every takeover
    etag: str = field(repr=False)
    #: Random per claim: the attempt that owns the lease (``worker_id`` only names the process).
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    tenant_id: str
    message_id: str
    step: str
    data: Mapping[str, Any]
    worker_id: str
    lease_until: datetime
    attempt: int
    created_at: datetime
    updated_at: datetime

    @property
    def done(self) -> bool:
        return self.step == "done"


@runtime_checkable
class IdempotencyJournal(Protocol):
    def claim(self, tenant_id: str, message_id: str, worker_id: str, lease_seconds: int) -> Claim | None:
        """A new lease of this attempt's own (a fresh token), or None when the message is done or
        any attempt, in this process or another, holds a live lease."""
        ...

    def record_step(self, claim: Claim, step: str, data: Mapping[str, Any] | None = None) -> Claim:
        """Record ``step`` as done (and renew the lease); raises :class:`LeaseLost` if taken over."""
        ...

    def release(self, claim: Claim) -> None:
        """Give the lease up early (e.g. after a transient error) so a retry may take over at once;
        only the attempt holding ``claim`` (same token and ETag) can release it."""
        ...

    def get(self, tenant_id: str, message_id: str) -> JournalEntry | None: ...


# -- 2. verdicts and audit --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VerdictRecord:
    message_id: str
    decided_at: datetime
    verdict: str  # e.g. clean / suspicious / malicious / timeout
    action: str  # e.g. deliver / tag / hold / quarantine
    mailbox: str = ""
    sender: str = ""
    subject: str = ""
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who did what to what, why, and when. Append-only."""

    actor: str  # "system", a worker id, or an admin's UPN
    action: str
    target: str  # e.g. "mailbox/message-id", "policy", "subscription/<id>"
    reason: str
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)
    record_id: str = ""  # assigned by the store


@runtime_checkable
class VerdictStore(Protocol):
    def put_verdict(self, tenant_id: str, message_id: str, record: VerdictRecord) -> None: ...

    def get_verdict(self, tenant_id: str, message_id: str) -> VerdictRecord | None: ...

    def list_verdicts(self, tenant_id: str, since: datetime, limit: int = 100) -> list[VerdictRecord]: ...


@runtime_checkable
class AuditStore(Protocol):
    def append(self, tenant_id: str, record: AuditRecord) -> AuditRecord: ...

    def list_audit(self, tenant_id: str, since: datetime, limit: int = 100) -> list[AuditRecord]: ...


# -- 3. tenants and subscriptions -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: str
    display_name: str
    consented_at: datetime
    status: str = "active"  # active / suspended / offboarded
    protected_mailboxes: tuple[str, ...] = ()
    protected_group_id: str = ""  # protect the members of this group (if set)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A Graph change-notification subscription. The clientState is not here (see the store)."""

    subscription_id: str
    tenant_id: str
    mailbox: str
    resource: str
    expires_at: datetime
    delta_links: Mapping[str, str] = field(default_factory=dict)  # folder id -> @odata.deltaLink
    etag: str = field(default="", repr=False, compare=False)


class ClientStateCheck(enum.Enum):
    OK = "ok"
    MISMATCH = "mismatch"  # drop the notification: not from our subscription
    UNKNOWN_SUBSCRIPTION = "unknown"  # not (yet) stored: answer 5xx so Graph retries


@runtime_checkable
class TenantStore(Protocol):
    def put_tenant(self, tenant: Tenant) -> None: ...

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def list_tenants(self, status: str | None = None) -> list[Tenant]: ...


@runtime_checkable
class SubscriptionStore(Protocol):
    def put_subscription(self, subscription: Subscription, client_state: SecretStr) -> None:
        """Create or replace; only a salted hash of ``client_state`` is kept."""
        ...

    def get_subscription(self, subscription_id: str) -> Subscription | None: ...

    def verify_client_state(self, subscription_id: str, client_state: str) -> ClientStateCheck: ...

    def authenticate(self, subscription_id: str,
                     client_state: str) -> tuple[ClientStateCheck, Subscription | None]: ...

    def set_expiry(self, subscription_id: str, expires_at: datetime) -> None: ...

    def set_delta_link(self, subscription_id: str, folder_id: str, delta_link: str | None) -> None: ...

    def list_subscriptions(self, tenant_id: str | None = None,
                           expiring_before: datetime | None = None) -> list[Subscription]: ...

    def delete_subscription(self, subscription_id: str) -> None: ...


# -- 4. policies --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PolicyDocument:
    tenant_id: str
    document: Mapping[str, Any]
    version: int
    updated_at: datetime
    updated_by: str
    etag: str = field(repr=False, compare=False)


@runtime_checkable
class PolicyStore(Protocol):
    def get_policy(self, tenant_id: str) -> PolicyDocument | None: ...

    def put_policy(self, tenant_id: str, document: Mapping[str, Any], *, etag: str | None,
                   updated_by: str) -> PolicyDocument:
        """Save; ``etag=None`` only creates. Raises :class:`PolicyConflict` when it changed meanwhile."""
        ...

    def policy_history(self, tenant_id: str, limit: int = 20) -> list[PolicyDocument]: ...


# -- 6. clicks ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClickRecord:
    tenant_id: str
    recipient: str
    url: str
    verdict: str
    decision: str  # redirect / block / warn / proceed
    at: datetime
    reasons: tuple[str, ...] = ()
    user_agent: str = ""
    client_ip: str = ""
    is_scanner: bool = False
    link_id: str = ""
    record_id: str = ""  # assigned by the store


@runtime_checkable
class ClickLog(Protocol):
    def append(self, record: ClickRecord) -> ClickRecord: ...

    def list_clicks(self, tenant_id: str, since: datetime, limit: int = 100) -> list[ClickRecord]: ...


@runtime_checkable
class RateLimiter(Protocol):
    def hit(self, link_id: str, window_seconds: int, limit: int) -> bool:
        """Count one use of ``link_id`` in the current fixed window; False once over ``limit``."""
        ...


# -- 7. quarantine index ----------------------------------------------------------------------
class QuarantineStatus(enum.StrEnum):
    HELD = "held"  # in the hidden hold folder while analysis runs
    QUARANTINED = "quarantined"
    RELEASED = "released"
    DELETED = "deleted"
    #: Delivered with Safe File copies; the original attachments are kept for release.
    CONVERTED = "converted"


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    tenant_id: str
    mailbox: str
    message_id: str
    folder_id: str
    original_folder_id: str
    reason: str
    at: datetime
    status: QuarantineStatus = QuarantineStatus.QUARANTINED
    subject: str = ""
    sender: str = ""
    updated_by: str = ""
    updated_at: datetime | None = None
    #: When the admin was told this hold is overdue (TAP365_HOLD_ALERT_HOURS); None: not yet.
    alerted_at: datetime | None = None
    #: When the person it was for was told it is held; None: not (yet, or not per policy).
    noticed_at: datetime | None = None


#: The one-time notices a quarantine entry records (``QuarantineIndex.mark_once``).
NOTICES = ("alerted", "noticed")


@runtime_checkable
class QuarantineIndex(Protocol):
    def put(self, entry: QuarantineEntry) -> None: ...

    def get(self, tenant_id: str, mailbox: str, message_id: str) -> QuarantineEntry | None: ...

    def list(self, tenant_id: str, *, status: QuarantineStatus | None = None,
             since: datetime | None = None, limit: int = 100) -> list[QuarantineEntry]: ...

    def update_status(self, tenant_id: str, mailbox: str, message_id: str, status: QuarantineStatus,
                      *, by: str, folder_id: str | None = None) -> QuarantineEntry: ...

    def mark_once(self, tenant_id: str, mailbox: str, message_id: str, notice: str) -> bool:
        """Record that ``notice`` (one of :data:`NOTICES`) was given for the entry; True only for
        the one caller that recorded it first (so each notice goes out at most once)."""
        ...


# -- 8. URL index (post-delivery purge) -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UrlHit:
    key: str  # the url / host / registered-domain key that matched
    mailbox: str
    message_id: str
    delivered_at: datetime


@runtime_checkable
class UrlIndex(Protocol):
    def add(self, tenant_id: str, keys: Iterable[str], mailbox: str, message_id: str,
            delivered_at: datetime) -> None: ...

    def find(self, tenant_id: str, keys: Iterable[str], since: datetime,
             limit: int = 1000) -> list[UrlHit]: ...

    def cleanup(self, older_than_days: int) -> int:
        """Drop index data older than the given days; returns how many day-buckets were dropped."""
        ...


# -- 9. queues ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QueueItem:
    id: str
    content: str
    dequeue_count: int
    inserted_at: datetime | None
    pop_receipt: str = field(repr=False)


@runtime_checkable
class WorkQueue(Protocol):
    name: str

    def send(self, content: str | bytes | Mapping[str, Any], *, visibility_timeout: int = 0,
             time_to_live: int | None = None) -> str: ...

    def receive(self, max_messages: int = 16, visibility_timeout: int = 300) -> list[QueueItem]: ...

    def delete(self, item: QueueItem) -> None: ...

    def postpone(self, item: QueueItem, visibility_timeout: int, content: str | None = None) -> QueueItem: ...

    def poison(self, content: str, reason: str, *, dequeue_count: int = 0, message_id: str = "",
               inserted_at: str | None = None) -> None: ...

    def fail(self, item: QueueItem, reason: str, *, retry_after: int = 0) -> bool:
        """A processing attempt failed: retry later, or move it to ``<name>-poison`` (returns True)."""
        ...


# -- 10. artefacts ------------------------------------------------------------------------------
@runtime_checkable
class ArtefactStore(Protocol):
    def put(self, tenant_id: str, name: str, data: bytes, *, content_type: str = "application/octet-stream",
            metadata: Mapping[str, str] | None = None) -> str: ...

    def get(self, tenant_id: str, name: str) -> bytes | None: ...

    def delete(self, tenant_id: str, name: str) -> None: ...
