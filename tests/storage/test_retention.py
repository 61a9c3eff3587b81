"""Retention on Azurite: the daily cleanup deletes rows older than their window in every table
and keeps newer ones (verdicts, clicks, audit, sender history, click counters, journal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.graph.config import GraphSettings
from connectors.service.retention import run_retention
from connectors.service.runtime import Runtime
from connectors.settings import Settings
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from connectors.storage.interfaces import AuditRecord, ClickRecord, VerdictRecord

T = "contoso"
NOW = datetime.now(UTC)


def test_verdicts_older_than_the_window_go_newer_stay(stores: AzureStores) -> None:
    stores.verdicts.put_verdict(T, "old", VerdictRecord("old", NOW - timedelta(days=100), "clean", "deliver"))
    stores.verdicts.put_verdict(T, "new", VerdictRecord("new", NOW - timedelta(days=10), "clean", "deliver"))
    assert stores.verdicts.cleanup(NOW - timedelta(days=90)) == 2  # both rows of the old one
    assert stores.verdicts.get_verdict(T, "old") is None
    assert stores.verdicts.get_verdict(T, "new") is not None
    listed = stores.verdicts.list_verdicts(T, NOW - timedelta(days=365))
    assert [v.message_id for v in listed] == ["new"]


def test_clicks_and_audit_older_than_the_window_go(stores: AzureStores) -> None:
    for days in (100, 10):
        stores.clicks.append(ClickRecord(T, "ann@contoso.example", f"https://x.example/{days}", "clean",
                                         "redirect", NOW - timedelta(days=days)))
        stores.audit.append(T, AuditRecord("admin", "release", f"m{days}", "test", NOW - timedelta(days=days)))
    assert stores.clicks.cleanup(NOW - timedelta(days=90)) == 1
    assert stores.audit.cleanup(NOW - timedelta(days=90)) == 1
    since = NOW - timedelta(days=365)
    assert [c.url for c in stores.clicks.list_clicks(T, since)] == ["https://x.example/10"]
    assert [a.target for a in stores.audit.list_audit(T, since)] == ["m10"]


def test_senders_last_seen_before_the_window_go(stores: AzureStores) -> None:
    senders = stores.senders
    senders.record(T, "gone@partner.example", ["ann@contoso.example"], NOW - timedelta(days=120))
    senders.record(T, "kept@other.example", ["ann@contoso.example"], NOW - timedelta(days=120))
    senders.record(T, "kept@other.example", ["bob@contoso.example"], NOW - timedelta(days=5))  # seen again
    removed = senders.cleanup(NOW - timedelta(days=90))
    # gone: address, domain, pair; kept: its first pair (ann) only, not seen since
    assert removed == 4
    assert senders.first_seen(T, "gone@partner.example") is None
    assert senders.first_seen_domain(T, "partner.example") is None
    assert senders.first_seen(T, "kept@other.example") == NOW - timedelta(days=120)  # history kept
    assert senders.has_corresponded(T, "bob@contoso.example", "kept@other.example")
    assert not senders.has_corresponded(T, "ann@contoso.example", "kept@other.example")


def test_click_counters_of_past_windows_go(stores: AzureStores) -> None:
    assert stores.rate_limiter.hit("old-link", 60, 5, now=NOW - timedelta(days=3))
    assert stores.rate_limiter.hit("new-link", 60, 5, now=NOW)
    assert stores.rate_limiter.cleanup(NOW - timedelta(days=1)) == 1


def test_the_daily_cleanup_covers_every_table(storage_config: StorageConfig, tmp_path: Path) -> None:
    runtime = Runtime.create(Settings(state_dir=tmp_path, retention_days=30, audit_retention_days=180,
                                      sender_history_days=60),
                             graph_settings=GraphSettings(client_id="retention-test", client_secret="unused"),
                             storage=storage_config)
    stores = runtime.stores
    claim = stores.journal.claim(T, "done-message", "w1", 60)
    assert claim is not None
    stores.journal.record_step(claim, "done")
    stores.verdicts.put_verdict(T, "v", VerdictRecord("v", NOW - timedelta(days=40), "clean", "deliver"))
    stores.clicks.append(ClickRecord(T, "ann@contoso.example", "https://x.example/", "clean", "redirect",
                                     NOW - timedelta(days=40)))
    stores.audit.append(T, AuditRecord("admin", "release", "a40", "kept: audit keeps 180 days",
                                       NOW - timedelta(days=40)))
    stores.senders.record(T, "s@partner.example", [], NOW - timedelta(days=70))

    # A day later the finished journal entry is kept (a late Graph retry must find it).
    assert run_retention(runtime, now=NOW + timedelta(days=1))["journal"] == 0
    removed = run_retention(runtime, now=NOW + timedelta(days=31))
    assert removed["journal"] == 1 and stores.journal.get(T, "done-message") is None
    assert removed["verdicts"] == 0 and removed["clicks"] == 0  # already gone on the first run
    assert stores.verdicts.get_verdict(T, "v") is None
    assert stores.clicks.list_clicks(T, NOW - timedelta(days=365)) == []
    assert [a.target for a in stores.audit.list_audit(T, NOW - timedelta(days=365))] == ["a40"]
    assert stores.senders.first_seen(T, "s@partner.example") is None
    assert all(count >= 0 for count in removed.values()), removed  # no store failed


def test_false_positive_reports_are_kept_as_long_as_the_audit(stores: AzureStores, tmp_path: Path) -> None:
    from connectors.storage.feedback import FalsePositive

    old = FalsePositive(T, "ann@contoso.example", "m-old", "admin@contoso.example", NOW - timedelta(days=200))
    recent = FalsePositive(T, "ann@contoso.example", "m-new", "admin@contoso.example", NOW - timedelta(days=40))
    assert stores.feedback.report(old)[1] and stores.feedback.report(recent)[1]
    assert stores.feedback.cleanup(NOW - timedelta(days=180)) == 1
    assert stores.feedback.get(T, "ann@contoso.example", "m-old") is None
    assert stores.feedback.get(T, "ann@contoso.example", "m-new") is not None
