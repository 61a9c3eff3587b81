"""Idempotency journal on Azure Tables: at most one worker acts on a message, and a retry resumes.

One entity per (tenant, immutable message id), in its own partition so load spreads. Every
write is conditional: insert-if-absent to claim a new message, update-if-match (ETag) for
everything after, so two workers can never both believe they hold the lease.

State machine (``Step`` property)::

    (absent) --claim--> claimed --> fetched --> decided --> body_patched --> categorized
                                                   \\------------\\----------------\\--> moved --> done
    - steps only move forward; optional ones (body_patched, categorized, moved) may be skipped
    - each record_step stores that step's data (decision, new folder id, ...) and renews the lease
    - lease live                -> claim returns None (some attempt is working on it, even one
                                   of this same process: a claim belongs to one attempt)
    - lease expired             -> claim takes it over (Attempt + 1), resuming after ``Step``
    - release                   -> lease ends now, so the next retry takes over at once
    - done                      -> terminal: claim always returns None, never redone

``claim`` returning None means "do not act now"; call ``get``: a done entry means drop the queue
message, otherwise another worker holds a live lease, so let the message come back after
``entry.lease_until`` (it must not be deleted, or a crash of that worker would lose the mail).
Every claim carries a fresh random token (``Claim.token``, stored as ``Token``): ``worker_id`` is
only a label for people (host and process), and two attempts in one process are still two
owners. ``record_step`` and ``release`` are conditional on the claim's ETag and check its token,
so an attempt whose lease was taken over can write nothing. Leases compare against each worker's
clock, so keep leases well above clock skew (minutes, not seconds).

A worker that loses its lease (another took over after expiry) gets :class:`LeaseLost` from its
next ``record_step`` and must stop without touching the mailbox further.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from connectors.storage import _keys
from connectors.storage.interfaces import STEPS, Claim, JournalEntry, LeaseLost
from connectors.storage.tables import TableStore, as_utc, is_precondition_failed

_ROW = "journal"


class TableJournal:
    """:class:`~connectors.storage.interfaces.IdempotencyJournal` on an Azure table."""

    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def claim(self, tenant_id: str, message_id: str, worker_id: str, lease_seconds: int) -> Claim | None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive (how long a worker may hold a message)")
        partition = _keys.key(tenant_id, message_id)
        # Insert first, read only when the entry exists: a new message (the common case) costs one
        # round trip. An entry deleted between a failed insert and the read is inserted again.
        for _ in range(3):
            now = _keys.now()
            until = now + timedelta(seconds=lease_seconds)
            token = uuid.uuid4().hex  # this attempt's, never shared with another
            new = {
                "PartitionKey": partition, "RowKey": _ROW, "TenantId": tenant_id, "MessageId": message_id,
                "Step": "claimed", "Data": "{}", "Owner": worker_id, "Token": token, "LeaseUntil": until,
                "Attempt": 1,
                "CreatedAt": now, "UpdatedAt": now,
            }
            try:
                etag = self._store.insert(new)
            except ResourceExistsError:
                entity = self._store.read(partition, _ROW)
            else:
                return Claim(tenant_id, message_id, worker_id, "claimed", {}, until, lease_seconds, 1, etag,
                             token)
            if entity is None:
                continue
            if entity["Step"] == "done":
                return None
            if as_utc(entity["LeaseUntil"]) > now:
                return None  # a live lease belongs to one attempt, whoever asks (same process or not)
            # Stale or released lease: take it over conditionally.
            attempt = int(entity["Attempt"]) + 1
            entity.update(Owner=worker_id, Token=token, LeaseUntil=until, Attempt=attempt, UpdatedAt=now)
            try:
                etag = self._store.replace_if_match(entity, entity["_etag"])
            except HttpResponseError as error:
                if is_precondition_failed(error):
                    return None  # another worker took it over between our read and write
                raise
            return Claim(tenant_id, message_id, worker_id, entity["Step"], _keys.loads(entity["Data"]) or {},
                         until, lease_seconds, attempt, etag, token)
        return None

    def record_step(self, claim: Claim, step: str, data: Mapping[str, Any] | None = None) -> Claim:
        if step not in STEPS or step == "claimed":
            raise ValueError(f"unknown journal step {step!r}; use one of {', '.join(STEPS[1:])}")
        if STEPS.index(step) < STEPS.index(claim.step):
            raise ValueError(
                f"step {step!r} comes before the recorded step {claim.step!r}: steps only go forward"
            )
        merged = {**claim.data, step: dict(data or {})}
        now = _keys.now()
        until = now + timedelta(seconds=claim.lease_seconds)
        entity = {
            "PartitionKey": _keys.key(claim.tenant_id, claim.message_id), "RowKey": _ROW,
            "TenantId": claim.tenant_id, "MessageId": claim.message_id, "Step": step,
            "Data": _keys.dumps(merged, what=f"journal data up to step {step!r}"),
            "Owner": claim.worker_id, "Token": claim.token, "LeaseUntil": until, "Attempt": claim.attempt,
            "UpdatedAt": now,
        }
        if not claim.token:
            raise LeaseLost(self._lost(claim))  # a Claim this journal did not hand out
        try:
            etag = self._store.merge_if_match(entity, claim.etag)
        except HttpResponseError as error:
            if is_precondition_failed(error) or error.status_code == 404:  # 404: cleaned up meanwhile
                raise LeaseLost(self._lost(claim)) from None
            raise
        return Claim(claim.tenant_id, claim.message_id, claim.worker_id, step, merged, until,
                     claim.lease_seconds, claim.attempt, etag, claim.token)

    def release(self, claim: Claim) -> None:
        partition = _keys.key(claim.tenant_id, claim.message_id)
        current = self._store.read(partition, _ROW)
        # The token says whose lease it is: any Claim of this attempt releases it (an earlier one
        # too, whose ETag later steps changed); the write is conditional on what was just read,
        # so a takeover in between is never undone.
        ours = current is not None and bool(claim.token) and current.get("Token") == claim.token
        if current is None or not ours or current["Step"] == "done":
            return  # nothing of ours to release
        current.update(LeaseUntil=_keys.now() - timedelta(seconds=1), UpdatedAt=_keys.now())
        try:
            self._store.replace_if_match(current, current["_etag"])
        except HttpResponseError as error:
            if not is_precondition_failed(error):
                raise

    def get(self, tenant_id: str, message_id: str) -> JournalEntry | None:
        entity = self._store.read(_keys.key(tenant_id, message_id), _ROW)
        if entity is None:
            return None
        return JournalEntry(
            tenant_id, message_id, entity["Step"], _keys.loads(entity["Data"]) or {}, entity["Owner"],
            as_utc(entity["LeaseUntil"]), int(entity["Attempt"]), as_utc(entity["CreatedAt"]),
            as_utc(entity["UpdatedAt"]),
        )

    def cleanup(self, older_than: datetime) -> int:
        """Delete finished entries last updated before ``older_than`` (a timer's job).

        Keep at least a day: Graph retries a notification for up to 4 hours, and a deleted entry
        would let such a late retry process the message again. Unfinished entries are kept.
        """
        stale = self._store.query(
            "Step eq @done and UpdatedAt lt @t", {"done": "done", "t": _keys.utc(older_than)},
            select=["PartitionKey", "RowKey"],
        )
        count = 0
        for entity in stale:
            try:
                self._store.delete(entity["PartitionKey"], entity["RowKey"], etag=entity["_etag"] or None)
            except ResourceNotFoundError:
                continue
            except HttpResponseError as error:
                if is_precondition_failed(error):
                    continue  # changed since the query: leave it
                raise
            count += 1
        return count

    @staticmethod
    def _lost(claim: Claim) -> str:
        return (
            f"lease on message {claim.message_id!r} (tenant {claim.tenant_id!r}) was taken over by another "
            "worker after it expired, or this Claim is stale (always pass the Claim the last record_step "
            "returned): stop processing the message; raise lease_seconds if steps take longer"
        )


def lease_expired(entry: JournalEntry, now: datetime | None = None) -> bool:
    return entry.lease_until <= (now or _keys.now())
