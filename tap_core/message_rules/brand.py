"""Brand rules: a message that speaks for a brand that does not send it."""

from __future__ import annotations

from tap_core.lookalike import brand_owning, brands_named
from tap_core.message_rules._view import IMAGE_CONTEXTS, MessageView, rules, site
from tap_core.message_rules.lure import deceptive_field
from tap_core.model.findings import Finding
from tap_core.parsing.domains import url_host
from tap_core.urls.platforms import free_platform

#: Characters of body text, after the subject, where a lure names the brand it speaks for.
_BODY_OPENING_CHARS = 300


def claim_mismatch(view: MessageView) -> Finding | None:
    """A brand named where the sender introduces itself, not sent by it, links elsewhere."""
    claims = [(brand, where) for brand, where, _ in view.brand_mentions]
    if view.lures and not claims:
        # A lure that names its brand only at the top of the body ("Google Cloud" over a
        # "your payment method is no longer valid" notice) claims it as much.
        opening = view.text[len(view.headline):][:_BODY_OPENING_CHARS]
        claims += [(b, "body") for b in brands_named(opening)]
    for brand, where in claims:
        if view.sender_brand == brand:
            continue
        if view.link_sites and all(brand_owning(s) == brand for s in view.link_sites):
            continue
        return rules()["brand_claim_mismatch"].finding(
            f"{brand} in {where}", where if where in ("subject", "body") else "", brand=brand, where=where)
    return None


def mail_free_hosting(view: MessageView) -> Finding | None:
    """Mail from a brand's own domain whose link leads to a free hosting platform."""
    sender_brand = view.sender_brand
    if not sender_brand:
        return None
    for f in view.web:
        link_host = url_host(f.url)
        platform = free_platform(link_host) if f.context not in IMAGE_CONTEXTS else None
        if platform and brand_owning(site(link_host)) != sender_brand:
            return rules()["brand_mail_free_hosting"].finding(
                f"{sender_brand} -> {link_host}", brand=sender_brand, host=link_host)
    return None


def name_disguised(view: MessageView) -> Finding | None:
    """A brand spelt with look-alike characters in the subject or sender name.

    In the field whose characters deceptive_unicode_text already reported it is the same
    evidence; in the other field it is a second trick."""
    deceptive = deceptive_field(view)
    deceptive_where = deceptive[0] if deceptive else ""
    for brand, where, plain in view.brand_mentions:
        if not plain and where != deceptive_where:
            return rules()["brand_name_disguised"].finding(f"{brand} in {where}", brand=brand, where=where)
    return None
