"""The URL rules' shared ground: the rule table, the lists behind the rules, and the URL split
once (:class:`UrlContext`) for every rule.

The input is an already normalised absolute URL (lowercase punycode host); it is parsed with
``urllib.parse.urlsplit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from tap_core.detect.rules import Rule, family_rules
from tap_core.lookalike.brands import chosen_labels
from tap_core.model.findings import Finding
from tap_core.parsing.domains import is_ip_literal, label_to_unicode, public_suffix
from tap_core.urls.platforms import data_list, data_rows, site_of

#: Schemes of web pages (the rules about hosts, paths and downloads apply to these).
WEB = frozenset({"http", "https"})


@cache
def rules() -> dict[str, Rule]:
    """The rule table from ``url_rules.toml``, by finding name."""
    return family_rules("urls", "url_rules.toml")


@dataclass(frozen=True, slots=True)
class Lists:
    """The plain lists of ``tap_core/data/urls/`` the rules read."""

    shorteners: frozenset[str]
    suspicious_tlds: frozenset[str]
    extensions: dict[str, str]  # extension -> tier
    credential_words: tuple[str, ...]
    ipfs_gateways: tuple[str, ...]  # the most specific first (gateway.ipfs.io before ipfs.io)


@cache
def lists() -> Lists:
    return Lists(
        shorteners=data_list("url_shorteners.txt"),
        suspicious_tlds=data_list("suspicious_tlds.txt"),
        extensions={row[0].lower(): row[1].lower() for row in data_rows("dangerous_extensions.txt")},
        credential_words=tuple(sorted(data_list("credential_keywords.txt"))),
        ipfs_gateways=tuple(sorted(data_list("ipfs_gateways.txt"), key=lambda g: (-g.count("."), g))),
    )


@dataclass(slots=True)
class UrlContext:
    """A URL split once for all rules."""

    url: str
    scheme: str
    host: str  # lowercase, punycode, no brackets
    port: int | None
    bad_port: bool
    path: str
    query: str
    userinfo: str
    is_ip: bool
    site: str  # unit of ownership (see platforms.site_of)
    suffix: str  # ICANN public suffix
    user_labels: list[str]  # labels an owner chose: host minus public suffix / platform root
    display_labels: list[str]  # the same, Unicode-decoded


#: A rule on the URL alone.
Heuristic = Callable[[UrlContext], Finding | None]


def parse_context(url: str) -> UrlContext | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    bad_port = False
    try:
        port = parts.port
    except ValueError:
        port, bad_port = None, True
    netloc = parts.netloc
    userinfo = netloc.rsplit("@", 1)[0] if "@" in netloc else ""
    ip = bool(host) and is_ip_literal(host)
    if host and not ip:
        suffix, labels, site = public_suffix(host), chosen_labels(host), site_of(host)
    else:
        suffix, labels, site = "", [], host
    return UrlContext(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        bad_port=bad_port,
        path=parts.path,
        query=parts.query,
        userinfo=userinfo,
        is_ip=ip,
        site=site,
        suffix=suffix,
        user_labels=labels,
        display_labels=[label_to_unicode(lb) for lb in labels],
    )
