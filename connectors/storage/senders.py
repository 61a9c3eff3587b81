"""Sender history (Impersonation Protect's "newly observed sender" and "prior correspondence").

Implements :class:`tap_core.impersonation.interfaces.SenderHistory`. Every question is one point
read (PartitionKey + RowKey), spread over many partitions:

- address: partition ``<tenant>|a|<address>``, row ``-``, ``FirstSeen``
- domain:  partition ``<tenant>|d|<registered domain>``, row ``-``, ``FirstSeen``
- pair:    partition ``<tenant>|p|<smaller address>``, row ``<larger address>`` (either direction
  counts as correspondence, so one unordered row per pair)

``record`` reads, inserts if absent (conditional), and only rewrites
``FirstSeen`` when an older message arrives late.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from azure.core.exceptions import HttpResponseError, ResourceExistsError

from connectors.storage import _keys
from connectors.storage.tables import TableStore, as_utc, is_precondition_failed
from tap_core.parsing.domains import registered_domain

_ROW = "-"


def _domain_of(address: str) -> str:
    domain = address.rpartition("@")[2].lower()
    return registered_domain(domain) or domain


class TableSenderHistory:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def first_seen(self, tenant_id: str, address: str) -> datetime | None:
        return self._first(_keys.key(tenant_id, "a", address.lower()))

    def first_seen_domain(self, tenant_id: str, domain: str) -> datetime | None:
        return self._first(_keys.key(tenant_id, "d", domain.lower()))

    def has_corresponded(self, tenant_id: str, recipient: str, sender: str) -> bool:
        low, high = sorted((recipient.lower(), sender.lower()))
        return self._store.read(_keys.key(tenant_id, "p", low), _keys.escape(high)) is not None

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

    def _first(self, partition: str) -> datetime | None:
        entity = self._store.read(partition, _ROW)
        return None if entity is None else as_utc(entity["FirstSeen"])

    def _remember(self, partition: str, when: datetime, row: str = _ROW) -> None:
        # Read first: most mail comes from senders already known, so that is one request.
        for _ in range(3):
            existing = self._store.read(partition, row)
            if existing is None:
                try:
                    self._store.insert({"PartitionKey": partition, "RowKey": row, "FirstSeen": when})
                    return
                except ResourceExistsError:
                    continue  # a concurrent record() inserted it: compare with theirs
            if as_utc(existing["FirstSeen"]) <= when:
                return
            try:  # an older message arrived late: move FirstSeen back, unless someone else did
                self._store.merge_if_match({"PartitionKey": partition, "RowKey": row, "FirstSeen": when},
                                           existing["_etag"])
                return
            except HttpResponseError as error:
                if not is_precondition_failed(error):
                    raise
