"""All stores on one Azure Storage account (or Azurite), built from a :class:`StorageConfig`.

    stores = AzureStores.open(StorageConfig.from_env())   # creates tables/containers/queues
    claim = stores.journal.claim(tenant, message_id, worker_id, lease_seconds=300)

Names (``<p>`` = ``config.prefix``, default ``tap``): tables ``<p>journal``, ``<p>verdicts``,
``<p>audit``, ``<p>tenants``, ``<p>subscriptions``, ``<p>senders``, ``<p>clicks``,
``<p>ratelimit``, ``<p>quarantine``, ``<p>urls<yyyymmdd>``; blob containers ``<p>-policies``,
``<p>-artefacts``, ``<p>-intel``; queues ``<p>-notifications``, ``<p>-delayed`` (+ ``-poison``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from connectors.storage.artefacts import BlobArtefactStore
from connectors.storage.clicks import TableClickLog, TableRateLimiter
from connectors.storage.config import StorageConfig
from connectors.storage.intel import BlobIntelStore
from connectors.storage.journal import TableJournal
from connectors.storage.policies import BlobPolicyStore
from connectors.storage.quarantine import TableQuarantineIndex
from connectors.storage.queues import StorageQueue
from connectors.storage.records import TableAuditStore, TableVerdictStore
from connectors.storage.senders import TableSenderHistory
from connectors.storage.tables import TableStore
from connectors.storage.tenants import TableSubscriptionStore, TableTenantStore
from connectors.storage.urlindex import TableUrlIndex

__all__ = [
    "AzureStores", "BlobArtefactStore", "BlobIntelStore", "BlobPolicyStore", "StorageQueue",
    "TableAuditStore", "TableClickLog", "TableJournal", "TableQuarantineIndex", "TableRateLimiter",
    "TableSenderHistory", "TableSubscriptionStore", "TableTenantStore", "TableUrlIndex", "TableVerdictStore",
    "get_stores",
]


@dataclass(frozen=True)
class AzureStores:
    config: StorageConfig
    journal: TableJournal
    verdicts: TableVerdictStore
    audit: TableAuditStore
    tenants: TableTenantStore
    subscriptions: TableSubscriptionStore
    policies: BlobPolicyStore
    senders: TableSenderHistory
    clicks: TableClickLog
    rate_limiter: TableRateLimiter
    quarantine: TableQuarantineIndex
    urls: TableUrlIndex
    notifications: StorageQueue
    delayed: StorageQueue
    artefacts: BlobArtefactStore
    intel: BlobIntelStore

    @classmethod
    def open(cls, config: StorageConfig, *, create: bool = True) -> AzureStores:
        """Build every store; ``create`` makes missing tables, containers and queues (idempotent)."""
        tables, blobs, queues = config.table_service(), config.blob_service(), config.queue_service()
        max_dequeue = config.max_dequeue_count

        def table(name: str) -> TableStore:
            return TableStore(tables, config.table_name(name))

        stores = cls(
            config=config,
            journal=TableJournal(table("journal")),
            verdicts=TableVerdictStore(table("verdicts")),
            audit=TableAuditStore(table("audit")),
            tenants=TableTenantStore(table("tenants")),
            subscriptions=TableSubscriptionStore(table("subscriptions")),
            policies=BlobPolicyStore(blobs, config.container_name("policies")),
            senders=TableSenderHistory(table("senders")),
            clicks=TableClickLog(table("clicks")),
            rate_limiter=TableRateLimiter(table("ratelimit")),
            quarantine=TableQuarantineIndex(table("quarantine")),
            urls=TableUrlIndex(tables, config.prefix),
            notifications=StorageQueue(queues, config.notifications_queue, max_dequeue_count=max_dequeue),
            delayed=StorageQueue(queues, config.delayed_queue, max_dequeue_count=max_dequeue),
            artefacts=BlobArtefactStore(blobs, config.container_name("artefacts"),
                                        max_bytes=config.max_artefact_bytes),
            intel=BlobIntelStore(blobs, config.container_name("intel")),
        )
        if create:
            stores.ensure()
        return stores

    def ensure(self) -> None:
        for store in (self.journal, self.verdicts, self.audit, self.tenants, self.subscriptions,
                      self.policies, self.senders, self.clicks, self.rate_limiter, self.quarantine,
                      self.urls, self.notifications, self.delayed, self.artefacts, self.intel):
            store.ensure()

    def __repr__(self) -> str:
        return f"AzureStores({self.config.describe()})"


@lru_cache(maxsize=1)
def get_stores() -> AzureStores:
    """The process-wide stores from the environment, opened once (Functions reuse the worker)."""
    return AzureStores.open(StorageConfig.from_env())
