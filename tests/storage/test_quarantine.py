"""Quarantine index against Azurite: list, get, status changes, conflicting changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import ConcurrencyError, QuarantineEntry, QuarantineIndex, QuarantineStatus

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _entry(i: int, status: QuarantineStatus = QuarantineStatus.QUARANTINED) -> QuarantineEntry:
    return QuarantineEntry("contoso", "Ann@Contoso.com", f"AAMk/{i}=", "hidden-q", "inbox",
                           "malicious URL", T0 + timedelta(minutes=i), status, subject=f"s{i}",
                           sender="x@evil.example")


def test_protocol(stores: AzureStores) -> None:
    assert isinstance(stores.quarantine, QuarantineIndex)


def test_list_get_and_status_changes(stores: AzureStores) -> None:
    q = stores.quarantine
    for i in range(3):
        q.put(_entry(i))
    q.put(_entry(3, QuarantineStatus.HELD))
    got = q.get("contoso", "ann@contoso.com", "AAMk/1=")
    assert got is not None and got.subject == "s1" and got.status is QuarantineStatus.QUARANTINED
    assert [e.message_id for e in q.list("contoso")] == ["AAMk/3=", "AAMk/2=", "AAMk/1=", "AAMk/0="]
    assert [e.message_id for e in q.list("contoso", status=QuarantineStatus.HELD)] == ["AAMk/3="]
    assert len(q.list("contoso", since=T0 + timedelta(minutes=2))) == 2

    released = q.update_status("contoso", "ann@contoso.com", "AAMk/1=", QuarantineStatus.RELEASED,
                               by="admin@contoso.com", folder_id="inbox")
    assert released.status is QuarantineStatus.RELEASED and released.folder_id == "inbox"
    assert released.updated_by == "admin@contoso.com"
    # The listing row changed with the entry (one transaction).
    listed = {e.message_id: e for e in q.list("contoso")}
    assert listed["AAMk/1="].status is QuarantineStatus.RELEASED
    assert [e.message_id for e in q.list("contoso", status=QuarantineStatus.RELEASED)] == ["AAMk/1="]
    with pytest.raises(KeyError, match="no quarantine entry"):
        q.update_status("contoso", "ann@contoso.com", "nope", QuarantineStatus.DELETED, by="x")


def test_concurrent_status_change_is_refused(stores: AzureStores, monkeypatch: pytest.MonkeyPatch) -> None:
    q = stores.quarantine
    q.put(_entry(0))
    real_read = q._store.read
    stale = real_read("contoso", "e|ann@contoso.com|AAMk%2F0=")
    assert stale is not None
    q.update_status("contoso", "ann@contoso.com", "AAMk/0=", QuarantineStatus.RELEASED, by="admin1")
    # admin2 acts on what it read before admin1's change.
    monkeypatch.setattr(q._store, "read", lambda p, r: stale)
    with pytest.raises(ConcurrencyError, match="re-read"):
        q.update_status("contoso", "ann@contoso.com", "AAMk/0=", QuarantineStatus.DELETED, by="admin2")
    monkeypatch.undo()
    entry = q.get("contoso", "ann@contoso.com", "AAMk/0=")
    assert entry is not None and entry.status is QuarantineStatus.RELEASED
    assert {e.status for e in q.list("contoso")} == {QuarantineStatus.RELEASED}


def test_requarantine_at_a_new_time_moves_the_listing_row(stores: AzureStores) -> None:
    q = stores.quarantine
    q.put(_entry(0))
    q.put(_entry(1))
    later = _entry(0)
    q.put(QuarantineEntry(later.tenant_id, later.mailbox, later.message_id, later.folder_id,
                          later.original_folder_id, "sandbox: malicious", T0 + timedelta(minutes=9)))
    listed = q.list("contoso")
    assert [(e.message_id, e.reason) for e in listed] == [("AAMk/0=", "sandbox: malicious"),
                                                          ("AAMk/1=", "malicious URL")]


def test_each_notice_is_recorded_once(stores: AzureStores) -> None:
    q = stores.quarantine
    q.put(_entry(1, QuarantineStatus.HELD))
    assert q.mark_once("contoso", "ann@contoso.com", "AAMk/1=", "alerted") is True
    assert q.mark_once("contoso", "ann@contoso.com", "AAMk/1=", "alerted") is False
    assert q.mark_once("contoso", "ann@contoso.com", "AAMk/1=", "noticed") is True
    got = q.get("contoso", "ann@contoso.com", "AAMk/1=")
    assert got is not None and got.alerted_at is not None and got.noticed_at is not None
    listed = q.list("contoso", status=QuarantineStatus.HELD)
    assert listed[0].alerted_at == got.alerted_at  # the listing row carries it too
    # A status change keeps the notices given.
    q.update_status("contoso", "ann@contoso.com", "AAMk/1=", QuarantineStatus.RELEASED, by="admin")
    assert q.mark_once("contoso", "ann@contoso.com", "AAMk/1=", "alerted") is False
    assert q.mark_once("contoso", "ann@contoso.com", "AAMk/404=", "alerted") is False
    with pytest.raises(ValueError, match="unknown notice"):
        q.mark_once("contoso", "ann@contoso.com", "AAMk/1=", "shouted")
