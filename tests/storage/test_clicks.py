"""Click log and per-link rate limit against Azurite."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import ClickLog, ClickRecord, RateLimiter

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_protocols(stores: AzureStores) -> None:
    assert isinstance(stores.clicks, ClickLog)
    assert isinstance(stores.rate_limiter, RateLimiter)


def test_click_log_newest_first(stores: AzureStores) -> None:
    for i in range(3):
        stores.clicks.append(ClickRecord(
            "contoso", "ann@contoso.com", f"https://example.com/a?x={i}#frag", "suspicious", "warn",
            T0 + timedelta(minutes=i), reasons=("new domain",), user_agent="Mozilla/5.0",
            client_ip="203.0.113.9", is_scanner=i == 0, link_id=f"l{i}",
        ))
    clicks = stores.clicks.list_clicks("contoso", since=T0)
    assert [c.url for c in clicks] == [f"https://example.com/a?x={i}#frag" for i in (2, 1, 0)]
    assert clicks[-1].is_scanner and not clicks[0].is_scanner
    assert clicks[0].reasons == ("new domain",) and clicks[0].client_ip == "203.0.113.9"
    assert len(stores.clicks.list_clicks("contoso", since=T0 + timedelta(minutes=1))) == 2
    assert stores.clicks.list_clicks("fabrikam", since=T0) == []


def test_rate_limit_fixed_window(stores: AzureStores) -> None:
    rl = stores.rate_limiter
    window_start = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
    hits = [rl.hit("link-1", 60, 3, now=window_start + timedelta(seconds=s)) for s in (0, 1, 2, 3)]
    assert hits == [True, True, True, False]
    assert rl.hit("link-2", 60, 3, now=window_start)  # per link
    assert rl.hit("link-1", 60, 3, now=window_start + timedelta(seconds=60))  # next window resets
    assert not rl.hit("link-3", 60, 0, now=window_start)


def test_rate_limit_counts_concurrent_hits_exactly(stores: AzureStores) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(8)
    at = datetime.now(UTC)

    def click() -> None:
        barrier.wait()
        results.append(stores.rate_limiter.hit("hot-link", 3600, 5, now=at))

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # ETag-conditional increments: no lost update, no over-admission.
    assert results.count(True) == 5
