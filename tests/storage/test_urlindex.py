"""URL index against Azurite: find messages delivered in the last 48 h; day tables cleaned up."""

from __future__ import annotations

from datetime import timedelta

from connectors.storage import _keys
from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import UrlIndex

URL = "https://login.evil.example/o365/?session=1#x"


def test_protocol(stores: AzureStores) -> None:
    assert isinstance(stores.urls, UrlIndex)


def test_find_within_48_hours(stores: AzureStores) -> None:
    now = _keys.now()
    idx = stores.urls
    keys = [URL, "login.evil.example", "evil.example"]
    idx.add("contoso", keys, "Ann@contoso.com", "m-recent", now - timedelta(hours=1))
    idx.add("contoso", keys, "bob@contoso.com", "m-yesterday", now - timedelta(hours=30))
    idx.add("contoso", keys, "bob@contoso.com", "m-old", now - timedelta(hours=50))
    idx.add("contoso", ["other.example"], "ann@contoso.com", "m-other", now - timedelta(hours=2))
    idx.add("fabrikam", keys, "eve@fabrikam.com", "m-fabrikam", now - timedelta(hours=1))
    idx.add("contoso", keys, "Ann@contoso.com", "m-recent", now - timedelta(hours=1))  # a retried add

    hits = idx.find("contoso", ["evil.example"], since=now - timedelta(hours=48))
    assert [(h.mailbox, h.message_id) for h in hits] == [("ann@contoso.com", "m-recent"),
                                                          ("bob@contoso.com", "m-yesterday")]
    assert hits[0].key == "evil.example"
    # Several keys, one message each (deduplicated), bounded by limit.
    both = idx.find("contoso", [URL, "other.example"], since=now - timedelta(hours=48))
    assert {h.message_id for h in both} == {"m-recent", "m-yesterday", "m-other"}
    assert len(idx.find("contoso", keys, since=now - timedelta(hours=48), limit=1)) == 1
    assert idx.find("contoso", ["unknown.example"], since=now - timedelta(hours=48)) == []


def test_cleanup_drops_old_day_tables(stores: AzureStores) -> None:
    now = _keys.now()
    idx = stores.urls
    idx.add("contoso", ["a.example"], "ann@contoso.com", "old", now - timedelta(days=10))
    idx.add("contoso", ["a.example"], "ann@contoso.com", "new", now - timedelta(hours=1))
    assert {h.message_id for h in idx.find("contoso", ["a.example"], since=now - timedelta(days=11))} == {
        "old", "new"}
    assert idx.cleanup(older_than_days=7) == 1
    assert idx.cleanup(older_than_days=7) == 0
    left = idx.find("contoso", ["a.example"], since=now - timedelta(days=11))
    assert [h.message_id for h in left] == ["new"]
