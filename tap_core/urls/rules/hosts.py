"""Rules on how the link's host is written: addresses instead of names, look-alike scripts,
user information before an ``@``, odd ports, deep subdomains."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from tap_core.lookalike.brands import confusables
from tap_core.model.findings import Finding
from tap_core.parsing.domains import label_to_unicode, registered_domain
from tap_core.urls.rules.parse import UrlContext, rules


def ip_literal_host(ctx: UrlContext) -> Finding | None:
    if ctx.is_ip:
        return rules()["ip_literal_host"].finding(evidence=ctx.host, host=ctx.host)
    return None


_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}")


def encoded_host(ctx: UrlContext) -> Finding | None:
    host = ctx.host
    if not host or ctx.is_ip or not _NUMERIC_HOST.fullmatch(host):
        return None
    # Anything numeric that is not a plain dotted quad: 3232235777, 0300.0250.1.1, 0xc0a80101.
    return rules()["encoded_host"].finding(evidence=host, host=host)


_IP_IN_HOST_RE = re.compile(r"(?<![0-9])(?:\d{1,3}[.-]){3}\d{1,3}(?![0-9])")


def ip_in_hostname(ctx: UrlContext) -> Finding | None:
    """A host name that spells out an IP address (103-52-115-55.cloud.example.net): a rented
    server or a home connection, not an organisation's site."""
    if not ctx.host or ctx.is_ip:
        return None
    sub = ctx.host[: -len(ctx.site)] if ctx.site and ctx.host.endswith(ctx.site) else ctx.host
    if not sub.strip(".") and ctx.site != registered_domain(ctx.host, private=False):
        # A user site on a cloud suffix (ec2-13-52-185-2.us-west-1.compute.amazonaws.com): the
        # site's own first label is what the renter got, not a chosen name.
        sub = ctx.host.split(".", 1)[0]
    if _IP_IN_HOST_RE.search(sub):
        return rules()["ip_in_hostname"].finding(evidence=ctx.host, host=ctx.host)
    return None


def punycode_host(ctx: UrlContext) -> Finding | None:
    if "xn--" not in ctx.host:
        return None
    display = ".".join(label_to_unicode(lb) for lb in ctx.host.split("."))
    return rules()["punycode_host"].finding(evidence=display, display=display)


_CONFUSABLE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE"})


def _scripts(label: str) -> set[str]:
    found: set[str] = set()
    for ch in label:
        if ch.isalpha():
            found.add(unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0])
    return found


def mixed_script_host(ctx: UrlContext) -> Finding | None:
    if "xn--" not in ctx.host:
        return None
    conf = confusables()
    tld = ctx.host.rsplit(".", 1)[-1]
    ascii_tld = tld.isascii() and not tld.startswith("xn--")
    for label in ctx.display_labels:
        if label.isascii():
            continue
        scripts = _scripts(label)
        mixed = ("LATIN" in scripts and scripts & _CONFUSABLE_SCRIPTS) or (
            "CYRILLIC" in scripts and "GREEK" in scripts
        )
        # A label written wholly in look-alike letters under an ASCII TLD ("аррӏе.com").
        disguised = (
            ascii_tld
            and len(label) >= 3
            and scripts
            and scripts <= _CONFUSABLE_SCRIPTS
            and all(ch in conf or not ch.isalpha() for ch in label)
        )
        if mixed or disguised:
            names = ", ".join(sorted(s.title() for s in scripts))
            return rules()["mixed_script_host"].finding(evidence=label, scripts=names, display=label)
    return None


def at_in_authority(ctx: UrlContext) -> Finding | None:
    if not ctx.userinfo:
        return None
    shown = unquote(ctx.userinfo)[:100]
    return rules()["at_in_authority"].finding(evidence=shown, userinfo=shown)


def non_standard_port(ctx: UrlContext) -> Finding | None:
    if ctx.bad_port:
        return rules()["non_standard_port"].finding(evidence=ctx.url[:120], port="(invalid)")
    if ctx.port is not None and ctx.port not in (80, 443):
        return rules()["non_standard_port"].finding(evidence=str(ctx.port), port=ctx.port)
    return None


_MAX_SUBDOMAIN_LEVELS = 4


def excessive_subdomains(ctx: UrlContext) -> Finding | None:
    if not ctx.host or ctx.is_ip or not ctx.site:
        return None
    levels = ctx.host.count(".") - ctx.site.count(".")
    if levels >= _MAX_SUBDOMAIN_LEVELS:
        return rules()["excessive_subdomains"].finding(evidence=ctx.host, count=levels)
    return None
