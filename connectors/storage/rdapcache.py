"""RDAP answers cached per registered domain, shared by every tenant (registration data is public).

Table ``<p>rdap``: partition = the domain, row ``-``; ``Status`` (known / not_found / unknown),
``Registered`` (known only), ``Reason`` (unknown only), ``Server`` (the RDAP host that answered),
``Expires``. The TTL is the writer's choice (:mod:`connectors.rdap`: known dates for days,
not_found a day, failures minutes); a row past ``Expires`` reads as absent and the daily cleanup
deletes it. Writes are blind upserts: the latest answer wins, and two instances that looked the
same domain up at once wrote the same facts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.storage import _keys
from connectors.storage.tables import TableStore, as_utc
from tap_core.reputation.registration import DomainRegistration

_ROW = "-"
_STATUSES = ("known", "not_found", "unknown")


class TableRdapCache:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def get(self, domain: str, now: datetime) -> tuple[DomainRegistration, datetime] | None:
        """The cached answer for ``domain`` (source ``"cache"``) and its expiry, unless expired."""
        entity = self._store.read(_keys.escape(domain), _ROW)
        if entity is None or not isinstance(entity.get("Expires"), datetime):
            return None
        expires = as_utc(entity["Expires"])
        if expires <= _keys.utc(now):
            return None
        answer = _registration(domain, entity)
        return None if answer is None else (answer, expires)

    def put(self, answer: DomainRegistration, expires: datetime) -> None:
        entity: dict[str, Any] = {
            "PartitionKey": _keys.escape(answer.domain), "RowKey": _ROW, "Status": answer.status,
            "Reason": answer.reason[:1000], "Server": answer.source[:255], "Expires": _keys.utc(expires),
        }
        if answer.registered is not None:
            entity["Registered"] = _keys.utc(answer.registered)
        self._store.upsert(entity)

    def cleanup(self, now: datetime) -> int:
        """Delete answers that expired before ``now`` (the daily timer)."""
        return self._store.delete_matching("Expires lt @t", {"t": _keys.utc(now)})


def _registration(domain: str, entity: dict[str, Any]) -> DomainRegistration | None:
    status = entity.get("Status")
    if status not in _STATUSES:
        return None  # written by a newer version, or damaged: look it up again
    registered = entity.get("Registered")
    if status == "known":
        if not isinstance(registered, datetime):
            return None
        return DomainRegistration(domain, "known", as_utc(registered), source="cache")
    return DomainRegistration(domain, status, reason=str(entity.get("Reason") or ""), source="cache")
