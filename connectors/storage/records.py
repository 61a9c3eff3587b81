"""Verdicts and the audit trail on Azure Tables, listed newest first.

Verdicts: partition = tenant. Two rows per message in that partition, written in one entity
group transaction so they never disagree: ``m|<message>`` for point reads and
``t|<inverted ticks>|<message>`` so a partition range scan lists newest first.
Audit: partition = tenant, row ``<inverted ticks>|<random>``, insert-only (append-only trail).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableTransactionError

from connectors.storage import _keys
from connectors.storage.interfaces import AuditRecord, VerdictRecord
from connectors.storage.tables import TableStore, as_utc

_FIELDS = ("Verdict", "Action", "Mailbox", "Sender", "Subject")


class TableVerdictStore:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def put_verdict(self, tenant_id: str, message_id: str, record: VerdictRecord) -> None:
        partition = _keys.escape(tenant_id)
        point_row = "m|" + _keys.escape(message_id)
        time_row = f"t|{_keys.inverted(record.decided_at)}|{_keys.escape(message_id)}"
        body: dict[str, Any] = {
            "PartitionKey": partition, "MessageId": message_id, "DecidedAt": _keys.utc(record.decided_at),
            "Verdict": record.verdict, "Action": record.action, "Mailbox": record.mailbox,
            "Sender": record.sender, "Subject": record.subject[:1000],
            "Reasons": _keys.dumps(list(record.reasons), what="verdict reasons"),
            "Details": _keys.dumps(dict(record.details), what="verdict details"),
        }
        # A message's first verdict (the common case) in one round trip: both rows created together.
        # 409: it had one (a retry, a re-decision): read it to move its listing row, as below.
        try:
            self._store.table.submit_transaction([
                ("create", {**body, "RowKey": point_row}), ("create", {**body, "RowKey": time_row}),
            ])
            return
        except TableTransactionError as error:
            if error.status_code != 409:
                raise
        for attempt in range(3):
            operations: list[Any] = [
                ("upsert", {**body, "RowKey": point_row}, {"mode": "replace"}),
                ("upsert", {**body, "RowKey": time_row}, {"mode": "replace"}),
            ]
            previous = self._store.read(partition, point_row)
            if previous is not None:
                old_time_row = f"t|{_keys.inverted(as_utc(previous['DecidedAt']))}|{_keys.escape(message_id)}"
                if old_time_row != time_row:  # a re-decision moves the listing row too
                    operations.append(("delete", {"PartitionKey": partition, "RowKey": old_time_row}))
            try:
                self._store.table.submit_transaction(operations)
                return
            except TableTransactionError as error:
                # 404: a concurrent put moved the listing row first; re-read and try again.
                if error.status_code != 404 or attempt == 2:
                    raise

    def cleanup(self, older_than: datetime) -> int:
        """Delete verdicts decided before ``older_than`` (both rows of each); returns rows deleted."""
        return self._store.delete_matching("DecidedAt lt @t", {"t": _keys.utc(older_than)})

    def get_verdict(self, tenant_id: str, message_id: str) -> VerdictRecord | None:
        entity = self._store.read(_keys.escape(tenant_id), "m|" + _keys.escape(message_id))
        return None if entity is None else _verdict(entity)

    def list_verdicts(self, tenant_id: str, since: datetime, limit: int = 100, *,
                      until: datetime | None = None) -> list[VerdictRecord]:
        """Newest first, decided at or after ``since`` (and before ``until`` when given)."""
        entities = self._store.query(
            "PartitionKey eq @p and RowKey gt @lo and RowKey le @hi",
            {"p": _keys.escape(tenant_id), "lo": "t|" + (_keys.upto(until) if until else ""),
             "hi": "t|" + _keys.upto(since)},
            limit=limit,
        )
        return [_verdict(e) for e in entities]


def _verdict(entity: dict[str, Any]) -> VerdictRecord:
    return VerdictRecord(
        message_id=entity["MessageId"], decided_at=as_utc(entity["DecidedAt"]), verdict=entity["Verdict"],
        action=entity["Action"], mailbox=entity.get("Mailbox", ""), sender=entity.get("Sender", ""),
        subject=entity.get("Subject", ""), reasons=tuple(_keys.loads(entity.get("Reasons")) or ()),
        details=_keys.loads(entity.get("Details")) or {},
    )


class TableAuditStore:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def append(self, tenant_id: str, record: AuditRecord) -> AuditRecord:
        for _ in range(3):
            record_id = f"{_keys.inverted(record.at)}|{uuid.uuid4().hex}"
            entity = {
                "PartitionKey": _keys.escape(tenant_id), "RowKey": record_id, "Actor": record.actor,
                "Action": record.action, "Target": record.target, "Reason": record.reason,
                "At": _keys.utc(record.at),
                "Details": _keys.dumps(dict(record.details), what="audit details"),
            }
            try:
                self._store.insert(entity)  # insert, never upsert: the trail is append-only
            except ResourceExistsError:
                continue  # a uuid4 collision; practically unreachable
            return AuditRecord(record.actor, record.action, record.target, record.reason,
                               _keys.utc(record.at), record.details, record_id)
        raise RuntimeError("could not allocate a unique audit record id")

    def append_all(self, tenant_id: str, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Append several records of one tenant in one round trip per 100 (one transaction: the
        tenant is the partition); each as :meth:`append` when a transaction is refused."""
        out: list[AuditRecord] = []
        for start in range(0, len(records), 100):
            chunk = records[start:start + 100]
            stored = [AuditRecord(r.actor, r.action, r.target, r.reason, _keys.utc(r.at), r.details,
                                  f"{_keys.inverted(r.at)}|{uuid.uuid4().hex}") for r in chunk]
            operations: list[Any] = [("create", {
                "PartitionKey": _keys.escape(tenant_id), "RowKey": r.record_id, "Actor": r.actor,
                "Action": r.action, "Target": r.target, "Reason": r.reason, "At": r.at,
                "Details": _keys.dumps(dict(r.details), what="audit details"),
            }) for r in stored]
            try:
                self._store.table.submit_transaction(operations)
            except TableTransactionError as error:
                if error.status_code != 409:  # 409: a uuid4 collision; practically unreachable
                    raise
                stored = [self.append(tenant_id, r) for r in chunk]
            out += stored
        return out

    def cleanup(self, older_than: datetime) -> int:
        """Delete audit records older than ``older_than`` (retention; the trail is otherwise append-only)."""
        return self._store.delete_matching("At lt @t", {"t": _keys.utc(older_than)})

    def list_audit(self, tenant_id: str, since: datetime, limit: int = 100, *,
                   until: datetime | None = None) -> list[AuditRecord]:
        """Newest first, recorded at or after ``since`` (and before ``until`` when given)."""
        entities = self._store.query(
            "PartitionKey eq @p and RowKey gt @lo and RowKey le @hi",
            {"p": _keys.escape(tenant_id), "lo": _keys.upto(until) if until else "", "hi": _keys.upto(since)},
            limit=limit,
        )
        return [
            AuditRecord(e["Actor"], e["Action"], e["Target"], e["Reason"], as_utc(e["At"]),
                        _keys.loads(e.get("Details")) or {}, e["RowKey"])
            for e in entities
        ]
