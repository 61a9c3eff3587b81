"""The service's moving parts, built once per process from the environment.

``function_app.py`` asks :func:`get_runtime` for them; tests build a :class:`Runtime` with
their own settings (Azurite, m365sim) through :meth:`Runtime.create`.

Building a runtime touches no feed and no Graph: a cold instance answers notifications and
clicks at once. Intelligence is shared through storage (:mod:`connectors.storage.intel`): the
``refresh_intel`` timer downloads the feeds (a failing one falls back to its last good copy and
is recorded), builds the index once and publishes the version with it as one compact file; every
instance loads that file (one read, no feed parsed) on a background thread on first use, and
checks for a newer one at most every ``TAP365_INTEL_CHECK_SECONDS``. The tenant's users and
verified domains come from :class:`~connectors.graph.directory.GraphDirectory`, cached per tenant.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from connectors.graph.config import GraphSettings
from connectors.keys import keyring_from_settings
from connectors.settings import Settings
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from tap_core.urls.links import LinkCodec

# The Graph SDK, the attachment scanners, the mail pipeline, the policy model and the feed
# readers load on first use: a cold instance answers notifications and clicks without them
# (tests/test_cold_start.py).
if TYPE_CHECKING:
    from connectors.graph.client import GraphApp
    from connectors.graph.directory import GraphDirectory
    from connectors.graph.remediation import Remediator
    from connectors.intel_feeds import LoadedIntel
    from connectors.storage.intel import FeedStatus
    from tap_core.attachments import AttachmentEngine
    from tap_core.pipeline import Pipeline
    from tap_core.policy import Policy
    from tap_core.reputation.registration import DomainRegistry
    from tap_core.urls.intel import IntelIndex

log = logging.getLogger("tap365.runtime")
POLICY_TTL_SECONDS = 30.0
#: A cold instance's first message waits at most this long for intelligence to load (on its
#: background thread); a click waits less (the page must answer). After it, work goes on with
#: what is loaded, and the load completes for the next message.
INTEL_FIRST_LOAD_WAIT_SECONDS = 20.0
CLICK_INTEL_WAIT_SECONDS = 3.0


@dataclass
class Runtime:
    settings: Settings
    graph_settings: GraphSettings
    stores: AzureStores
    codec: LinkCodec
    intel: IntelIndex | None = None
    #: Bumped whenever the intelligence index is replaced (post-delivery purge keys off it).
    intel_version: str = ""
    #: Purge keys of the loaded version; None when it came from the compact file (which holds no
    #: feed): the timer reads them from the feed copies when it first needs them.
    _intel_keys: set[str] | None = None
    #: Per tenant: (policy version, internal domains), the intelligence it was built with, it.
    _pipelines: dict[str, tuple[tuple[int, tuple[str, ...]], IntelIndex | None, Pipeline]] = field(
        default_factory=dict
    )
    _policies: dict[str, tuple[float, Policy, int]] = field(default_factory=dict)
    #: Bumped by forget_policy: a load that began before it must not cache what it read.
    _policy_generation: dict[str, int] = field(default_factory=dict)
    _remediators: dict[str, Remediator] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _engine_lock: threading.Lock = field(default_factory=threading.Lock)
    #: Each feed's health as this instance last saw it (the stored copy is what status reports).
    feed_status: list[FeedStatus] = field(default_factory=list)
    #: Why the last background load failed ("" when it did not).
    intel_error: str = ""
    _intel_load_lock: threading.RLock = field(default_factory=threading.RLock)
    _intel_ready: threading.Event = field(default_factory=threading.Event)
    _intel_running: bool = False
    _intel_next_check: float = 0.0
    _default_policy: Policy | None = None
    _stores_ensured: bool = False
    _stores_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        settings: Settings | None = None,
        *,
        graph_settings: GraphSettings | None = None,
        storage: StorageConfig | None = None,
        ensure_stores: bool = True,
    ) -> Runtime:
        """``ensure_stores=False`` leaves creating the tables, containers and queues to
        :meth:`ensure_stores` (:func:`get_runtime` calls it for all but Graph's endpoints)."""
        settings = settings or Settings()
        graph_settings = graph_settings or GraphSettings()
        stores = AzureStores.open(storage or StorageConfig.from_env(), create=ensure_stores)
        # No feed is read here: a cold instance must answer at once, whatever the feeds do.
        return cls(
            settings=settings,
            graph_settings=graph_settings,
            stores=stores,
            codec=LinkCodec(settings.redirect_base_url, keyring_from_settings(settings)),
            _stores_ensured=ensure_stores,
        )

    def ensure_stores(self) -> None:
        """Create every table, container and queue that is missing: once per process (15 round
        trips, which a cold instance's first notification does not wait for)."""
        if self._stores_ensured:
            return
        with self._stores_lock:
            if not self._stores_ensured:
                self.stores.ensure()
                self._stores_ensured = True

    @cached_property
    def graph(self) -> GraphApp:
        from connectors.graph.client import GraphApp

        return GraphApp(self.graph_settings)

    @cached_property
    def engine(self) -> AttachmentEngine:
        """The attachment engine (YARA rules compiled, hash sets read): built on first use."""
        from connectors.attachment_engine import build_attachment_engine

        with self._engine_lock:  # two first messages at once build it once
            if "engine" not in self.__dict__:
                self.__dict__["engine"] = build_attachment_engine(self.settings)
        return self.__dict__["engine"]

    @cached_property
    def registry(self) -> DomainRegistry | None:
        """Registration dates by RDAP (``TAP365_RDAP_*``), cached in the shared ``rdap`` table;
        None unless ``TAP365_RDAP_ENABLED``. A bootstrap file that cannot be used raises
        :class:`connectors.rdap.BootstrapError` with the reason (a configuration error)."""
        if not self.settings.rdap_enabled:
            return None
        from connectors.rdap import build_registry

        with self._engine_lock:  # two first messages at once build one registry (one thread pool)
            if "registry" not in self.__dict__:
                self.__dict__["registry"] = build_registry(self.settings, self.stores.rdap)
        return self.__dict__["registry"]  # type: ignore[no-any-return]

    # -- intelligence -----------------------------------------------------------------------------
    def _feeds(self) -> list[str]:
        return [f.strip() for f in self.settings.intel_feeds.split(",") if f.strip()]

    def refresh_intel(self) -> set[str]:
        """The timer's job: read every feed from its source (a failing one falls back to its last
        good copy and is recorded, never raised), publish the version for every instance, and
        load it here. Returns the keys of indicators new since the version this instance (or,
        on a fresh instance, the previously published version) had: the post-delivery purge
        looks for them. Empty when nothing changed and on the very first load."""
        from connectors.intel_feeds import refresh_feeds
        from connectors.service.purge import indicator_keys  # purge imports this module

        feeds = self._feeds()
        if not feeds:
            return set()
        with self._intel_load_lock:
            if not self.intel_version or self._intel_keys is None:
                self._baseline_keys()  # the baseline the new keys are counted against
            had_baseline = bool(self.intel_version) and self._intel_keys is not None
            loaded = refresh_feeds(feeds, self.stores.intel)
            self.feed_status = loaded.statuses
            if not loaded.version or loaded.version == self.intel_version:
                return set()
            keys = indicator_keys(loaded.feeds)
            new_keys = keys - (self._intel_keys or set()) if had_baseline else set()
            self._install(loaded, keys)
            return new_keys

    def _baseline_keys(self) -> None:
        """The published version's purge keys, from its feed copies (the compact index holds no
        feed): the timer pays this parse once per instance; other instances never do."""
        from connectors.intel_feeds import load_published
        from connectors.service.purge import indicator_keys  # purge imports this module

        loaded = load_published(self.stores.intel, parse_feeds=True)
        if loaded is None:
            return
        keys = indicator_keys(loaded.feeds)
        if loaded.version == self.intel_version:
            self._intel_keys = keys
            return
        self.feed_status = loaded.statuses
        self._install(loaded, keys)

    def sync_intel(self) -> bool:
        """Load the published version when it differs from this instance's (one HEAD request
        when it does not); on a fresh deployment with nothing published, refresh the feeds.
        True when the index was replaced. Runs on the background thread; tests call it."""
        if not self._feeds():
            return False
        with self._intel_load_lock:
            published = self.stores.intel.current_version()
            if not published:
                before = self.intel_version
                self.refresh_intel()
                return self.intel_version != before
            if published == self.intel_version:
                return False
            return self._load_published()

    def _load_published(self) -> bool:
        from connectors.intel_feeds import load_published
        from connectors.service.purge import indicator_keys  # purge imports this module

        loaded = load_published(self.stores.intel)
        if loaded is None or loaded.version == self.intel_version:
            return False
        self.feed_status = loaded.statuses
        self._install(loaded, indicator_keys(loaded.feeds) if loaded.built is None else None)
        return True

    def _install(self, loaded: LoadedIntel, keys: set[str] | None) -> None:
        index = loaded.index()
        with self._lock:
            self.intel, self.intel_version, self._intel_keys = index, loaded.version, keys
            self._pipelines.clear()
        log.info("intelligence version %s loaded (%d feeds)", loaded.version, len(loaded.feeds))

    def current_intel(self, wait: float = 0.0) -> IntelIndex | None:
        """The intelligence index, checking for a newer published version at most every
        ``TAP365_INTEL_CHECK_SECONDS`` on a background thread (never on the caller's). A fresh
        instance waits up to ``wait`` seconds for its first load."""
        if not self._feeds():
            return self.intel
        now = time.monotonic()
        with self._lock:
            start = not self._intel_running and now >= self._intel_next_check
            if start:
                self._intel_running = True
                self._intel_next_check = now + self.settings.intel_check_seconds
        if start:
            threading.Thread(target=self._sync_in_background, name="tap365-intel", daemon=True).start()
        if wait > 0 and not self._intel_ready.is_set():
            self._intel_ready.wait(wait)
        return self.intel

    async def intel_loaded(self, wait: float) -> None:
        """Await (off the event loop) a fresh instance's first intelligence load, at most ``wait``
        seconds; at once when it is loaded or no feed is configured."""
        if self._feeds() and not self._intel_ready.is_set():
            await asyncio.to_thread(self.current_intel, wait)

    def _sync_in_background(self) -> None:
        from connectors.intel_feeds import PublishedChanged

        try:
            self.sync_intel()
            self.intel_error = ""
        except PublishedChanged as exc:
            log.info("%s: loading it on the next check", exc)
            with self._lock:
                self._intel_next_check = 0.0
        except Exception as exc:
            self.intel_error = f"{type(exc).__name__}: {exc}"
            log.error("intelligence not loaded (keeping version %r): %s", self.intel_version,
                      self.intel_error)
        finally:
            with self._lock:
                self._intel_running = False
            self._intel_ready.set()

    def intel_health(self) -> dict[str, Any]:
        """What doctor and the admin status report: the published version, this instance's, and
        each feed's last refresh (from storage, so any instance answers the same)."""
        try:
            published = self.stores.intel.current_version()
            feeds = [s.to_json() for s in self.stores.intel.get_status()]
        except Exception as exc:
            published, feeds = "", [{"error": f"intelligence status unreadable: {exc}"}]
        return {
            "configured": len(self._feeds()),
            "published_version": published,
            "loaded_version": self.intel_version,
            "load_error": self.intel_error,
            "feeds": feeds,
            "failing": sum(1 for f in feeds if not f.get("ok", False)),
        }

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

    def default_policy(self) -> Policy:
        """The policy of tenants with none stored: ``TAP365_POLICY_FILE``, else built-in defaults
        (a file that cannot be read or parsed is logged, and the built-in defaults apply)."""
        from tap_core.policy import Policy, PolicyError, parse_policy

        if self._default_policy is None:
            policy = Policy()
            path = self.settings.policy_file
            if path:
                try:
                    with open(path, "rb") as fh:
                        policy = parse_policy(fh.read(), name=path)
                except (OSError, PolicyError) as exc:
                    log.error("TAP365_POLICY_FILE unusable, using built-in defaults: %s", exc)
            self._default_policy = policy
        return self._default_policy

    def _load_policy(self, tenant_id: str) -> tuple[Policy, int]:
        from tap_core.policy import Policy, PolicyError, parse_policy

        doc = self.stores.policies.get_policy(tenant_id)
        if doc is None:
            return self.default_policy(), 0
        try:
            return parse_policy(doc.document, name=f"policy of {tenant_id}"), doc.version
        except PolicyError as exc:
            log.error("stored policy unusable, using defaults: %s", exc)
            return Policy(), -1

    @cached_property
    def directory(self) -> GraphDirectory:
        """The tenants' users (display-name check) and verified domains, cached per tenant."""
        from connectors.graph.directory import GraphDirectory

        refresh = self.settings.directory_refresh_minutes * 60.0
        return GraphDirectory(self.graph_settings, refresh_seconds=refresh)

    def internal_domains(self, tenant_id: str, policy: Policy) -> list[str]:
        """The policy's own internal domains, else the tenant's verified domains."""
        if policy.internal_domains:
            return list(policy.internal_domains)
        return list(self.directory.verified_domains(tenant_id))

    def pipeline(self, tenant_id: str) -> Pipeline:
        from tap_core.pipeline import Pipeline, TenantContext

        policy, version = self.policy(tenant_id)
        intel = self.current_intel(wait=INTEL_FIRST_LOAD_WAIT_SECONDS)
        domains = self.internal_domains(tenant_id, policy)
        if domains != policy.internal_domains:
            policy = policy.model_copy(update={"internal_domains": domains})
        key = (version, tuple(domains))
        engine = self.engine  # built on first use: not while holding the lock
        registry = self.registry
        with self._lock:
            cached = self._pipelines.get(tenant_id)
            if cached and cached[0] == key and cached[1] is self.intel:
                return cached[2]
            intel = self.intel  # a load may have finished since current_intel returned
            pipeline = Pipeline(
                policy,
                intel=intel,
                codec=self.codec,
                attachment_engine=engine,
                tenant=TenantContext(
                    tenant_id=tenant_id,
                    directory=self.directory,
                    history=self.stores.senders.within(self.settings.sender_history_days),
                    registry=registry,
                    banner_token=self.banner_token(tenant_id),
                ),
            )
            self._pipelines[tenant_id] = (key, intel, pipeline)
            return pipeline

    def banner_token(self, tenant_id: str) -> str:
        key = self.codec.keyring.key(self.codec.keyring.current) or b""
        return hashlib.sha256(key + b"banner" + tenant_id.encode()).hexdigest()[:12]

    def remediator(self, tenant_id: str) -> Remediator:
        from connectors.graph.remediation import Remediator

        with self._lock:
            rem = self._remediators.get(tenant_id)
            if rem is None:
                rem = self._remediators[tenant_id] = Remediator(self.graph.tenant(tenant_id))
            return rem

    @cached_property
    def click_service(self) -> Any:
        """The redirector's decision service (verdict cache in memory, click log and rate limit in
        storage, time-of-click analysis through the safe fetcher)."""
        from urllib.parse import urlsplit

        from connectors.click_service import (
            ClickService,
            ClickSettings,
            MemoryVerdictCache,
            default_analyzer,
            own_visit_token,
        )

        settings = ClickSettings()
        token = own_visit_token(self.codec)
        own_host = (urlsplit(self.settings.redirect_base_url).hostname or "").rstrip(".")
        # The mail pipeline's engine: a download is judged with the same hash sets, rules and
        # antivirus as the same file attached to a mail.
        analyzer = default_analyzer(settings, engine=self.engine, own_visit=(own_host, token))
        analyzer.warm_up()
        return ClickService(
            self.codec,
            lambda tenant_id: self.policy(tenant_id)[0],
            MemoryVerdictCache(ttl_seconds=settings.click_verdict_ttl_seconds),
            # Never waits here (the event loop): handle_click awaits the first load off the loop.
            self.current_intel,
            analyzer,
            self.stores.clicks,
            self.stores.rate_limiter,
            settings,
            own_visit_token=token,
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


def get_runtime(*, ensure_stores: bool = True) -> Runtime:
    """The process-wide runtime (built on first use from the environment), its stores created.

    ``ensure_stores=False`` is for Graph's notification and lifecycle endpoints, which must
    answer within 3 s and use one table (a subscription read: a missing table holds none) and
    the notifications queue (created by its first send when missing)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.create(ensure_stores=False)
        runtime = _runtime
    if ensure_stores:
        runtime.ensure_stores()
    return runtime


def reset_runtime() -> None:
    """Forget the process-wide runtime (tests, settings reload)."""
    global _runtime
    with _runtime_lock:
        _runtime = None
