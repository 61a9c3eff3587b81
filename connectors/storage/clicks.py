"""Click log and per-link rate limit on Azure Tables.

Clicks: partition = tenant, row ``<inverted ticks>|<random>`` (append-only, newest first).
Rate limit: one entity per link (partition = link id), holding the current fixed window's start
and count; each hit is a conditional update (ETag), so concurrent redirector instances never
lose a count. A new window resets the same entity, so the table does not grow per window.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError

from connectors.storage import _keys
from connectors.storage.interfaces import ClickRecord
from connectors.storage.tables import TableStore, as_utc, is_precondition_failed

_ROW = "window"


class TableClickLog:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def append(self, record: ClickRecord) -> ClickRecord:
        record_id = f"{_keys.inverted(record.at)}|{uuid.uuid4().hex}"
        self._store.insert({
            "PartitionKey": _keys.escape(record.tenant_id), "RowKey": record_id,
            "Recipient": record.recipient, "Url": record.url[:8000], "Verdict": record.verdict,
            "Decision": record.decision, "At": _keys.utc(record.at),
            "Reasons": _keys.dumps(list(record.reasons), what="click reasons"),
            "UserAgent": record.user_agent[:1000], "ClientIp": record.client_ip,
            "IsScanner": record.is_scanner, "LinkId": record.link_id,
        })
        return dataclasses.replace(record, at=_keys.utc(record.at), record_id=record_id)

    def cleanup(self, older_than: datetime) -> int:
        """Delete clicks recorded before ``older_than``."""
        return self._store.delete_matching("At lt @t", {"t": _keys.utc(older_than)})

    def list_clicks(self, tenant_id: str, since: datetime, limit: int = 100, *,
                    until: datetime | None = None) -> list[ClickRecord]:
        """Newest first, clicked at or after ``since`` (and before ``until`` when given)."""
        entities = self._store.query(
            "PartitionKey eq @p and RowKey gt @lo and RowKey le @hi",
            {"p": _keys.escape(tenant_id), "lo": _keys.upto(until) if until else "", "hi": _keys.upto(since)},
            limit=limit,
        )
        return [_click(tenant_id, e) for e in entities]


def _click(tenant_id: str, e: dict[str, Any]) -> ClickRecord:
    return ClickRecord(
        tenant_id=tenant_id, recipient=e["Recipient"], url=e["Url"], verdict=e["Verdict"],
        decision=e["Decision"], at=as_utc(e["At"]), reasons=tuple(_keys.loads(e.get("Reasons")) or ()),
        user_agent=e.get("UserAgent", ""), client_ip=e.get("ClientIp", ""),
        is_scanner=bool(e.get("IsScanner", False)), link_id=e.get("LinkId", ""), record_id=e["RowKey"],
    )


class TableRateLimiter:
    """Fixed-window counter per link id. Fails closed (not allowed) under extreme contention."""

    def __init__(self, store: TableStore, max_attempts: int = 8) -> None:
        self._store = store
        self._max_attempts = max_attempts

    def ensure(self) -> None:
        self._store.ensure()

    def cleanup(self, older_than: datetime) -> int:
        """Delete counters whose window began before ``older_than`` (links not clicked since)."""
        return self._store.delete_matching("Window lt @w", {"w": int(_keys.utc(older_than).timestamp())})

    def hit(self, link_id: str, window_seconds: int, limit: int, *, now: datetime | None = None) -> bool:
        if window_seconds <= 0 or limit < 0:
            raise ValueError("window_seconds must be positive and limit non-negative")
        at = _keys.utc(now) if now else _keys.now()
        window = int(at.timestamp()) // window_seconds * window_seconds
        partition = _keys.escape(link_id)
        for _ in range(self._max_attempts):
            entity = self._store.read(partition, _ROW)
            try:
                if entity is None:
                    if limit < 1:
                        return False
                    self._store.insert(
                        {"PartitionKey": partition, "RowKey": _ROW, "Window": window, "Count": 1}
                    )
                    return True
                count = int(entity["Count"]) if int(entity["Window"]) == window else 0
                if count >= limit:
                    return False
                self._store.merge_if_match(
                    {"PartitionKey": partition, "RowKey": _ROW, "Window": window, "Count": count + 1},
                    entity["_etag"],
                )
                return True
            except ResourceExistsError:
                continue
            except HttpResponseError as error:
                if not is_precondition_failed(error):
                    raise
        return False
