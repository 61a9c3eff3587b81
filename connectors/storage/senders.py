"""Sender history (Impersonation Protect's "newly observed sender" and "prior correspondence").

Implements :class:`tap_core.impersonation.interfaces.SenderHistory`. Every question is one point
read (PartitionKey + RowKey), spread over many partitions:

- address: partition ``<tenant>|a|<address>``, row ``-``, ``FirstSeen``
- domain:  partition ``<tenant>|d|<registered domain>``, row ``-``, ``FirstSeen``
- pair:    partition ``<tenant>|p|<smaller address>``, row ``<larger address>`` (either direction
  counts as correspondence, so one unordered row per pair)
- link domain: partition ``<tenant>|l|<registered domain>``, row ``-``, ``FirstSeen`` (the
  registered domains the links of delivered mail lead to: "no one here was ever sent a link to it")

``record`` reads, inserts if absent (conditional), and only rewrites
``FirstSeen`` when an older message arrives late.

Window (``TAP365_SENDER_HISTORY_DAYS``, :meth:`TableSenderHistory.within`): every row also keeps
``LastSeen`` (rewritten at most once a day, so a known sender still costs one read); a row not
seen within the window counts as absent (the sender is new again) and :meth:`cleanup` deletes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from connectors.storage import _keys
from connectors.storage.tables import TableStore, as_utc, is_precondition_failed
from tap_core.parsing.domains import registered_domain

_ROW = "-"
#: LastSeen is rewritten at most this often per row: a window of days needs no finer grain.
_LAST_SEEN_GRAIN = timedelta(days=1)


def _domain_of(address: str) -> str:
    domain = address.rpartition("@")[2].lower()
    return registered_domain(domain) or domain


class TableSenderHistory:
    def __init__(self, store: TableStore, window_days: int | None = None) -> None:
        if window_days is not None and window_days < 1:
            raise ValueError("window_days must be at least 1 (TAP365_SENDER_HISTORY_DAYS)")
        self._store = store
        self.window_days = window_days

    def within(self, days: int) -> TableSenderHistory:
        """The same history seen through a window of ``days``: older senders count as unseen."""
        return TableSenderHistory(self._store, days)

    def ensure(self) -> None:
        self._store.ensure()

    def _stale(self, entity: dict[str, Any], now: datetime) -> bool:
        if self.window_days is None:
            return False
        last = entity.get("LastSeen") or entity["FirstSeen"]
        return as_utc(last) < now - timedelta(days=self.window_days)

    def cleanup(self, older_than: datetime) -> int:
        """Delete rows whose sender was last seen before ``older_than`` (the daily timer)."""
        cutoff = _keys.utc(older_than)
        # FirstSeen <= LastSeen, so this finds every candidate; rows written before LastSeen
        # existed are judged by FirstSeen.
        candidates = self._store.query("FirstSeen lt @t", {"t": cutoff},
                                       select=["PartitionKey", "RowKey", "FirstSeen", "LastSeen"])
        count = 0
        for entity in candidates:
            if as_utc(entity.get("LastSeen") or entity["FirstSeen"]) >= cutoff:
                continue
            try:
                self._store.delete(entity["PartitionKey"], entity["RowKey"], etag=entity["_etag"] or None)
            except ResourceNotFoundError:
                continue
            except HttpResponseError as error:
                if is_precondition_failed(error):
                    continue  # seen again since the query: keep it
                raise
            count += 1
        return count

    def first_seen(self, tenant_id: str, address: str) -> datetime | None:
        return self._first(_keys.key(tenant_id, "a", address.lower()))

    def first_seen_domain(self, tenant_id: str, domain: str) -> datetime | None:
        return self._first(_keys.key(tenant_id, "d", domain.lower()))

    def has_corresponded(self, tenant_id: str, recipient: str, sender: str) -> bool:
        low, high = sorted((recipient.lower(), sender.lower()))
        entity = self._store.read(_keys.key(tenant_id, "p", low), _keys.escape(high))
        return entity is not None and not self._stale(entity, _keys.now())

    def record(self, tenant_id: str, sender: str, recipients: Iterable[str], when: datetime) -> None:
        sender = sender.strip().lower()
        if not sender:
            return
        when = _keys.utc(when)
        self._remember(_keys.key(tenant_id, "a", sender), when)
        domain = _domain_of(sender)
        if domain:
            self._remember(_keys.key(tenant_id, "d", domain), when)
        for rcpt in {r.strip().lower() for r in recipients}:
            if rcpt and rcpt != sender:
                low, high = sorted((rcpt, sender))
                self._remember(_keys.key(tenant_id, "p", low), when, row=_keys.escape(high))

    def first_seen_link_domain(self, tenant_id: str, domain: str) -> datetime | None:
        return self._first(_keys.key(tenant_id, "l", domain.lower()))

    def record_link_domains(self, tenant_id: str, domains: Iterable[str], when: datetime) -> None:
        when = _keys.utc(when)
        for domain in sorted({d.strip().lower() for d in domains if d.strip()}):
            self._remember(_keys.key(tenant_id, "l", domain), when)

    def _first(self, partition: str) -> datetime | None:
        entity = self._store.read(partition, _ROW)
        if entity is None or self._stale(entity, _keys.now()):
            return None
        return as_utc(entity["FirstSeen"])

    def _remember(self, partition: str, when: datetime, row: str = _ROW) -> None:
        # Read first: most mail comes from senders already known, so that is one request.
        for _ in range(3):
            existing = self._store.read(partition, row)
            if existing is None:
                try:
                    self._store.insert({"PartitionKey": partition, "RowKey": row, "FirstSeen": when,
                                        "LastSeen": when})
                    return
                except ResourceExistsError:
                    continue  # a concurrent record() inserted it: compare with theirs
            first = as_utc(existing["FirstSeen"])
            last = as_utc(existing.get("LastSeen") or existing["FirstSeen"])
            update: dict[str, Any] = {}
            if self._stale(existing, when):
                update = {"FirstSeen": when, "LastSeen": when}  # forgotten: known again from now
            else:
                if first > when:  # an older message arrived late: move FirstSeen back
                    update["FirstSeen"] = when
                if when - last >= _LAST_SEEN_GRAIN:
                    update["LastSeen"] = when
            if not update:
                return
            try:  # unless someone else changed the row meanwhile
                self._store.merge_if_match({"PartitionKey": partition, "RowKey": row, **update},
                                           existing["_etag"])
                return
            except HttpResponseError as error:
                if not is_precondition_failed(error):
                    raise
