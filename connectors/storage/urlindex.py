"""URL index for post-delivery purge: which recently delivered messages contain a URL/host/domain.

When intelligence about a URL changes, the purge timer asks "which messages delivered in the last
48 hours contain it?". One table per UTC day (``<prefix>urls<yyyymmdd>``), so cleanup deletes
whole tables: cheap and bounded however much mail arrived. Within a day table:
partition ``<tenant>|<sha256(key)>``, row ``<inverted ticks>|<mailbox>|<message>``, so a find is
one partition range scan per (day, key), newest first.

Keys are whatever the caller indexes (normalised URL, host, registered domain); hash them the
same way on ``add`` and ``find`` by passing the same strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient

from connectors.storage import _keys
from connectors.storage.interfaces import UrlHit
from connectors.storage.tables import TableStore, as_utc

_MAX_KEYS_PER_MESSAGE = 500  # a message with more distinct URLs is indexed by its first 500 keys


class TableUrlIndex:
    def __init__(self, service: TableServiceClient, prefix: str) -> None:
        self._service = service
        self._prefix = f"{prefix}urls"
        self._day_pattern = re.compile(rf"^{re.escape(self._prefix)}(\d{{8}})$")
        self._ready: set[str] = set()

    def ensure(self) -> None:
        self._writable(_keys.now().date())

    def add(self, tenant_id: str, keys: Iterable[str], mailbox: str, message_id: str,
            delivered_at: datetime) -> None:
        delivered_at = _keys.utc(delivered_at)
        table = self._writable(delivered_at.date())
        row = f"{_keys.inverted(delivered_at)}|{_keys.key(mailbox.lower(), message_id)}"
        unique = list(dict.fromkeys(k for k in keys if k))[:_MAX_KEYS_PER_MESSAGE]
        for key in unique:  # different partitions: no batch; upsert keeps a retried add idempotent
            table.upsert({
                "PartitionKey": _keys.key(tenant_id, _keys.digest(key)), "RowKey": row, "Key": key[:4000],
                "Mailbox": mailbox.lower(), "MessageId": message_id, "DeliveredAt": delivered_at,
            })

    def find(self, tenant_id: str, keys: Iterable[str], since: datetime, limit: int = 1000) -> list[UrlHit]:
        since = _keys.utc(since)
        today = _keys.now().date()
        # Tomorrow too: a sender clock a little ahead puts a message into the next day's table.
        days = [today - timedelta(days=n) for n in range(-1, (today - since.date()).days + 1)]
        seen: set[tuple[str, str]] = set()
        hits: list[UrlHit] = []
        for key in dict.fromkeys(k for k in keys if k):
            for day in days:
                table = self._existing(day)
                if table is None:
                    continue
                entities = table.query(
                    "PartitionKey eq @p and RowKey le @hi",
                    {"p": _keys.key(tenant_id, _keys.digest(key)), "hi": _keys.upto(since)},
                )
                try:
                    for e in entities:
                        ident = (e["Mailbox"], e["MessageId"])
                        if ident in seen:
                            continue
                        seen.add(ident)
                        hits.append(UrlHit(key, e["Mailbox"], e["MessageId"], as_utc(e["DeliveredAt"])))
                        if len(hits) >= limit:
                            return _newest_first(hits)
                except ResourceNotFoundError:
                    continue  # that day's table was cleaned up meanwhile
        return _newest_first(hits)

    def cleanup(self, older_than_days: int) -> int:
        """Delete day tables older than ``older_than_days`` (today counts as day 0)."""
        if older_than_days < 1:
            raise ValueError("older_than_days must be at least 1 (the purge looks back 48 hours)")
        cutoff = _keys.now().date() - timedelta(days=older_than_days)
        dropped = 0
        lo, hi = self._prefix + "0", self._prefix + ":"
        for table in self._service.query_tables("TableName ge @lo and TableName lt @hi",
                                                parameters={"lo": lo, "hi": hi}):
            match = self._day_pattern.match(table.name)
            if match and date(int(match[1][:4]), int(match[1][4:6]), int(match[1][6:])) < cutoff:
                self._service.delete_table(table.name)
                self._ready.discard(table.name)
                dropped += 1
        return dropped

    def _writable(self, day: date) -> TableStore:
        store = TableStore(self._service, f"{self._prefix}{day:%Y%m%d}")
        if store.table_name not in self._ready:
            store.ensure()
            self._ready.add(store.table_name)
        return store

    def _existing(self, day: date) -> TableStore | None:
        name = f"{self._prefix}{day:%Y%m%d}"
        if name not in self._ready:
            if not any(True for _ in self._service.query_tables("TableName eq @n", parameters={"n": name})):
                return None  # no mail indexed that day (or already cleaned up)
            self._ready.add(name)
        return TableStore(self._service, name)


def _newest_first(hits: list[UrlHit]) -> list[UrlHit]:
    return sorted(hits, key=lambda h: h.delivered_at, reverse=True)
