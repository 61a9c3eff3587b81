"""Which links URL Protect analyses first when a message has more than it analyses
(``url.max_urls_per_message``): the most suspicious, so that a phishing link hidden behind a
thousand benign ones is still analysed (the limit itself holds the message).

The rank is cheap (no rule runs): each host's first link before any host's second, and within that,
links to an IP address, another scheme than the web, a shortener, an unusual top-level domain or
an organisation other than the sender's and the tenant's ahead of the rest; resources (images,
styles, scripts) after links a person clicks. Ties keep the order of appearance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tap_core.parsing.domains import is_ip_literal, public_suffix, url_host
from tap_core.parsing.orgdomain import organisation_domain
from tap_core.urls.model import FoundUrl
from tap_core.urls.rules.parse import lists

_RESOURCE_CONTEXTS = frozenset({"script_src", "img_src", "css_url", "img_in_link", "link_href"})
_WEB = ("http://", "https://")
_ACTIVE_SCHEMES = ("data:", "javascript:", "vbscript:", "file:")


def _suspicion(item: FoundUrl, host: str, own: frozenset[str]) -> int:
    """A cheap prior of how suspicious a link is (higher first)."""
    if not item.url.lower().startswith(_WEB):
        # data:, javascript:, file: carry their own content; mailto: and tel: are never analysed.
        return 6 if item.url.lower().startswith(_ACTIVE_SCHEMES) else -6
    found = lists()
    points = 0
    if not host or is_ip_literal(host):
        points += 4
    elif organisation_domain(host) not in own:
        points += 2
        if host in found.shorteners or organisation_domain(host) in found.shorteners:
            points += 2
        if public_suffix(host) in found.suspicious_tlds:
            points += 2
    if item.context in _RESOURCE_CONTEXTS:
        points -= 3
    return points


def analysis_order(
    found: Sequence[FoundUrl], limit: int, *, own_domains: Iterable[str] = ()
) -> list[FoundUrl]:
    """``found`` reordered so that its first ``limit`` distinct URLs are the most suspicious;
    unchanged when it holds ``limit`` distinct URLs or fewer (so nothing changes for ordinary
    mail). ``own_domains``: the sender's and the tenant's domains (links there are expected)."""
    first: dict[str, int] = {}
    for item in found:
        first.setdefault(item.url, len(first))
    if len(first) <= limit:
        return list(found)
    own = frozenset(organisation_domain(d) for d in own_domains if d)
    by_url = {item.url: item for item in reversed(found)}  # the first occurrence of each
    seen_hosts: dict[str, int] = {}
    keys: dict[str, tuple[int, int, int]] = {}
    for url, index in first.items():
        host = url_host(url) if url.lower().startswith(_WEB) else ""
        repeat = seen_hosts.get(host, 0)
        seen_hosts[host] = repeat + 1
        # Round robin over hosts: every host's first link, then every host's second...
        keys[url] = (repeat, -_suspicion(by_url[url], host, own), index)
    return sorted(found, key=lambda item: keys[item.url])
