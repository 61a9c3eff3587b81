"""Rules on where the link's page lives: shorteners, free hosting platforms, IPFS, top-level
domains that are cheap to register."""

from __future__ import annotations

import re

from tap_core.model.findings import Finding
from tap_core.parsing.domains import host_matches_domain
from tap_core.urls.platforms import free_platform, platforms
from tap_core.urls.rules.parse import UrlContext, lists, rules


def url_shortener(ctx: UrlContext) -> Finding | None:
    host = ctx.host.removeprefix("www.")
    if host and host in lists().shorteners:
        return rules()["url_shortener"].finding(evidence=host, host=host)
    return None


_PAGE_RE = re.compile(r"\.(?:html?|php\d?|aspx?|jsp|shtml)$", re.I)


def free_hosting(ctx: UrlContext) -> Finding | None:
    if not ctx.host or ctx.is_ip:
        return None
    plat = free_platform(ctx.host)
    if plat is None:
        return None
    if ctx.host in platforms().path_hosts and ctx.path.strip("/") == "":
        return None  # the platform's own front page, not someone's content
    # A document page (x.html, login.php) on such a platform is what phishing kits publish;
    # a site's front page or assets are weaker evidence.
    variant = "page" if _PAGE_RE.search(ctx.path) else "site"
    return rules()["free_hosting"].finding(ctx.host, variant, platform=plat)


def suspicious_tld(ctx: UrlContext) -> Finding | None:
    if not ctx.suffix:
        return None
    tlds = lists().suspicious_tlds
    last = ctx.suffix.rsplit(".", 1)[-1]
    for cand in (ctx.suffix, last):
        if cand in tlds:
            return rules()["suspicious_tld"].finding(evidence=ctx.host, tld=cand)
    return None


_IPFS_CID = re.compile(
    r"/ip[fn]s/(?:Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{50,}|k[a-z0-9]{50,})", re.IGNORECASE
)


def ipfs_gateway(ctx: UrlContext) -> Finding | None:
    if not ctx.host:
        return None
    host = ctx.host
    on_gateway = next((g for g in lists().ipfs_gateways if host_matches_domain(host, g)), None)
    if on_gateway and (
        ctx.path.startswith(("/ipfs/", "/ipns/")) or ".ipfs." in f".{host}" or ".ipns." in host
    ):
        return rules()["ipfs_gateway"].finding(evidence=host, gateway=on_gateway)
    if _IPFS_CID.match(ctx.path):
        return rules()["ipfs_gateway"].finding(evidence=ctx.url[:120], gateway=host)
    return None
