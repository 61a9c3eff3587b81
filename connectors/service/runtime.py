"""The service's moving parts, built once per process from the environment.

``function_app.py`` asks :func:`get_runtime` for them; tests build a :class:`Runtime` with
their own settings (Azurite, m365sim) through :meth:`Runtime.create`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from connectors.attachment_engine import build_attachment_engine
from connectors.graph.client import GraphApp
from connectors.graph.config import GraphSettings
from connectors.graph.remediation import Remediator
from connectors.intel_feeds import read_feed_bytes
from connectors.keys import keyring_from_settings
from connectors.settings import Settings
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from tap_core.attachments import AttachmentEngine
from tap_core.pipeline import Pipeline, TenantContext
from tap_core.policy import Policy, PolicyError, parse_policy
from tap_core.urls.feeds import parse_feed
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec

log = logging.getLogger("tap365.runtime")
POLICY_TTL_SECONDS = 30.0


@dataclass
class Runtime:
    settings: Settings
    graph_settings: GraphSettings
    stores: AzureStores
    graph: GraphApp
    codec: LinkCodec
    engine: AttachmentEngine
    intel: IntelIndex | None = None
    #: Bumped whenever the intelligence index is replaced (post-delivery purge keys off it).
    intel_version: str = ""
    _intel_keys: set[str] = field(default_factory=set)
    _pipelines: dict[str, tuple[int, Pipeline]] = field(default_factory=dict)
    _policies: dict[str, tuple[float, Policy, int]] = field(default_factory=dict)
    #: Bumped by forget_policy: a load that began before it must not cache what it read.
    _policy_generation: dict[str, int] = field(default_factory=dict)
    _remediators: dict[str, Remediator] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        settings: Settings | None = None,
        *,
        graph_settings: GraphSettings | None = None,
        storage: StorageConfig | None = None,
    ) -> Runtime:
        settings = settings or Settings()
        graph_settings = graph_settings or GraphSettings()
        stores = AzureStores.open(storage or StorageConfig.from_env(), create=True)
        runtime = cls(
            settings=settings,
            graph_settings=graph_settings,
            stores=stores,
            graph=GraphApp(graph_settings),
            codec=LinkCodec(settings.redirect_base_url, keyring_from_settings(settings)),
            engine=build_attachment_engine(settings),
        )
        runtime.refresh_intel()
        return runtime

    # -- intelligence -----------------------------------------------------------------------------
    def refresh_intel(self) -> set[str]:
        """Reload the feeds when their bytes changed. Returns the keys of indicators that are new
        since the last load (the post-delivery purge looks for them); empty when nothing changed
        and on the first load (nothing was delivered under the new index yet)."""
        from connectors.service.purge import indicator_keys  # purge imports this module

        feeds = [f.strip() for f in self.settings.intel_feeds.split(",") if f.strip()]
        if not feeds:
            return set()
        blobs = [(f, read_feed_bytes(f)) for f in feeds]
        version = hashlib.sha256(b"".join(hashlib.sha256(d).digest() for _, d in blobs)).hexdigest()[:16]
        if version == self.intel_version:
            return set()
        parsed = [parse_feed(data, name=name.rsplit("/", 1)[-1] or name) for name, data in blobs]
        index = IntelIndex()
        for feed in parsed:
            index.add_feed(feed)
        keys = indicator_keys(parsed)
        first = not self.intel_version
        new_keys = set() if first else keys - self._intel_keys
        with self._lock:
            self.intel, self.intel_version, self._intel_keys = index, version, keys
            self._pipelines.clear()
        return new_keys

    # -- per tenant -------------------------------------------------------------------------------
    def policy(self, tenant_id: str) -> tuple[Policy, int]:
        """The tenant's policy (and its version); safe defaults when none is stored or it is bad.

        Read from storage at most every ``POLICY_TTL_SECONDS`` per tenant: a policy change takes
        effect within that time, and a message does not pay a blob read."""
        now = time.monotonic()
        cached = self._policies.get(tenant_id)
        if cached is not None and now - cached[0] < POLICY_TTL_SECONDS:
            return cached[1], cached[2]
        generation = self._policy_generation.get(tenant_id, 0)
        policy, version = self._load_policy(tenant_id)
        with self._lock:
            # A load that overlapped an admin change may have read the old document: use it for
            # this message, but do not keep it for the next 30 seconds.
            if self._policy_generation.get(tenant_id, 0) == generation:
                self._policies[tenant_id] = (now, policy, version)
        return policy, version

    def forget_policy(self, tenant_id: str) -> None:
        """Read the tenant's policy from storage again on next use (after an admin change)."""
        with self._lock:
            self._policy_generation[tenant_id] = self._policy_generation.get(tenant_id, 0) + 1
            self._policies.pop(tenant_id, None)

    def _load_policy(self, tenant_id: str) -> tuple[Policy, int]:
        doc = self.stores.policies.get_policy(tenant_id)
        if doc is None:
            return Policy(), 0
        try:
            return parse_policy(doc.document, name=f"policy of {tenant_id}"), doc.version
        except PolicyError as exc:
            log.error("stored policy unusable, using defaults: %s", exc)
            return Policy(), -1

    def pipeline(self, tenant_id: str) -> Pipeline:
        policy, version = self.policy(tenant_id)
        with self._lock:
            cached = self._pipelines.get(tenant_id)
            if cached and cached[0] == version:
                return cached[1]
            pipeline = Pipeline(
                policy,
                intel=self.intel,
                codec=self.codec,
                attachment_engine=self.engine,
                tenant=TenantContext(
                    tenant_id=tenant_id,
                    history=self.stores.senders,
                    banner_token=self.banner_token(tenant_id),
                ),
            )
            self._pipelines[tenant_id] = (version, pipeline)
            return pipeline

    def banner_token(self, tenant_id: str) -> str:
        key = self.codec.keyring.key(self.codec.keyring.current) or b""
        return hashlib.sha256(key + b"banner" + tenant_id.encode()).hexdigest()[:12]

    def remediator(self, tenant_id: str) -> Remediator:
        with self._lock:
            rem = self._remediators.get(tenant_id)
            if rem is None:
                rem = self._remediators[tenant_id] = Remediator(self.graph.tenant(tenant_id))
            return rem

    @cached_property
    def click_service(self) -> Any:
        """The redirector's decision service (verdict cache in memory, click log and rate limit in
        storage, time-of-click analysis through the safe fetcher)."""
        from connectors.click_service import ClickService, ClickSettings, MemoryVerdictCache, default_analyzer

        settings = ClickSettings()
        analyzer = default_analyzer(settings)
        analyzer.warm_up()
        return ClickService(
            self.codec,
            lambda tenant_id: self.policy(tenant_id)[0],
            MemoryVerdictCache(ttl_seconds=settings.click_verdict_ttl_seconds),
            lambda: self.intel,
            analyzer,
            self.stores.clicks,
            self.stores.rate_limiter,
            settings,
        )

    @cached_property
    def public_base_url(self) -> str:
        if self.settings.public_base_url:
            return self.settings.public_base_url.rstrip("/")
        base = self.settings.redirect_base_url.rstrip("/")
        return base[: -len("/api/r")] if base.endswith("/api/r") else base

    @property
    def notification_url(self) -> str:
        return f"{self.public_base_url}/api/graph/notifications"

    @property
    def lifecycle_url(self) -> str:
        return f"{self.public_base_url}/api/graph/lifecycle"


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process-wide runtime (built on first use from the environment)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.create()
        return _runtime


def reset_runtime() -> None:
    """Forget the process-wide runtime (tests, settings reload)."""
    global _runtime
    with _runtime_lock:
        _runtime = None
