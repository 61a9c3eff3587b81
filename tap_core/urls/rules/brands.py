"""Rules on hosts that imitate a brand or the organisation's own domains: thin wrappers over
:mod:`tap_core.lookalike`, which answers the same for senders' domains."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

from tap_core.lookalike.brands import brand_lookalike as match_brand
from tap_core.lookalike.domains import LookalikeMatch, shared_matcher
from tap_core.model.findings import Finding
from tap_core.urls.rules.parse import UrlContext, rules


def _userinfo_host(ctx: UrlContext) -> str:
    """What stands before the ``@`` read as a host name (``paypal.com`` in
    ``https://paypal.com@evil.example/``), or ""."""
    return unquote(ctx.userinfo).lower().split(":", 1)[0] if ctx.userinfo else ""


def brand_lookalike(ctx: UrlContext) -> Finding | None:
    if not ctx.host or ctx.is_ip:
        return None
    userinfo = _userinfo_host(ctx)
    extra = userinfo.split(".") if userinfo else ()
    found = match_brand(ctx.host, extra_labels=extra, display_labels=ctx.display_labels)
    if found is None:
        return None
    return rules()["brand_lookalike"].finding(ctx.host, found.variant, brand=found.brand, how=found.how)


#: The matcher's kinds (and the forms of ``subdomain``) as the rule's variants.
_VARIANTS = {
    "typo": "typo",
    "homoglyph": "homoglyph",
    "hyphenation": "hyphenation",
    "tld-swap": "tld_swap",
    "added-word": "token",
    "subdomain:embedded": "embedded_domain",
    "subdomain:split": "typo",
    "subdomain:label": "token",
}


def _variant(match: LookalikeMatch) -> str:
    return _VARIANTS[f"{match.kind}:{match.form}" if match.form else match.kind]


def tenant_lookalike(ctx: UrlContext, tenant_domains: Sequence[str]) -> Finding | None:
    """The host (or the user information before an ``@``) resembles one of the tenant's own
    domains, by the matcher Impersonation Protect uses for senders' domains."""
    if not tenant_domains or not ctx.host or ctx.is_ip:
        return None
    matcher = shared_matcher(tuple(sorted({d.strip().lower() for d in tenant_domains if d.strip()})))
    if matcher.is_protected(ctx.host):
        return None
    rule = rules()["tenant_lookalike"]
    userinfo = _userinfo_host(ctx)
    if "." in userinfo:
        # https://contoso.com@evil.example/: the tenant's own name shown before the real host.
        before = matcher.match(userinfo)
        if matcher.is_protected(userinfo) or before is not None:
            tenant = before.protected if before else next(
                (d for d in matcher.protected if userinfo.endswith(d)), userinfo)
            return rule.finding(ctx.host, "embedded_domain", tenant=tenant, how=f"'{userinfo}' before the @")
    found = matcher.match(ctx.host)
    if found is None:
        return None
    how = f"{found.kind}: {found.detail}"
    return rule.finding(ctx.host, _variant(found), tenant=found.protected, how=how)
