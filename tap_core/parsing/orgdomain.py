"""The organisational domain of a host: its registered domain, except on multi-tenant mail
platforms whose tenants are subdomains that the Public Suffix List does not list.

Every Microsoft 365 tenant owns ``<name>.onmicrosoft.com``; attackers open tenants there too. To
the plain PSL they all share ``onmicrosoft.com``, so one tenant's domain would cover every other
tenant's (never a lookalike, never newly observed, Reply-To always aligned).
"""

from __future__ import annotations

from functools import lru_cache

from tap_core.parsing.domains import registered_domain, split_host

#: Suffixes under which each label is a separate tenant (longest first when nested).
TENANT_SUFFIXES: tuple[str, ...] = (
    "mail.onmicrosoft.com",
    "onmicrosoft.com",
    "onmicrosoft.us",
    "onmicrosoft.de",
    "partner.onmschina.cn",
)


@lru_cache(maxsize=65536)
def split_org(host: str) -> tuple[str, str, str]:
    """(subdomain, label, suffix) like :func:`tap_core.parsing.domains.split_host`, tenant-aware."""
    host = host.strip().lower().rstrip(".")
    for suffix in TENANT_SUFFIXES:
        if host.endswith("." + suffix):
            rest = host[: -len(suffix) - 1].split(".")
            return ".".join(rest[:-1]), rest[-1], suffix
    return split_host(host)


@lru_cache(maxsize=65536)
def organisation_domain(host: str) -> str:
    """``contoso.onmicrosoft.com`` for ``mail.contoso.onmicrosoft.com``; else the registered domain."""
    host = host.strip().lower().rstrip(".")
    _, label, suffix = split_org(host)
    if suffix in TENANT_SUFFIXES:
        return f"{label}.{suffix}"
    return registered_domain(host) or host
