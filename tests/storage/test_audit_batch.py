"""Several audit records of one message in one transaction (Azurite): kept like single appends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import AuditRecord

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _record(i: int) -> AuditRecord:
    return AuditRecord("system", "categorized", f"ann@contoso.com/m{i}", f"reason {i}",
                       T0 + timedelta(seconds=i), {"n": i})


def test_a_batch_is_listed_as_single_appends_are(stores: AzureStores) -> None:
    stored = stores.audit.append_all("contoso", [_record(0), _record(1), _record(1)])
    assert len({r.record_id for r in stored}) == 3 and all(r.record_id for r in stored)
    listed = stores.audit.list_audit("contoso", since=T0)
    assert [(r.target, r.reason, dict(r.details)) for r in listed] == [
        ("ann@contoso.com/m1", "reason 1", {"n": 1}), ("ann@contoso.com/m1", "reason 1", {"n": 1}),
        ("ann@contoso.com/m0", "reason 0", {"n": 0}),
    ]
    assert {r.record_id for r in listed} == {r.record_id for r in stored}
    assert stores.audit.list_audit("fabrikam", since=T0) == []


def test_more_than_one_transaction_holds(stores: AzureStores) -> None:
    stored = stores.audit.append_all("contoso", [_record(i) for i in range(105)])  # 100 per transaction
    assert len(stored) == 105
    assert len(stores.audit.list_audit("contoso", since=T0, limit=200)) == 105


def test_naive_times_are_refused(stores: AzureStores) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        stores.audit.append_all("contoso", [AuditRecord("system", "x", "y", "z", datetime(2026, 1, 1))])
