"""Quarantine index on Azure Tables: which messages are held or quarantined, and their status.

Partition = tenant. Two rows per message, kept equal by entity group transactions:
``e|<mailbox>|<message>`` for point reads and ``t|<inverted ticks>|<mailbox>|<message>`` so the
admin list is a range scan, newest first. Status changes are conditional on the ETag.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableTransactionError

from connectors.storage import _keys
from connectors.storage.interfaces import NOTICES, ConcurrencyError, QuarantineEntry, QuarantineStatus
from connectors.storage.tables import TableStore, as_utc


def _point(mailbox: str, message_id: str) -> str:
    return "e|" + _keys.key(mailbox.lower(), message_id)


def _listing(at: datetime, mailbox: str, message_id: str) -> str:
    return f"t|{_keys.inverted(at)}|{_keys.key(mailbox.lower(), message_id)}"


class TableQuarantineIndex:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def put(self, entry: QuarantineEntry) -> None:
        partition = _keys.escape(entry.tenant_id)
        body = _entity(entry)
        point = _point(entry.mailbox, entry.message_id)
        listing = _listing(entry.at, entry.mailbox, entry.message_id)
        # A message's first listing (the common case) in one round trip; 409: it was listed before
        # (a retry, a re-hold): read it to keep its notices and move its listing row, as below.
        try:
            self._store.table.submit_transaction([
                ("create", {**body, "RowKey": point}), ("create", {**body, "RowKey": listing}),
            ])
            return
        except TableTransactionError as error:
            if error.status_code != 409:
                raise
        for attempt in range(3):
            operations: list[Any] = [
                ("upsert", {**body, "RowKey": point}, {"mode": "replace"}),
                ("upsert", {**body, "RowKey": listing}, {"mode": "replace"}),
            ]
            previous = self._store.read(partition, point)
            if previous is not None:
                # Put again (a retry, a re-hold): the notices already given stay given.
                kept = {k: previous[k] for k in _NOTICE_PROPERTY.values() if previous.get(k)}
                operations = [(op, {**row, **kept}, mode) for op, row, mode in operations]
                old = _listing(as_utc(previous["At"]), entry.mailbox, entry.message_id)
                if old != listing:  # re-quarantined at another time: move the listing row
                    operations.append(("delete", {"PartitionKey": partition, "RowKey": old}))
            try:
                self._store.table.submit_transaction(operations)
                return
            except TableTransactionError as error:
                if error.status_code != 404 or attempt == 2:  # 404: a concurrent put moved it first
                    raise

    def get(self, tenant_id: str, mailbox: str, message_id: str) -> QuarantineEntry | None:
        entity = self._store.read(_keys.escape(tenant_id), _point(mailbox, message_id))
        return None if entity is None else _entry(tenant_id, entity)

    def list(self, tenant_id: str, *, status: QuarantineStatus | None = None,
             since: datetime | None = None, limit: int = 100) -> list[QuarantineEntry]:
        hi = "t|" + (_keys.upto(since) if since else "~")
        filter_ = "PartitionKey eq @p and RowKey gt @lo and RowKey le @hi"
        params: dict[str, Any] = {"p": _keys.escape(tenant_id), "lo": "t|", "hi": hi}
        if status is not None:
            filter_ += " and Status eq @s"
            params["s"] = QuarantineStatus(status).value
        return [_entry(tenant_id, e) for e in self._store.query(filter_, params, limit=limit)]

    def update_status(self, tenant_id: str, mailbox: str, message_id: str, status: QuarantineStatus,
                      *, by: str, folder_id: str | None = None) -> QuarantineEntry:
        partition = _keys.escape(tenant_id)
        point = _point(mailbox, message_id)
        entity = self._store.read(partition, point)
        if entity is None:
            raise KeyError(f"no quarantine entry for message {message_id!r} in {mailbox!r}")
        change: dict[str, Any] = {"PartitionKey": partition, "Status": QuarantineStatus(status).value,
                                  "UpdatedBy": by, "UpdatedAt": _keys.now()}
        if folder_id is not None:
            change["FolderId"] = folder_id
        listing = _listing(as_utc(entity["At"]), mailbox, message_id)
        if_match = {"etag": entity["_etag"], "match_condition": MatchConditions.IfNotModified}
        try:  # both rows or neither; the point row only if nobody changed it since our read
            self._store.table.submit_transaction([
                ("update", {**change, "RowKey": point},
                 {"mode": "merge", **if_match}),
                ("update", {**change, "RowKey": listing}, {"mode": "merge"}),
            ])
        except TableTransactionError as error:
            if error.status_code in (409, 412):
                raise ConcurrencyError(
                    f"quarantine entry {message_id!r} changed meanwhile (released or deleted by someone "
                    "else?): re-read it before changing its status"
                ) from None
            raise
        updated = self.get(tenant_id, mailbox, message_id)
        assert updated is not None
        return updated

    def mark_once(self, tenant_id: str, mailbox: str, message_id: str, notice: str) -> bool:
        if notice not in NOTICES:
            raise ValueError(f"unknown notice {notice!r}; use one of {', '.join(NOTICES)}")
        prop = _NOTICE_PROPERTY[notice]
        partition = _keys.escape(tenant_id)
        point = _point(mailbox, message_id)
        entity = self._store.read(partition, point)
        if entity is None or entity.get(prop):
            return False
        change = {"PartitionKey": partition, prop: _keys.now()}
        listing = _listing(as_utc(entity["At"]), mailbox, message_id)
        if_match = {"etag": entity["_etag"], "match_condition": MatchConditions.IfNotModified}
        try:  # conditional on the point row: of two concurrent callers only one records it
            self._store.table.submit_transaction([
                ("update", {**change, "RowKey": point}, {"mode": "merge", **if_match}),
                ("update", {**change, "RowKey": listing}, {"mode": "merge"}),
            ])
        except TableTransactionError as error:
            if error.status_code in (404, 409, 412):
                return False
            raise
        return True


_NOTICE_PROPERTY = {"alerted": "AlertedAt", "noticed": "NoticedAt"}


def _entity(entry: QuarantineEntry) -> dict[str, Any]:
    return {
        "PartitionKey": _keys.escape(entry.tenant_id), "Mailbox": entry.mailbox.lower(),
        "MessageId": entry.message_id, "FolderId": entry.folder_id,
        "OriginalFolderId": entry.original_folder_id, "Reason": entry.reason[:4000],
        "At": _keys.utc(entry.at), "Status": QuarantineStatus(entry.status).value,
        "Subject": entry.subject[:1000], "Sender": entry.sender, "UpdatedBy": entry.updated_by,
        "UpdatedAt": _keys.utc(entry.updated_at or entry.at),
    }


def _entry(tenant_id: str, e: dict[str, Any]) -> QuarantineEntry:
    return QuarantineEntry(
        tenant_id=tenant_id, mailbox=e["Mailbox"], message_id=e["MessageId"], folder_id=e["FolderId"],
        original_folder_id=e["OriginalFolderId"], reason=e["Reason"], at=as_utc(e["At"]),
        status=QuarantineStatus(e["Status"]), subject=e.get("Subject", ""), sender=e.get("Sender", ""),
        updated_by=e.get("UpdatedBy", ""), updated_at=as_utc(e["UpdatedAt"]) if e.get("UpdatedAt") else None,
        alerted_at=as_utc(e["AlertedAt"]) if e.get("AlertedAt") else None,
        noticed_at=as_utc(e["NoticedAt"]) if e.get("NoticedAt") else None,
    )
