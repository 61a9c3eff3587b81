"""Release requests (a person asking for a held message back) and the daily digests sent, on
Azure Tables.

Partition = tenant. Rows:

- ``r|<mailbox>|<message>``: the request for one message (one per message: asking again finds
  the same row). Status changes are conditional on the ETag and on the status read, so of two
  admins deciding at once only one decision stands.
- ``d|<yyyymmdd>|<mailbox>``: the digest of that UTC day for that person, inserted if absent
  before the mail is sent, so a rerun or a second instance sends nothing twice.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from connectors.storage import _keys
from connectors.storage.interfaces import ConcurrencyError
from connectors.storage.tables import TableStore, as_utc, is_precondition_failed

#: Longest reason kept (the person's and the admin's), in characters.
MAX_REASON_CHARS = 1000


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    #: Released by the person at once (the policy's ``self_release_suspicious``).
    SELF_RELEASED = "self_released"


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    tenant_id: str
    mailbox: str
    message_id: str
    requested_by: str
    requested_at: datetime
    reason: str = ""
    status: RequestStatus = RequestStatus.PENDING
    subject: str = ""
    sender: str = ""
    #: The message's verdict when it was asked for (clean / suspicious / malicious ...).
    verdict: str = ""
    decided_by: str = ""
    decided_at: datetime | None = None
    decision_reason: str = ""
    etag: str = ""


def _request_row(mailbox: str, message_id: str) -> str:
    return "r|" + _keys.key(mailbox.lower(), message_id)


def _digest_row(day: date, mailbox: str) -> str:
    return f"d|{day:%Y%m%d}|{_keys.escape(mailbox.lower())}"


class TableReleaseRequests:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def create(self, request: ReleaseRequest) -> tuple[ReleaseRequest, bool]:
        """Store ``request`` unless the message was asked for before; returns the stored request
        and whether this call created it."""
        entity = {
            "PartitionKey": _keys.escape(request.tenant_id),
            "RowKey": _request_row(request.mailbox, request.message_id),
            "Mailbox": request.mailbox.lower(), "MessageId": request.message_id,
            "RequestedBy": request.requested_by.lower(), "RequestedAt": _keys.utc(request.requested_at),
            "Reason": request.reason[:MAX_REASON_CHARS], "Status": RequestStatus(request.status).value,
            "Subject": request.subject[:1000], "Sender": request.sender[:500], "Verdict": request.verdict,
            "DecidedBy": request.decided_by,
            "DecisionReason": request.decision_reason[:MAX_REASON_CHARS],
            "UpdatedAt": _keys.utc(request.decided_at or request.requested_at),
        }
        if request.decided_at is not None:
            entity["DecidedAt"] = _keys.utc(request.decided_at)
        try:
            self._store.insert(entity)
            created = True
        except ResourceExistsError:
            created = False
        stored = self.get(request.tenant_id, request.mailbox, request.message_id)
        assert stored is not None  # rows are deleted only by retention, long after
        return stored, created

    def get(self, tenant_id: str, mailbox: str, message_id: str) -> ReleaseRequest | None:
        entity = self._store.read(_keys.escape(tenant_id), _request_row(mailbox, message_id))
        return None if entity is None else _request(tenant_id, entity)

    def list(
        self, tenant_id: str, *, status: RequestStatus | None = None, limit: int = 100
    ) -> list[ReleaseRequest]:
        """A tenant's requests, newest first, at most ``limit`` of them (read in key order first:
        with more than ``limit`` matching, which ones are read is not by age)."""
        filter_ = "PartitionKey eq @p and RowKey gt @lo and RowKey lt @hi"
        params: dict[str, Any] = {"p": _keys.escape(tenant_id), "lo": "r|", "hi": "r}"}
        if status is not None:
            filter_ += " and Status eq @s"
            params["s"] = RequestStatus(status).value
        found = [_request(tenant_id, e) for e in self._store.query(filter_, params, limit=limit)]
        return sorted(found, key=lambda r: r.requested_at, reverse=True)

    def decide(self, tenant_id: str, mailbox: str, message_id: str, status: RequestStatus, *, by: str,
               reason: str = "", expect: RequestStatus = RequestStatus.PENDING,
               now: datetime | None = None) -> ReleaseRequest:
        """Move a request from ``expect`` to ``status``; raises :class:`ConcurrencyError` when it
        is not in ``expect`` (decided already) or changed meanwhile, KeyError when absent."""
        partition = _keys.escape(tenant_id)
        row = _request_row(mailbox, message_id)
        entity = self._store.read(partition, row)
        if entity is None:
            raise KeyError(f"no release request for message {message_id!r} in {mailbox!r}")
        if entity["Status"] != RequestStatus(expect).value:
            raise ConcurrencyError(f"the request is {entity['Status']}, not {RequestStatus(expect).value}")
        at = _keys.utc(now) if now else _keys.now()
        change = {"PartitionKey": partition, "RowKey": row, "Status": RequestStatus(status).value,
                  "DecidedBy": by.lower(), "DecidedAt": at, "UpdatedAt": at,
                  "DecisionReason": reason[:MAX_REASON_CHARS]}
        try:
            self._store.merge_if_match(change, entity["_etag"])
        except ResourceNotFoundError:
            raise KeyError(f"no release request for message {message_id!r} in {mailbox!r}") from None
        except HttpResponseError as error:
            if is_precondition_failed(error):
                raise ConcurrencyError("the request was decided by someone else meanwhile") from None
            raise
        decided = self.get(tenant_id, mailbox, message_id)
        assert decided is not None
        return decided

    def mark_digest(self, tenant_id: str, mailbox: str, day: date, message_ids: Sequence[str],
                    *, now: datetime | None = None) -> bool:
        """Record that ``mailbox``'s digest of ``day`` goes out listing ``message_ids``; True only
        for the one caller that recorded it first."""
        at = _keys.utc(now) if now else _keys.now()
        try:
            self._store.insert({
                "PartitionKey": _keys.escape(tenant_id), "RowKey": _digest_row(day, mailbox),
                "Mailbox": mailbox.lower(), "Day": f"{day:%Y-%m-%d}", "Count": len(message_ids),
                "MessageIds": _keys.dumps(list(message_ids), what="the digest's message ids"),
                "UpdatedAt": at,
            })
        except ResourceExistsError:
            return False
        return True

    def digest(self, tenant_id: str, mailbox: str, day: date) -> tuple[str, ...] | None:
        """The message ids the digest of ``day`` listed; None when none was sent."""
        entity = self._store.read(_keys.escape(tenant_id), _digest_row(day, mailbox))
        return None if entity is None else tuple(_keys.loads(entity.get("MessageIds")) or ())

    def cleanup(self, older_than: datetime) -> int:
        """Delete requests decided (or left pending) and digest records last changed before
        ``older_than`` (the daily retention timer)."""
        return self._store.delete_matching("UpdatedAt lt @t", {"t": _keys.utc(older_than)})


def _request(tenant_id: str, e: dict[str, Any]) -> ReleaseRequest:
    return ReleaseRequest(
        tenant_id=tenant_id, mailbox=e["Mailbox"], message_id=e["MessageId"],
        requested_by=e.get("RequestedBy", ""), requested_at=as_utc(e["RequestedAt"]),
        reason=e.get("Reason", ""), status=RequestStatus(e["Status"]), subject=e.get("Subject", ""),
        sender=e.get("Sender", ""), verdict=e.get("Verdict", ""), decided_by=e.get("DecidedBy", ""),
        decided_at=as_utc(e["DecidedAt"]) if e.get("DecidedAt") else None,
        decision_reason=e.get("DecisionReason", ""), etag=e.get("_etag", ""),
    )
