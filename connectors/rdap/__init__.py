"""Domain registration dates by RDAP, for the reputation rules (issue 18).

    registry = build_registry(get_settings(), stores.rdap)   # None unless TAP365_RDAP_ENABLED
    registry.prefetch(domains)                               # returns at once
    ...                                                      # the message's other work
    answers = registry.registrations(domains)                # within TAP365_RDAP_BUDGET_SECONDS

:mod:`connectors.rdap.bootstrap` reads the IANA bootstrap (shipped in ``data/dns.json``, see
``data/README.md``); :mod:`connectors.rdap.registry` does the lookups, limits and caches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.rdap.bootstrap import Bootstrap, BootstrapError, Server, load_bootstrap
from connectors.rdap.registry import RdapLimits, RdapRegistry, normalize

if TYPE_CHECKING:
    from connectors.settings import Settings
    from connectors.storage.rdapcache import TableRdapCache

__all__ = [
    "Bootstrap", "BootstrapError", "RdapLimits", "RdapRegistry", "Server", "build_registry",
    "limits_from_settings", "load_bootstrap", "normalize",
]


def limits_from_settings(settings: Settings) -> RdapLimits:
    return RdapLimits(
        budget_seconds=settings.rdap_budget_seconds, concurrency=settings.rdap_concurrency,
        rate_per_second=settings.rdap_rate_per_second, cache_days=settings.rdap_cache_days,
        negative_cache_seconds=settings.rdap_negative_cache_seconds,
        max_response_bytes=settings.rdap_max_response_bytes,
    )


def build_registry(settings: Settings, table: TableRdapCache | None = None, *,
                   enabled: bool | None = None) -> RdapRegistry | None:
    """The registry the service (with its table cache) and ``tap365 scan --rdap`` (memory only,
    ``table=None``, ``enabled=True``: the flag asks for it whatever the setting) use; None when
    disabled (``enabled`` None: ``TAP365_RDAP_ENABLED``). A bootstrap file that cannot be used
    raises :class:`BootstrapError` with the reason (a configuration error, at start)."""
    if not (settings.rdap_enabled if enabled is None else enabled):
        return None
    return RdapRegistry(load_bootstrap(settings.rdap_bootstrap or None), limits_from_settings(settings),
                        table=table)
