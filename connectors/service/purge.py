"""Post-delivery purge: when intelligence changes, find delivered mail with a now-bad URL.

Delivered messages are indexed by the keys of their URLs (:func:`index_keys`): the URL in the
intelligence index's own key form, its host, its registered domain. A refresh that brings new
indicators turns each into the same key forms, finds the messages of the last 48 hours
(``TAP365_PURGE_LOOKBACK_HOURS``) that carry one, and moves them to the hidden quarantine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from connectors.service.campaigns import purge_id_of, quarantine_copies
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import UrlHit
from tap_core.parsing.domains import registered_domain
from tap_core.urls.feeds import IndicatorKind, ParsedFeed
from tap_core.urls.intel import url_key

log = logging.getLogger("tap365.purge")
_FIND_BATCH = 200


def index_keys(url: str) -> list[str]:
    """The keys a delivered URL is indexed under."""
    keys: list[str] = []
    key = url_key(url)
    if key:
        keys.append(f"url:{key}")
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        host = ""
    if host:
        keys.append(f"host:{host}")
        site = registered_domain(host)
        if site:
            keys.append(f"domain:{site}")
    return keys


def indicator_keys(feeds: Iterable[ParsedFeed]) -> set[str]:
    """The same key forms for every indicator of the feeds."""
    keys: set[str] = set()
    for feed in feeds:
        for kind, entries in feed.entries.items():
            for value in entries:
                if kind in (IndicatorKind.URL, IndicatorKind.URL_PREFIX):
                    key = url_key(value if "://" in value else f"http://{value}")
                    if key:
                        keys.add(f"url:{key}")
                elif kind in (IndicatorKind.HOST, IndicatorKind.DOMAIN):
                    keys.add(f"host:{value}")
                    if registered_domain(value) == value:
                        keys.add(f"domain:{value}")
    return keys


@dataclass
class PurgeResult:
    checked_keys: int = 0
    quarantined: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def purge(runtime: Runtime, new_keys: set[str], *, now: datetime | None = None) -> PurgeResult:
    """Quarantine delivered messages carrying any of ``new_keys`` (every tenant), through the
    campaign purge: once per message and key, skipping copies already quarantined or deleted."""
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=runtime.settings.purge_lookback_hours)
    result = PurgeResult(checked_keys=len(new_keys))
    keys = sorted(new_keys)
    stores = runtime.stores
    for tenant in stores.tenants.list_tenants():
        by_key: dict[str, list[UrlHit]] = {}
        for i in range(0, len(keys), _FIND_BATCH):
            for hit in stores.urls.find(tenant.tenant_id, keys[i : i + _FIND_BATCH], since):
                by_key.setdefault(hit.key, []).append(hit)
        for key, hits in by_key.items():
            outcome = await quarantine_copies(
                runtime, tenant.tenant_id, hits, purge_id=purge_id_of(key),
                reason=f"post-delivery purge: {key} is now known malicious", actor="system",
                action="post_delivery_purge",
            )
            result.quarantined += outcome.quarantined
            result.errors += outcome.errors
    return result
