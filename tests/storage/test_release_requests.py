"""The release-request table on Azurite: one request per message, a decision taken once even when
many decide at the same moment, one digest per person and day across concurrent senders, keys
safe for any message id, tenants apart, and retention."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import ConcurrencyError
from connectors.storage.release_requests import MAX_REASON_CHARS, ReleaseRequest, RequestStatus

T = "contoso"
NOW = datetime.now(UTC)
MAILBOX = "Ann@Contoso.example"
MESSAGE = "AAMk/ad+x#y?z%|=="  # a Graph id holds characters table keys may not


def _request(message: str = MESSAGE, **values: object) -> ReleaseRequest:
    return ReleaseRequest(**{"tenant_id": T, "mailbox": MAILBOX, "message_id": message,  # type: ignore[arg-type]
                             "requested_by": MAILBOX, "requested_at": NOW, "reason": "expected", **values})


def test_one_request_per_message_and_the_first_one_stands(stores: AzureStores) -> None:
    first, created = stores.requests.create(_request())
    assert created and first.status is RequestStatus.PENDING and first.mailbox == MAILBOX.lower()
    again, created = stores.requests.create(_request(reason="second", requested_by="boss@contoso.example"))
    assert not created and again.reason == "expected" and again.requested_by == MAILBOX.lower()
    assert stores.requests.get(T, MAILBOX.upper(), MESSAGE) == again
    assert stores.requests.get("fabrikam", MAILBOX, MESSAGE) is None  # tenants apart
    assert stores.requests.list("fabrikam") == []
    long = stores.requests.create(_request("m2", reason="x" * 5000))[0]
    assert len(long.reason) == MAX_REASON_CHARS


def test_a_decision_is_taken_once_even_when_ten_decide_at_once(stores: AzureStores) -> None:
    stores.requests.create(_request())

    def decide(n: int) -> str:
        status = RequestStatus.APPROVED if n % 2 else RequestStatus.DENIED
        try:
            return stores.requests.decide(T, MAILBOX, MESSAGE, status, by=f"admin{n}@contoso.example").decided_by
        except ConcurrencyError:
            return ""

    with ThreadPoolExecutor(10) as pool:
        winners = [w for w in pool.map(decide, range(10)) if w]
    assert len(winners) == 1
    decided = stores.requests.get(T, MAILBOX, MESSAGE)
    assert decided is not None and decided.decided_by == winners[0] and decided.decided_at is not None
    with pytest.raises(ConcurrencyError):
        stores.requests.decide(T, MAILBOX, MESSAGE, RequestStatus.APPROVED, by="late@contoso.example")
    # Back to pending only from the state it is in (a failed release undone).
    reopened = stores.requests.decide(T, MAILBOX, MESSAGE, RequestStatus.PENDING, by="x", expect=decided.status)
    assert reopened.status is RequestStatus.PENDING
    assert [r.message_id for r in stores.requests.list(T, status=RequestStatus.PENDING)] == [MESSAGE]
    with pytest.raises(KeyError):
        stores.requests.decide(T, MAILBOX, "absent", RequestStatus.APPROVED, by="x")


def test_list_is_newest_first_filtered_by_status_and_limited(stores: AzureStores) -> None:
    for n in range(5):
        stores.requests.create(_request(f"m{n}", requested_at=NOW - timedelta(hours=n)))
    stores.requests.decide(T, MAILBOX, "m0", RequestStatus.DENIED, by="admin", reason="no")
    assert [r.message_id for r in stores.requests.list(T, status=RequestStatus.PENDING)] == ["m1", "m2", "m3", "m4"]
    assert len(stores.requests.list(T, limit=2)) == 2
    assert [r.message_id for r in stores.requests.list(T, status=RequestStatus.DENIED)] == ["m0"]


def test_one_digest_per_person_and_day_across_concurrent_senders(stores: AzureStores) -> None:
    today = date(2026, 5, 4)
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda _: stores.requests.mark_digest(T, MAILBOX, today, ["a", "b"]), range(8)))
    assert won.count(True) == 1
    assert stores.requests.digest(T, MAILBOX.lower(), today) == ("a", "b")
    assert stores.requests.mark_digest(T, MAILBOX, today + timedelta(days=1), ["c"])  # another day
    assert stores.requests.mark_digest(T, "bob@contoso.example", today, ["d"])  # another person
    assert stores.requests.mark_digest("fabrikam", MAILBOX, today, ["e"])  # another tenant
    assert stores.requests.digest(T, MAILBOX, date(2026, 5, 6)) is None
    # Requests and digest rows live in one partition: neither is listed as the other.
    assert stores.requests.list(T) == []


def test_retention_deletes_rows_last_changed_before_the_cutoff(stores: AzureStores) -> None:
    stores.requests.create(_request("old", requested_at=NOW - timedelta(days=100)))
    stores.requests.create(_request("recent", requested_at=NOW - timedelta(days=100)))
    stores.requests.decide(T, MAILBOX, "recent", RequestStatus.APPROVED, by="admin")  # changed today
    stores.requests.mark_digest(T, MAILBOX, date(2026, 1, 1), ["x"], now=NOW - timedelta(days=100))
    assert stores.requests.cleanup(NOW - timedelta(days=90)) == 2
    assert [r.message_id for r in stores.requests.list(T)] == ["recent"]
    assert stores.requests.digest(T, MAILBOX, date(2026, 1, 1)) is None
