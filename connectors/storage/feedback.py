"""False-positive reports for the detection engine's feedback, on Azure Tables (``<p>feedback``).

Partition = tenant; row ``fp|<mailbox>|<message id>``: one report per message (the first person's
stands; a second report of the same message is told who reported it and when). Each report keeps
what the engine said (verdict, finding names and weights) so training can weigh it later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError

from connectors.storage import _keys
from connectors.storage.config import StorageConfig
from connectors.storage.tables import TableStore, as_utc


@dataclass(frozen=True, slots=True)
class FalsePositive:
    tenant_id: str
    mailbox: str
    message_id: str
    reported_by: str
    at: datetime
    internet_message_id: str = ""
    verdict: str = ""
    #: Finding name -> its weight in the message score, as the verdict record kept them.
    findings: Mapping[str, float] = field(default_factory=dict)
    note: str = ""


def _row(mailbox: str, message_id: str) -> str:
    return "fp|" + _keys.key(mailbox.lower(), message_id)


class TableFeedbackStore:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    @classmethod
    def open(cls, config: StorageConfig) -> TableFeedbackStore:
        return cls(TableStore(config.table_service(), config.table_name("feedback")))

    def ensure(self) -> None:
        self._store.ensure()

    def report(self, report: FalsePositive) -> tuple[FalsePositive, bool]:
        """Record ``report`` unless the message was reported before: (the stored report, True when
        this call recorded it)."""
        entity = {
            "PartitionKey": _keys.escape(report.tenant_id),
            "RowKey": _row(report.mailbox, report.message_id),
            "Mailbox": report.mailbox.lower(),
            "MessageId": report.message_id,
            "ReportedBy": report.reported_by,
            "At": _keys.utc(report.at),
            "InternetMessageId": report.internet_message_id[:1000],
            "Verdict": report.verdict,
            "Note": report.note[:1000],
            "Findings": _keys.dumps(dict(report.findings), what="reported findings"),
        }
        try:
            self._store.insert(entity)  # insert-if-absent: of two concurrent reports one is recorded
        except ResourceExistsError:
            existing = self.get(report.tenant_id, report.mailbox, report.message_id)
            if existing is None:  # deleted in between (retention): record this one after all
                return self.report(report)
            return existing, False
        return report, True

    def cleanup(self, older_than: datetime) -> int:
        """Delete reports made before ``older_than`` (the daily timer)."""
        return self._store.delete_matching("At lt @t", {"t": _keys.utc(older_than)})

    def get(self, tenant_id: str, mailbox: str, message_id: str) -> FalsePositive | None:
        entity = self._store.read(_keys.escape(tenant_id), _row(mailbox, message_id))
        return None if entity is None else _report(tenant_id, entity)

    def list(self, tenant_id: str, limit: int = 100) -> Sequence[FalsePositive]:
        entities = self._store.query("PartitionKey eq @p", {"p": _keys.escape(tenant_id)}, limit=limit)
        return [_report(tenant_id, e) for e in entities]


def _report(tenant_id: str, e: Mapping[str, Any]) -> FalsePositive:
    return FalsePositive(
        tenant_id=tenant_id,
        mailbox=e["Mailbox"],
        message_id=e["MessageId"],
        reported_by=e["ReportedBy"],
        at=as_utc(e["At"]),
        internet_message_id=e.get("InternetMessageId", ""),
        verdict=e.get("Verdict", ""),
        findings=_keys.loads(e.get("Findings")) or {},
        note=e.get("Note", ""),
    )
