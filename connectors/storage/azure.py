"""All stores on one Azure Storage account (or Azurite), built from a :class:`StorageConfig`.

    stores = AzureStores.open(StorageConfig.from_env())   # creates tables/containers/queues
    claim = stores.journal.claim(tenant, message_id, worker_id, lease_seconds=300)

Names (``<p>`` = ``config.prefix``, default ``tap``): tables ``<p>journal``, ``<p>verdicts``,
``<p>audit``, ``<p>tenants``, ``<p>subscriptions``, ``<p>senders``, ``<p>clicks``,
``<p>ratelimit``, ``<p>quarantine``, ``<p>requests``, ``<p>rdap``, ``<p>feedback``, ``<p>reports``,
``<p>urls<yyyymmdd>``; blob containers ``<p>-policies``, ``<p>-artefacts``, ``<p>-intel``; queues
``<p>-notifications``, ``<p>-delayed``
(+ ``-poison``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from connectors.storage.clicks import TableClickLog, TableRateLimiter
from connectors.storage.config import StorageConfig
from connectors.storage.feedback import TableFeedbackStore
from connectors.storage.journal import TableJournal
from connectors.storage.quarantine import TableQuarantineIndex
from connectors.storage.queues import StorageQueue
from connectors.storage.rdapcache import TableRdapCache
from connectors.storage.records import TableAuditStore, TableVerdictStore
from connectors.storage.release_requests import TableReleaseRequests
from connectors.storage.reports import TableReports
from connectors.storage.senders import TableSenderHistory
from connectors.storage.tables import TableStore
from connectors.storage.tenants import TableSubscriptionStore, TableTenantStore
from connectors.storage.urlindex import TableUrlIndex
from tap_core import lazy_exports

# The blob stores (and the blob SDK, which brings aiohttp) load when first used: a notification
# needs a table and a queue, never a blob (tests/test_cold_start.py).
if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from connectors.storage.artefacts import BlobArtefactStore
    from connectors.storage.intel import BlobIntelStore
    from connectors.storage.policies import BlobPolicyStore

__all__ = [
    "AzureStores", "BlobArtefactStore", "BlobIntelStore", "BlobPolicyStore", "StorageQueue",
    "TableAuditStore", "TableClickLog", "TableJournal", "TableQuarantineIndex", "TableRateLimiter",
    "TableRdapCache", "TableReleaseRequests", "TableReports",
    "TableSenderHistory", "TableSubscriptionStore", "TableTenantStore", "TableUrlIndex", "TableVerdictStore",
    "get_stores",
]

__getattr__ = lazy_exports(__name__, {
    "BlobArtefactStore": "connectors.storage.artefacts",
    "BlobIntelStore": "connectors.storage.intel",
    "BlobPolicyStore": "connectors.storage.policies",
})


@dataclass(frozen=True)
class AzureStores:
    config: StorageConfig
    journal: TableJournal
    verdicts: TableVerdictStore
    audit: TableAuditStore
    tenants: TableTenantStore
    subscriptions: TableSubscriptionStore
    senders: TableSenderHistory
    clicks: TableClickLog
    rate_limiter: TableRateLimiter
    quarantine: TableQuarantineIndex
    #: Release requests from people and the daily digests sent (connectors/service/digests.py).
    requests: TableReleaseRequests
    #: RDAP answers per registered domain, shared by every tenant (connectors/rdap).
    rdap: TableRdapCache
    #: False positives people reported from the console, for the detection engine's feedback.
    feedback: TableFeedbackStore
    #: The triage list of user-reported messages (connectors/service/reports.py).
    reports: TableReports
    urls: TableUrlIndex
    notifications: StorageQueue
    delayed: StorageQueue

    @classmethod
    def open(cls, config: StorageConfig, *, create: bool = True) -> AzureStores:
        """Build every store; ``create`` makes missing tables, containers and queues (idempotent)."""
        tables, queues = config.table_service(), config.queue_service()
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
            senders=TableSenderHistory(table("senders")),
            clicks=TableClickLog(table("clicks")),
            rate_limiter=TableRateLimiter(table("ratelimit")),
            quarantine=TableQuarantineIndex(table("quarantine")),
            requests=TableReleaseRequests(table("requests")),
            rdap=TableRdapCache(table("rdap")),
            feedback=TableFeedbackStore(table("feedback")),
            reports=TableReports(table("reports")),
            urls=TableUrlIndex(tables, config.prefix),
            notifications=StorageQueue(queues, config.notifications_queue, max_dequeue_count=max_dequeue),
            delayed=StorageQueue(queues, config.delayed_queue, max_dequeue_count=max_dequeue),
        )
        if create:
            stores.ensure()
        return stores

    # cached_property writes the instance's __dict__ directly, which a frozen dataclass allows.
    @cached_property
    def _blobs(self) -> BlobServiceClient:
        return self.config.blob_service()

    @cached_property
    def policies(self) -> BlobPolicyStore:
        from connectors.storage.policies import BlobPolicyStore

        return BlobPolicyStore(self._blobs, self.config.container_name("policies"))

    @cached_property
    def artefacts(self) -> BlobArtefactStore:
        from connectors.storage.artefacts import BlobArtefactStore

        return BlobArtefactStore(self._blobs, self.config.container_name("artefacts"),
                                 max_bytes=self.config.max_artefact_bytes)

    @cached_property
    def intel(self) -> BlobIntelStore:
        from connectors.storage.intel import BlobIntelStore

        return BlobIntelStore(self._blobs, self.config.container_name("intel"))

    def ensure(self) -> None:
        for store in (self.journal, self.verdicts, self.audit, self.tenants, self.subscriptions,
                      self.policies, self.senders, self.clicks, self.rate_limiter, self.quarantine,
                      self.requests, self.rdap, self.feedback, self.reports, self.urls, self.notifications,
                      self.delayed,
                      self.artefacts, self.intel):
            store.ensure()

    def __repr__(self) -> str:
        return f"AzureStores({self.config.describe()})"


@lru_cache(maxsize=1)
def get_stores() -> AzureStores:
    """The process-wide stores from the environment, opened once (Functions reuse the worker)."""
    return AzureStores.open(StorageConfig.from_env())
