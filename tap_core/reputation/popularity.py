"""How popular a domain is: its rank in the popular domains list shipped with the project
(``tap_core/data/reputation/popular_domains.txt``, Tranco top 10k; see the README beside it).

A host counts by its registered domain (``docs.google.com`` is ``google.com``; a site on a shared
platform, ``evil.github.io``, is its own registered domain and never borrows the platform's rank).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from tap_core.data import data_lines
from tap_core.parsing.domains import label_to_ascii, registered_domain

_MAX_HOST = 253 * 4  # longest host worth looking up (a Unicode host may be longer than its A-label)


@cache
def _ranks() -> Mapping[str, int]:
    ranks: dict[str, int] = {}
    for domain in data_lines("reputation", "popular_domains.txt"):
        ranks.setdefault(domain, len(ranks) + 1)
    return ranks


def _ascii(host: str) -> str:
    """``host`` with its Unicode labels as A-labels ("" when a label cannot be converted)."""
    if host.isascii():
        return host
    try:
        return ".".join(label if label.isascii() else label_to_ascii(label) for label in host.split("."))
    except Exception:  # a label punycode cannot encode: not a domain in the list
        return ""


def ranking_domain(host: str) -> str:
    """The domain ``host`` is ranked by: its registered domain as the list spells it (lower-case
    A-labels; not :func:`tap_core.urls.platforms.site_of`, which splits more platforms into user
    sites), or "" for an empty host, an IP literal, a bare public suffix or an unknown top-level
    domain."""
    host = host.strip().lower().rstrip(".")
    if not host or len(host) > _MAX_HOST:
        return ""
    return _ascii(registered_domain(host))


def popularity_rank(domain: str) -> int | None:
    """The rank (1 = most popular) of ``domain``'s registered domain in the popular domains
    list, or None when it is not listed. Any host may be given."""
    site = ranking_domain(domain)
    return _ranks().get(site) if site else None


def popular_domains_count() -> int:
    """How many domains the list holds."""
    return len(_ranks())


__all__ = ["popular_domains_count", "popularity_rank", "ranking_domain"]
