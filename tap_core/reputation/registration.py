"""Domain registration dates: what the reputation rules need from a registry (RDAP), as a small
protocol. tap_core does no I/O: the RDAP connector (:mod:`connectors.rdap`) implements
:class:`DomainRegistry`; tests of the rules use :class:`StaticRegistry`.

A registry answers for registered domains (``example.co.uk``, never a host under it). It never
raises for one domain's failure: a lookup that timed out, was refused (HTTP 429), found no RDAP
server for the top-level domain or got an answer it could not read comes back as
``status="unknown"`` with the reason, so the verdict can say what was not known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

#: known: ``registered`` is the registration date; not_found: the registry has no such domain
#: (RDAP 404: not registered, or already deleted); unknown: no answer could be had (``reason``).
RegistrationStatus = Literal["known", "not_found", "unknown"]


@dataclass(frozen=True, slots=True)
class DomainRegistration:
    """What the registry said of one registered domain."""

    domain: str
    status: RegistrationStatus
    #: The registration date (RDAP event ``registration``), timezone-aware; None unless known.
    registered: datetime | None = None
    #: Why it is not known ("no answer within 1.5 s", "HTTP 429 from rdap.example", ...).
    reason: str = ""
    #: Where the answer came from: the RDAP server's host, or "cache".
    source: str = ""


@runtime_checkable
class DomainRegistry(Protocol):
    """Registration dates of registered domains (lower-case A-labels)."""

    def prefetch(self, domains: Iterable[str]) -> None:
        """Start looking ``domains`` up and return at once (the message's other work goes on
        meanwhile); :meth:`registrations` then waits only for what is still missing."""
        ...

    def registrations(self, domains: Sequence[str]) -> Mapping[str, DomainRegistration]:
        """One entry per domain asked, within the registry's time budget: a domain whose lookup
        did not finish in time is ``unknown`` with the reason, never waited for longer."""
        ...


class StaticRegistry:
    """Fixed registration dates (tests, examples): domains not given are ``not_found``."""

    def __init__(self, registered: Mapping[str, datetime], unknown: Mapping[str, str] | None = None) -> None:
        self._registered = dict(registered)
        self._unknown = dict(unknown or {})
        #: Every domain asked, in order (what a test checks was or was not looked up).
        self.asked: list[str] = []

    def prefetch(self, domains: Iterable[str]) -> None:
        return None

    def registrations(self, domains: Sequence[str]) -> Mapping[str, DomainRegistration]:
        answers: dict[str, DomainRegistration] = {}
        for domain in domains:
            self.asked.append(domain)
            if domain in self._unknown:
                answers[domain] = DomainRegistration(domain, "unknown", reason=self._unknown[domain])
            elif domain in self._registered:
                when = self._registered[domain]
                answers[domain] = DomainRegistration(domain, "known", when, source="static")
            else:
                answers[domain] = DomainRegistration(domain, "not_found", source="static")
        return answers


__all__ = ["DomainRegistration", "DomainRegistry", "RegistrationStatus", "StaticRegistry"]
