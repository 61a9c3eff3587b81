"""An in-memory :class:`~tap_core.impersonation.interfaces.SenderHistory` for unit tests and the
evaluation script. Production keeps history in the storage connector."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tap_core.parsing.orgdomain import organisation_domain


def _domain_of(address: str) -> str:
    return organisation_domain(address.rpartition("@")[2])


class InMemorySenderHistory:
    """First-seen times per tenant and address/domain, and correspondence pairs."""

    def __init__(self) -> None:
        self._addresses: dict[tuple[str, str], datetime] = {}
        self._domains: dict[tuple[str, str], datetime] = {}
        self._pairs: set[tuple[str, frozenset[str]]] = set()
        self._link_domains: dict[tuple[str, str], datetime] = {}

    def first_seen(self, tenant_id: str, address: str) -> datetime | None:
        return self._addresses.get((tenant_id, address.lower()))

    def first_seen_domain(self, tenant_id: str, domain: str) -> datetime | None:
        return self._domains.get((tenant_id, domain.lower()))

    def has_corresponded(self, tenant_id: str, recipient: str, sender: str) -> bool:
        # Either direction counts: replying to someone is correspondence too.
        return (tenant_id, frozenset((recipient.lower(), sender.lower()))) in self._pairs

    def record(self, tenant_id: str, sender: str, recipients: Iterable[str], when: datetime) -> None:
        sender = sender.lower()
        if not sender:
            return
        self._remember(self._addresses, (tenant_id, sender), when)
        domain = _domain_of(sender)
        if domain:
            self._remember(self._domains, (tenant_id, domain), when)
        for rcpt in recipients:
            if rcpt and rcpt.lower() != sender:
                self._pairs.add((tenant_id, frozenset((rcpt.lower(), sender))))

    def first_seen_link_domain(self, tenant_id: str, domain: str) -> datetime | None:
        return self._link_domains.get((tenant_id, domain.lower()))

    def record_link_domains(self, tenant_id: str, domains: Iterable[str], when: datetime) -> None:
        for domain in {d.strip().lower() for d in domains}:
            if domain:
                self._remember(self._link_domains, (tenant_id, domain), when)

    @staticmethod
    def _remember(table: dict[tuple[str, str], datetime], key: tuple[str, str], when: datetime) -> None:
        earlier = table.get(key)
        if earlier is None or when < earlier:
            table[key] = when
