"""What Impersonation Protect needs from outside, as small protocols (tap_core does no I/O).

The Graph connector implements :class:`Directory` (internal users, with a cache) and the storage
connector implements :class:`SenderHistory`; tests use :mod:`tap_core.impersonation.memory_history`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class InternalUser:
    """A person in the tenant: display name and every address they send from."""

    name: str
    address: str
    aliases: tuple[str, ...] = ()
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(a.lower() for a in (self.address, *self.aliases) if "@" in a)


@runtime_checkable
class Directory(Protocol):
    """The tenant's internal users (mailboxes), e.g. from Graph ``/users`` with a cache.

    Return the same sequence object while the cache is unchanged: the name index built from it
    is reused until the object changes.
    """

    def internal_users(self, tenant_id: str) -> Sequence[InternalUser]: ...


@runtime_checkable
class SenderHistory(Protocol):
    """Which senders a tenant has seen, and who corresponded with whom (mailbox intelligence).

    Addresses and domains are lowercase; domains are registered domains.
    """

    def first_seen(self, tenant_id: str, address: str) -> datetime | None: ...

    def first_seen_domain(self, tenant_id: str, domain: str) -> datetime | None: ...

    def has_corresponded(self, tenant_id: str, recipient: str, sender: str) -> bool:
        """True when ``recipient`` (internal) has mailed ``sender`` or received mail from them."""
        ...

    def record(self, tenant_id: str, sender: str, recipients: Iterable[str], when: datetime) -> None:
        """Remember one message: ``sender`` seen (address and domain), paired with ``recipients``."""
        ...

    def first_seen_link_domain(self, tenant_id: str, domain: str) -> datetime | None:
        """When mail delivered in the tenant first linked to ``domain`` (a registered domain)."""
        ...

    def record_link_domains(self, tenant_id: str, domains: Iterable[str], when: datetime) -> None:
        """Remember the registered domains the links of one delivered message lead to."""
        ...


class StaticDirectory:
    """A fixed list of internal users (tests, the CLI, small tenants given in a file)."""

    def __init__(self, users: Iterable[InternalUser]) -> None:
        self._users: tuple[InternalUser, ...] = tuple(users)

    def internal_users(self, tenant_id: str) -> Sequence[InternalUser]:
        return self._users
