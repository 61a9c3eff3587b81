"""Host and registered-domain helpers on the offline Public Suffix List (never downloads it)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import tldextract

# suffix_list_urls=() and cache_dir=None: use the PSL snapshot shipped inside tldextract, offline.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)
_EXTRACT_ICANN = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False
)


def is_ip_literal(host: str) -> bool:
    h = host.strip("[]")
    try:
        ipaddress.ip_address(h)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)
def split_host(host: str) -> tuple[str, str, str]:
    """(subdomain, domain, suffix) using ICANN and private PSL sections.

    With private suffixes, ``evil.github.io`` splits as ('', 'evil', 'github.io') so that a
    site on a shared platform is its own registered domain, never the platform's.
    """
    r = _EXTRACT(host.lower().rstrip("."))
    return r.subdomain, r.domain, r.suffix


@lru_cache(maxsize=65536)
def registered_domain(host: str, *, private: bool = True) -> str:
    """The registrable domain of ``host`` ('' for IPs, bare suffixes and unknown TLDs).

    ``private=True`` honours the PSL's private section (``x.vercel.app`` is registrable);
    ``private=False`` gives the ICANN registrable domain (``vercel.app``).
    """
    host = host.lower().rstrip(".")
    if not host or is_ip_literal(host):
        return ""
    r = (_EXTRACT if private else _EXTRACT_ICANN)(host)
    if not r.domain or not r.suffix:
        return ""
    return f"{r.domain}.{r.suffix}"


@lru_cache(maxsize=65536)
def public_suffix(host: str) -> str:
    return _EXTRACT_ICANN(host.lower().rstrip(".")).suffix


def has_known_suffix(host: str) -> bool:
    """True when ``host`` ends in a real ICANN public suffix (and has a label before it)."""
    r = _EXTRACT_ICANN(host.lower().rstrip("."))
    return bool(r.suffix and r.domain)


def host_matches_domain(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or a subdomain of it (label-aligned, case-insensitive)."""
    host = host.lower().rstrip(".")
    domain = domain.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)
