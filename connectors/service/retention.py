"""Retention: the daily cleanup deletes what is older than its window, in every table.

Windows (settings; defaults follow Microsoft Defender for Office 365 and Purview, which keep
detections and Safe Links clicks 30-90 days and the standard audit log 180 days):

- verdicts, clicks, finished journal entries: ``TAP365_RETENTION_DAYS`` (90)
- audit trail: ``TAP365_AUDIT_RETENTION_DAYS`` (180)
- sender history: ``TAP365_SENDER_HISTORY_DAYS`` (90) since the sender was last seen
- URL index day tables: the post-delivery purge's look-back (``TAP365_PURGE_LOOKBACK_HOURS``)
- per-link click counters: a day after their window (they only count the current one)
- release requests and the record of digests sent: ``TAP365_RETENTION_DAYS`` since last changed
- user-reported messages (the triage list): ``TAP365_RETENTION_DAYS`` since last reported
- RDAP answers: once expired (each row carries its own TTL: ``TAP365_RDAP_CACHE_DAYS`` for dates,
  a day for not-found, ``TAP365_RDAP_NEGATIVE_CACHE_SECONDS`` for failures)

The journal keeps at least two days whatever the setting: Graph retries a notification for up
to 4 hours, and a deleted entry would let a late retry process its message again. Quarantine
entries are the quarantine store's to expire (its owner decides how long mail is held).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from connectors.service.runtime import Runtime

log = logging.getLogger("tap365.retention")
JOURNAL_MIN_DAYS = 2


def run_retention(runtime: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    """Delete expired rows everywhere; returns how many per store. One store failing does not
    stop the others (it is logged and counted as -1)."""
    now = now or datetime.now(UTC)
    settings, stores = runtime.settings, runtime.stores
    days = settings.retention_days
    jobs = {
        "journal": lambda: stores.journal.cleanup(now - timedelta(days=max(days, JOURNAL_MIN_DAYS))),
        "verdicts": lambda: stores.verdicts.cleanup(now - timedelta(days=days)),
        "clicks": lambda: stores.clicks.cleanup(now - timedelta(days=days)),
        "audit": lambda: stores.audit.cleanup(now - timedelta(days=settings.audit_retention_days)),
        "senders": lambda: stores.senders.cleanup(now - timedelta(days=settings.sender_history_days)),
        "ratelimit": lambda: stores.rate_limiter.cleanup(now - timedelta(days=1)),
        "requests": lambda: stores.requests.cleanup(now - timedelta(days=days)),
        "reports": lambda: stores.reports.cleanup(now - timedelta(days=days)),
        "rdap": lambda: stores.rdap.cleanup(now),
        # Training feedback is kept as long as the audit trail it is part of.
        "feedback": lambda: stores.feedback.cleanup(now - timedelta(days=settings.audit_retention_days)),
        "url_index_tables": lambda: stores.urls.cleanup(
            older_than_days=max(3, settings.purge_lookback_hours // 24 + 1)
        ),
    }
    removed: dict[str, int] = {}
    for name, job in jobs.items():
        try:
            removed[name] = job()
        except Exception:  # one table's trouble must not keep the others growing
            log.exception("retention of %s failed", name)
            removed[name] = -1
    return removed
