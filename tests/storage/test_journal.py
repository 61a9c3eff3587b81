"""Idempotency journal against Azurite: one winner, resume, stale takeover, never redo."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from connectors.storage import _keys
from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from connectors.storage.interfaces import IdempotencyJournal, LeaseLost

TENANT = "contoso"
MSG = "AAkALgAAAAAAHYQDEapmEc2byACqAC/EWg0A+yf=="  # immutable ids contain '/', '+', '='


def _shift_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = _keys.now()
    monkeypatch.setattr(_keys, "now", lambda: real + timedelta(seconds=seconds))


def test_is_a_journal(stores: AzureStores) -> None:
    assert isinstance(stores.journal, IdempotencyJournal)


def test_concurrent_claims_exactly_one_wins(stores: AzureStores) -> None:
    for round_ in range(5):
        barrier = threading.Barrier(4)
        results: dict[str, object] = {}

        def worker(name: str, message: str, barrier: threading.Barrier, results: dict[str, object]) -> None:
            barrier.wait()
            results[name] = stores.journal.claim(TENANT, message, name, 60)

        threads = [threading.Thread(target=worker, args=(f"w{i}", f"{MSG}-{round_}", barrier, results))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [name for name, claim in results.items() if claim is not None]
        assert len(winners) == 1, results


def test_live_lease_blocks_others_and_done_is_never_redone(stores: AzureStores) -> None:
    claim = stores.journal.claim(TENANT, MSG, "w1", 60)
    assert claim is not None and claim.step == "claimed" and claim.attempt == 1
    assert stores.journal.claim(TENANT, MSG, "w2", 60) is None
    claim = stores.journal.record_step(claim, "fetched", {"internet_message_id": "<a@b>"})
    claim = stores.journal.record_step(claim, "decided", {"action": "quarantine"})
    claim = stores.journal.record_step(claim, "moved", {"folder_id": "hidden-q", "new_id": MSG})
    claim = stores.journal.record_step(claim, "done")
    entry = stores.journal.get(TENANT, MSG)
    assert entry is not None and entry.done
    assert entry.data["moved"] == {"folder_id": "hidden-q", "new_id": MSG}
    assert stores.journal.claim(TENANT, MSG, "w1", 60) is None
    assert stores.journal.claim(TENANT, MSG, "w3", 60) is None


def test_resume_after_a_step_with_its_data(stores: AzureStores, monkeypatch: pytest.MonkeyPatch) -> None:
    claim = stores.journal.claim(TENANT, MSG, "w1", 30)
    assert claim is not None
    claim = stores.journal.record_step(claim, "fetched", {"size": 1234})
    stores.journal.record_step(claim, "decided", {"action": "tag", "reasons": ["newly observed sender"]})
    # w1 crashes; its lease runs out; the queue redelivers to w2.
    _shift_clock(monkeypatch, 31)
    resumed = stores.journal.claim(TENANT, MSG, "w2", 30)
    assert resumed is not None
    assert resumed.step == "decided" and resumed.attempt == 2
    assert resumed.data["decided"] == {"action": "tag", "reasons": ["newly observed sender"]}
    assert resumed.data["fetched"] == {"size": 1234}


def test_stale_lease_takeover_fences_the_old_worker(
    stores: AzureStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = stores.journal.claim(TENANT, MSG, "slow", 10)
    assert old is not None
    _shift_clock(monkeypatch, 11)
    new = stores.journal.claim(TENANT, MSG, "fast", 10)
    assert new is not None and new.worker_id == "fast"
    with pytest.raises(LeaseLost, match="taken over"):
        stores.journal.record_step(old, "fetched")
    stores.journal.record_step(new, "fetched")
    entry = stores.journal.get(TENANT, MSG)
    assert entry is not None and entry.worker_id == "fast" and entry.step == "fetched"


def test_concurrent_takeover_of_a_stale_lease_has_one_winner(
    stores: AzureStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stores.journal.claim(TENANT, MSG, "crashed", 5) is not None
    _shift_clock(monkeypatch, 6)
    barrier = threading.Barrier(3)
    results: list[object] = []

    def worker(name: str) -> None:
        barrier.wait()
        results.append(stores.journal.claim(TENANT, MSG, name, 60))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1


def test_etag_conflict_when_the_same_claim_is_used_twice(stores: AzureStores) -> None:
    claim = stores.journal.claim(TENANT, MSG, "w1", 60)
    assert claim is not None
    stores.journal.record_step(claim, "fetched")
    with pytest.raises(LeaseLost):  # a stale Claim object (old ETag) cannot write
        stores.journal.record_step(claim, "decided")


def test_release_lets_a_retry_take_over_at_once(stores: AzureStores) -> None:
    claim = stores.journal.claim(TENANT, MSG, "w1", 600)
    assert claim is not None
    claim = stores.journal.record_step(claim, "fetched")
    stores.journal.release(claim)
    again = stores.journal.claim(TENANT, MSG, "w2", 600)
    assert again is not None and again.step == "fetched"


def test_one_process_two_attempts_never_share_a_claim(stores: AzureStores) -> None:
    # Same worker label (one host, one process): the second attempt still waits for the lease.
    first = stores.journal.claim(TENANT, MSG, "host:42", 600)
    assert first is not None and first.token
    first = stores.journal.record_step(first, "decided", {"action": "deliver"})
    assert stores.journal.claim(TENANT, MSG, "host:42", 600) is None
    stores.journal.release(first)
    second = stores.journal.claim(TENANT, MSG, "host:42", 600)
    assert second is not None and second.token != first.token and second.attempt == 2
    # The first attempt's claim is dead: it can neither write nor give the new lease away.
    with pytest.raises(LeaseLost):
        stores.journal.record_step(first, "body_patched")
    stores.journal.release(first)
    assert stores.journal.claim(TENANT, MSG, "host:42", 600) is None
    stores.journal.record_step(second, "body_patched")


def test_steps_only_go_forward(stores: AzureStores) -> None:
    claim = stores.journal.claim(TENANT, MSG, "w1", 60)
    assert claim is not None
    claim = stores.journal.record_step(claim, "decided")
    with pytest.raises(ValueError, match="only go forward"):
        stores.journal.record_step(claim, "fetched")
    with pytest.raises(ValueError, match="unknown journal step"):
        stores.journal.record_step(claim, "teleported")
    with pytest.raises(ValueError, match="table property"):
        stores.journal.record_step(claim, "moved", {"blob": "x" * 40_000})


def test_tenants_are_separate(stores: AzureStores) -> None:
    assert stores.journal.claim("tenant-a", MSG, "w1", 60) is not None
    assert stores.journal.claim("tenant-b", MSG, "w2", 60) is not None
    assert stores.journal.get("tenant-c", MSG) is None


def test_cleanup_removes_only_old_finished_entries(stores: AzureStores) -> None:
    done = stores.journal.claim(TENANT, "finished", "w1", 60)
    assert done is not None
    stores.journal.record_step(done, "done")
    assert stores.journal.claim(TENANT, "in-progress", "w1", 60) is not None
    assert stores.journal.cleanup(older_than=_keys.now() - timedelta(hours=1)) == 0
    assert stores.journal.cleanup(older_than=_keys.now() + timedelta(seconds=1)) == 1
    assert stores.journal.get(TENANT, "finished") is None
    assert stores.journal.get(TENANT, "in-progress") is not None


def test_missing_table_says_what_to_do(storage_config: StorageConfig) -> None:
    stores = AzureStores.open(storage_config, create=False)
    with pytest.raises(RuntimeError, match=r"AzureStores.open\(config\)"):
        stores.journal.claim(TENANT, MSG, "w1", 60)
