"""Verdicts and audit against Azurite: newest first, since/limit, re-decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import AuditRecord, AuditStore, VerdictRecord, VerdictStore

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _verdict(message_id: str, minutes: int, verdict: str = "clean", action: str = "deliver") -> VerdictRecord:
    return VerdictRecord(message_id, T0 + timedelta(minutes=minutes), verdict, action,
                         mailbox="ann@contoso.com", sender="x@fabrikam.com", subject="Invoice",
                         reasons=("r1", "r2"), details={"score": 3})


def test_protocols(stores: AzureStores) -> None:
    assert isinstance(stores.verdicts, VerdictStore)
    assert isinstance(stores.audit, AuditStore)


def test_verdict_round_trip_and_listing_newest_first(stores: AzureStores) -> None:
    for i in (3, 1, 2, 0):
        stores.verdicts.put_verdict("contoso", f"m/{i}", _verdict(f"m/{i}", i))
    stores.verdicts.put_verdict("fabrikam", "other", _verdict("other", 9))
    got = stores.verdicts.get_verdict("contoso", "m/2")
    assert got == _verdict("m/2", 2)
    assert stores.verdicts.get_verdict("contoso", "missing") is None
    listed = stores.verdicts.list_verdicts("contoso", since=T0)
    assert [v.message_id for v in listed] == ["m/3", "m/2", "m/1", "m/0"]
    recent = stores.verdicts.list_verdicts("contoso", since=T0 + timedelta(minutes=2))
    assert [v.message_id for v in recent] == ["m/3", "m/2"]
    first_two = stores.verdicts.list_verdicts("contoso", since=T0, limit=2)
    assert [v.message_id for v in first_two] == ["m/3", "m/2"]


def test_redecision_replaces_the_verdict_and_its_listing_row(stores: AzureStores) -> None:
    stores.verdicts.put_verdict("contoso", "m1", _verdict("m1", 0))
    stores.verdicts.put_verdict("contoso", "m2", _verdict("m2", 1))
    # The sandbox verdict arrives later and changes the decision.
    stores.verdicts.put_verdict("contoso", "m1", _verdict("m1", 5, "malicious", "quarantine"))
    listed = stores.verdicts.list_verdicts("contoso", since=T0)
    assert [(v.message_id, v.verdict) for v in listed] == [("m1", "malicious"), ("m2", "clean")]


def test_audit_is_append_only_and_newest_first(stores: AzureStores) -> None:
    ids = []
    for i in range(4):
        record = AuditRecord("system", "quarantine", f"ann@contoso.com/m{i}", "malicious attachment",
                             T0 + timedelta(seconds=i), {"rule": "sandbox"})
        ids.append(stores.audit.append("contoso", record).record_id)
    # Two records at the very same instant are both kept.
    stores.audit.append("contoso", AuditRecord("admin@contoso.com", "release", "x", "false positive",
                                               T0 + timedelta(seconds=3)))
    assert len(set(ids)) == 4
    listed = stores.audit.list_audit("contoso", since=T0)
    assert len(listed) == 5
    assert [r.at for r in listed] == sorted((r.at for r in listed), reverse=True)
    assert listed[-1].target == "ann@contoso.com/m0" and listed[-1].details == {"rule": "sandbox"}
    assert len(stores.audit.list_audit("contoso", since=T0 + timedelta(seconds=2))) == 3
    assert len(stores.audit.list_audit("contoso", since=T0, limit=2)) == 2
    assert stores.audit.list_audit("fabrikam", since=T0) == []


def test_naive_times_are_refused(stores: AzureStores) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        stores.audit.append("contoso", AuditRecord("a", "b", "c", "d", datetime(2026, 1, 1)))
