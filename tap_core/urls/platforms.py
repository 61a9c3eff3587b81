"""Shared hosting platforms: which part of a host belongs to one user.

On a shared platform one registered domain serves many unrelated people, so neither threat
intelligence nor heuristics may treat the platform as one site:

* PSL private suffixes (``x.vercel.app``, ``x.github.io``) are separated by
  ``registered_domain(private=True)``;
* ``data/urls/hosting_platforms.txt`` adds platforms the PSL does not cover, in two shapes:
  ``subdomain`` (``x.weebly.com``: each label under the root is one user's site) and ``path``
  (``sites.google.com/view/x``: one host, the user's site is in the path).

Also holds the small loader for this package's data files (``tap_core/data/urls/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from tap_core.data import data_text
from tap_core.parsing.domains import is_ip_literal, public_suffix, registered_domain, split_host


def data_rows(name: str) -> list[list[str]]:
    """Whitespace-separated rows of a list file, ``#`` comments and blank lines removed."""
    rows: list[list[str]] = []
    for line in data_text("urls", name).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append(line.split())
    return rows


def data_list(name: str) -> frozenset[str]:
    """First column of a list file, lowercased."""
    return frozenset(row[0].lower() for row in data_rows(name))


class HostScope(StrEnum):
    """How far a host indicator reaches."""

    SUBTREE = "subtree"  # the host and every subdomain of it
    EXACT = "exact"  # that host only (shared platforms and their parents)
    REJECT = "reject"  # a bare public suffix ("github.io", "co.uk"): never an indicator


@dataclass(frozen=True, slots=True)
class Platforms:
    path_hosts: frozenset[str]
    subdomain_roots: frozenset[str]
    free: frozenset[str]
    #: Parents of platform hosts ("google.com" for "sites.google.com"): listing one of them
    #: as a host indicator must not take every user of the platform with it.
    ancestors: frozenset[str]


@cache
def platforms() -> Platforms:
    path_hosts: set[str] = set()
    roots: set[str] = set()
    free: set[str] = set()
    for row in data_rows("hosting_platforms.txt"):
        domain, site_in = row[0].lower(), row[1].lower()
        (path_hosts if site_in == "path" else roots).add(domain)
        if "free" in row[2:]:
            free.add(domain)
    ancestors: set[str] = set()
    for host in path_hosts | roots:
        labels = host.split(".")
        for i in range(1, len(labels) - 1):
            ancestors.add(".".join(labels[i:]))
    return Platforms(frozenset(path_hosts), frozenset(roots), frozenset(free), frozenset(ancestors))


def _subdomain_root(host: str) -> str | None:
    """The listed ``subdomain`` platform root that ``host`` is a user site under, if any."""
    roots = platforms().subdomain_roots
    labels = host.split(".")
    # Longest proper suffix first, so "x.my.canva.site" matches "my.canva.site".
    for i in range(1, len(labels) - 1):
        suffix = ".".join(labels[i:])
        if suffix in roots:
            return suffix
    return None


@cache
def _is_private_suffix(suffix: str) -> bool:
    """True for a suffix from the PSL private section ("vercel.app"); few distinct values."""
    return public_suffix("x." + suffix) != suffix


def _private_suffix(host: str) -> str | None:
    """The PSL private-section suffix ``host`` sits under ("vercel.app"), if any."""
    _sub, dom, suffix = split_host(host)
    if dom and suffix and _is_private_suffix(suffix):
        return suffix
    return None


def platform_of(host: str) -> str | None:
    """The shared platform ``host`` is on: a path host itself, or the root of a user site."""
    if not host or is_ip_literal(host):
        return None
    if host in platforms().path_hosts:
        return host
    return _subdomain_root(host) or _private_suffix(host)


def site_of(host: str) -> str:
    """The unit of ownership of ``host``: its registered domain, or one user's platform site.

    ``a.b.weebly.com`` -> ``b.weebly.com``; ``x.vercel.app`` -> ``x.vercel.app``;
    ``docs.google.com`` -> ``google.com`` (its content is in the path); IPs are their own site.
    """
    if not host or is_ip_literal(host):
        return host
    root = _subdomain_root(host)
    if root is not None:
        labels = host.split(".")
        return ".".join(labels[len(labels) - root.count(".") - 2 :])
    registered = registered_domain(host, private=True)
    if registered:
        return registered
    # Unknown TLD (internal names, TLDs newer than the PSL snapshot): take the last two labels.
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) > 2 else host


def is_user_site(host: str) -> bool:
    """True when ``host`` is one user's site on a shared platform (``x.vercel.app``)."""
    plat = platform_of(host)
    return plat is not None and plat != host and host not in platforms().path_hosts


_S3_HOST_RE = re.compile(r"(?:^|\.)s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")


def free_platform(host: str) -> str | None:
    """The free-hosting platform serving ``host`` as a user's content, if any.

    A platform's own front page (``weebly.com``) is not user content and gives None.
    """
    if _S3_HOST_RE.search(host):
        # Any bucket, any region (the PSL lists regional endpoints as private suffixes):
        # anyone can publish a page there.
        return "s3.amazonaws.com"
    plat = platform_of(host)
    if plat is None or plat not in platforms().free:
        return None
    if plat == host and host not in platforms().path_hosts:
        return None
    return plat


def host_scope(host: str) -> HostScope:
    """How far a host/domain indicator for ``host`` may reach (see ``HostScope``)."""
    # One PSL lookup per host: this runs for every host indicator of every feed.
    _sub, dom, suffix = split_host(host)
    if not dom:
        return HostScope.REJECT if suffix else HostScope.EXACT
    plat = platforms()
    if host in plat.path_hosts or host in plat.subdomain_roots or host in plat.ancestors:
        return HostScope.EXACT
    if (suffix and _is_private_suffix(suffix)) or _subdomain_root(host) is not None:
        return HostScope.EXACT  # one user's site on a shared platform: that site only
    return HostScope.SUBTREE


@cache
def _click_trackers() -> frozenset[str]:
    return data_list("click_trackers.txt")


def is_click_tracker(site: str) -> bool:
    """True for a mailing service's click-tracking site (``click_trackers.txt``)."""
    return site in _click_trackers()
