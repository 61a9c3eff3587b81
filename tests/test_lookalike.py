"""tap_core.lookalike gives one answer for links and senders: a tenant look-alike is one for the
URL rule and for Impersonation Protect; a brand look-alike names the same brand for a link's
host and a sender's domain. And URL Protect drops click-only findings of resource URLs."""

from __future__ import annotations

import pytest

from tap_core.detect.groups import group_names
from tap_core.impersonation import ImpersonationPolicy, assess_impersonation
from tap_core.lookalike import brand_lookalike, brand_owning, brands_named, shared_matcher
from tap_core.model.findings import Finding, Verdict
from tap_core.model.message import Message
from tap_core.policy import Policy
from tap_core.urls.protect import UrlProtect
from tap_core.urls.rules import assess_url, url_findings
from tests.impersonation.conftest import EXTERNAL, NOW, make_message

TENANT = ["contoso.com"]


def _finding(url: str, name: str, **kwargs: object) -> Finding | None:
    return next((f for f in url_findings(url, **kwargs) if f.name == name), None)  # type: ignore[arg-type]


def test_kontoso_is_a_lookalike_of_the_tenant_for_links_and_senders() -> None:
    link = _finding("https://kontoso.com/x", "tenant_lookalike", tenant_domains=TENANT)
    assert link is not None and link.variant == "typo"
    assert "contoso.com" in link.reason and "'kontoso' is 1 edit(s) from 'contoso'" in link.reason

    sender = assess_impersonation(make_message("x@kontoso.com", headers=[EXTERNAL]), ImpersonationPolicy(),
                                  internal_domains=TENANT, vips=[], now=NOW)
    similar = [f for f in sender.indicators if f.name == "domain_similarity"]
    assert similar and "kontoso.com resembles contoso.com" in similar[0].evidence

    # One matcher, built once for the tuple of domains: links ask with the default rules unsaid,
    # Impersonation Protect with its policy's (by default the same) rules written out.
    assert shared_matcher(("contoso.com",)) is shared_matcher(("contoso.com",))
    policy_rules = ImpersonationPolicy().domain_matching.model_dump_json()
    assert shared_matcher(("contoso.com",), policy_rules) is shared_matcher(("contoso.com",))


@pytest.mark.parametrize(
    ("host", "variant"),
    [
        ("kontoso.com", "typo"),
        ("con.toso.com", "typo"),
        ("c0ntoso.com", "homoglyph"),
        ("con-toso.com", "hyphenation"),
        ("contoso.net", "tld_swap"),
        ("contoso-payroll.com", "token"),
        ("contoso.evil.net", "token"),
        ("contoso.com.evil.net", "embedded_domain"),
    ],
)
def test_tenant_lookalike_variants_follow_the_matcher(host: str, variant: str) -> None:
    found = _finding(f"https://{host}/", "tenant_lookalike", tenant_domains=TENANT)
    assert found is not None and found.variant == variant
    assert shared_matcher(("contoso.com",)).match(host) is not None


def test_tenant_name_before_the_at_is_an_embedded_domain() -> None:
    found = _finding("https://contoso.com@evil.example/", "tenant_lookalike", tenant_domains=TENANT)
    assert found is not None and found.variant == "embedded_domain"
    assert _finding("https://mail.contoso.com/", "tenant_lookalike", tenant_domains=TENANT) is None


@pytest.mark.parametrize(
    ("host", "brand", "variant"),
    [
        ("micros0ft-support.com", "Microsoft", "typo"),
        ("paypal.com.account-verify.xyz", "PayPal", "embedded_domain"),
        ("paypal-verify.com", "PayPal", "token"),
        ("xn--pypal-4ve.com", "PayPal", "typo"),  # Cyrillic а
        ("faceboook.com", "Meta", "typo"),
    ],
)
def test_a_brand_lookalike_is_the_same_brand_for_a_link_and_a_sender(host: str, brand: str, variant: str) -> None:
    link = _finding(f"https://{host}/", "brand_lookalike")
    sender = brand_lookalike(host)
    assert link is not None and sender is not None
    assert (sender.brand, sender.variant) == (brand, variant) and link.variant == variant
    assert f"imitates {brand} ({sender.how})" in link.reason


def test_brand_lookalike_reads_unicode_domains_and_spares_the_brand_itself() -> None:
    unicode_host = brand_lookalike("pаypal.com")  # Cyrillic а, as a sender's domain may be written
    assert unicode_host is not None and unicode_host == brand_lookalike("xn--pypal-4ve.com")
    assert brand_lookalike("www.paypal.com") is None and brand_owning("www.paypal.com") == "PayPal"
    assert brands_named("PayPaI Service") == ["PayPal"]


def _html_message(html: str) -> Message:
    return Message(source="test", html_body=html)


def test_resource_only_urls_lose_click_only_findings() -> None:
    url = "https://cdn.example.net/app/update.hta"
    clicked = assess_url(url)
    assert clicked.verdict is Verdict.SUSPICIOUS
    assert [f.group for f in clicked.findings] == ["url_click"]

    protect = UrlProtect(Policy().url)
    as_link = protect.scan(_html_message(f'<p><a href="{url}">update</a></p>')).results[url]
    assert as_link.verdict is Verdict.SUSPICIOUS and "link_dangerous_extension" in as_link.reasons
    as_script = protect.scan(_html_message(f'<script src="{url}"></script><p>hi</p>')).results[url]
    assert as_script.verdict is Verdict.CLEAN and as_script.findings == [] and as_script.score == 0.0


def test_resource_only_urls_keep_the_rest_and_are_scored_again() -> None:
    url = "https://shop.example.xyz/wp-admin/login.php"  # suspicious_tld + credential_keywords_path
    html = f'<div style="background: url({url})">hi</div>'
    result = UrlProtect(Policy().url).scan(_html_message(html)).results[url]
    assert result.reasons == ["suspicious_tld"]
    assert result.score == 2.0 and result.verdict is Verdict.CLEAN
    assert not {f.group for f in result.findings} & group_names(click_only=True)


def test_the_organisations_own_account_on_a_brands_platform_is_not_a_lookalike() -> None:
    """contoso.sharepoint.com is Contoso's own SharePoint, for links and senders alike; the same
    name on a free platform anyone may claim (contoso.github.io) still imitates it."""
    from tap_core.lookalike import shared_matcher

    matcher = shared_matcher(("contoso.com",))
    assert matcher.match("contoso.sharepoint.com") is None
    assert matcher.match("contoso.github.io") is not None
    assert matcher.match("kontoso.com") is not None
    own = UrlProtect(Policy().url, tenant_domains=["contoso.com"]).scan(
        _html_message('<a href="https://contoso.sharepoint.com/sites/board">minutes</a>'))
    assert all(f.name != "tenant_lookalike" for r in own.results.values() for f in r.findings)
