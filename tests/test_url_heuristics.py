"""URL heuristics and assess_url: each named finding fires where it should and not elsewhere."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tap_core.detect.scoring import Thresholds
from tap_core.model.findings import Verdict
from tap_core.urls.feeds import FeedFormat, parse_feed
from tap_core.urls.intel import IntelIndex
from tap_core.urls.rules import (
    assess_url,
    link_text_mismatch,
    rules,
    url_findings,
)


def _names(url: str, **kwargs: object) -> list[str]:
    return [f.name for f in url_findings(url, **kwargs)]  # type: ignore[arg-type]


def test_every_rule_in_the_table_has_a_reason_and_a_score() -> None:
    table = rules()
    for name in (
        "ip_literal_host",
        "punycode_host",
        "mixed_script_host",
        "brand_lookalike",
        "tenant_lookalike",
        "url_shortener",
        "free_hosting",
        "suspicious_tld",
        "credential_keywords_path",
        "at_in_authority",
        "data_uri",
        "javascript_uri",
        "nested_redirect",
        "link_dangerous_extension",
        "link_text_mismatch",
        "non_standard_port",
        "excessive_subdomains",
        "encoded_host",
        "ipfs_gateway",
    ):
        rule = table[name]
        assert rule.reason
        assert rule.weight > 0 or rule.weights, name


@pytest.mark.parametrize(
    "url",
    [
        "https://www.nytimes.com/2024/05/01/world/news.html?utm_source=newsletter&utm_medium=email",
        "https://www.amazon.com/gp/your-account/order-history?ref_=pe_1",
        "https://accounts.google.com/signin/v2/identifier",
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        "https://contoso.sharepoint.com/sites/team/Shared%20Documents/report.docx",
        "https://github.com/python/cpython/releases",
        "https://www.groupon.com/deals/spa",
        "https://www.pineapple-recipes.com/cakes",
        "https://www.chaseoutdoors.example/",
        "https://news.example.com/unsubscribe?id=123",
    ],
)
def test_legitimate_links_are_clean(url: str) -> None:
    result = assess_url(url)
    assert result.verdict is Verdict.CLEAN, (url, result.findings)


def test_brand_embedded_in_foreign_domain_is_at_least_suspicious() -> None:
    result = assess_url("http://paypal.com.account-verify.xyz/login")
    assert result.verdict in (Verdict.SUSPICIOUS, Verdict.MALICIOUS)
    assert {"brand_lookalike", "suspicious_tld", "credential_keywords_path"} <= set(result.reasons)
    brand = next(f for f in result.findings if f.name == "brand_lookalike")
    assert "PayPal" in brand.reason


@pytest.mark.parametrize(
    "host",
    [
        "micros0ft-support.com",  # digit homoglyph
        "rnicrosoft.com",  # rn -> m
        "paypall-secure.net",  # repetition
        "www-paypal-com.evil.example",  # embedded with hyphens
        "xn--pypal-4ve.com",  # Cyrillic a in paypal
        "faceboook.com",
        "netflix-billing.example",
        "apple-id-verify.example",  # weak brand token next to lure words
        "ups-redelivery.example",
    ],
)
def test_brand_lookalikes(host: str) -> None:
    assert "brand_lookalike" in _names(f"https://{host}/")


@pytest.mark.parametrize(
    "host",
    [
        "www.paypal.com",
        "paypal.me",
        "www.google.co.uk",
        "mail.google.com",
        "groups.example.com",  # "ups" inside a word
        "startups.example.com",
        "apple-pie.example",  # weak brand without a lure
        "pineapple.example",
        "mac-in-town.com",  # weak brand before a short country-like token
        "star-telegram.com",  # a brand name that is also a newspaper word
        "microsoftonline.com",
        "x.s3.amazonaws.com",  # the platform's name is not the user's choice
        "storage.googleapis.com",
    ],
)
def test_brand_lookalike_does_not_fire(host: str) -> None:
    assert "brand_lookalike" not in _names(f"https://{host}/")


def test_brand_in_user_site_on_free_host() -> None:
    result = assess_url("https://netflix-login-help.vercel.app/")
    assert {"brand_lookalike", "free_hosting"} <= set(result.reasons)
    assert result.verdict is Verdict.SUSPICIOUS


def test_tenant_lookalike() -> None:
    tenant = ["contoso.com", "contoso.co.uk"]
    assert "tenant_lookalike" in _names("https://c0ntoso.com/", tenant_domains=tenant)
    assert "tenant_lookalike" in _names("https://contoso-payroll.example/", tenant_domains=tenant)
    assert "tenant_lookalike" in _names("https://contoso.com.evil.example/", tenant_domains=tenant)
    assert "tenant_lookalike" not in _names("https://mail.contoso.com/", tenant_domains=tenant)
    assert "tenant_lookalike" not in _names("https://www.contoso.co.uk/", tenant_domains=tenant)
    assert "tenant_lookalike" not in _names("https://c0ntoso.com/")  # no tenant given


def test_ip_literal_and_encoded_hosts() -> None:
    assert "ip_literal_host" in _names("http://192.0.2.10/login")
    assert "ip_literal_host" in _names("http://[2001:db8::1]/")
    assert "encoded_host" in _names("http://3232235777/")
    assert "encoded_host" in _names("http://0xc0.0xa8.1.1/")
    assert "encoded_host" not in _names("http://192.0.2.10/")


def test_punycode_and_mixed_script() -> None:
    assert _names("https://xn--mller-kva.de/") == ["punycode_host"]  # müller.de: plain Latin IDN
    names = _names("https://xn--pypal-4ve.com/")
    assert {"punycode_host", "mixed_script_host"} <= set(names)
    assert "mixed_script_host" in _names("https://xn--80ak6aa92e.com/")  # all-Cyrillic look-alike


def test_shortener_free_hosting_tld_ipfs() -> None:
    assert _names("https://bit.ly/3abcDEF") == ["url_shortener"]
    assert _names("https://someone.weebly.com/") == ["free_hosting"]
    assert "free_hosting" in _names("https://sites.google.com/view/anything")
    assert "free_hosting" not in _names("https://weebly.com/")
    assert _names("https://shop.example.xyz/") == ["suspicious_tld"]
    cid = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
    assert "ipfs_gateway" in _names(f"https://ipfs.io/ipfs/{cid}/login.html")
    assert "ipfs_gateway" in _names(f"https://any-gateway.example/ipfs/{cid}")


def test_ipfs_gateway_named_is_the_most_specific_listed() -> None:
    # ipfs.io and gateway.ipfs.io are both listed: the finding names the same one in every process.
    for url, gateway in (
        ("https://gateway.ipfs.io/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "gateway.ipfs.io"),
        ("https://dweb.ipfs.io/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "ipfs.io"),
    ):
        (found,) = [f for f in url_findings(url) if f.name == "ipfs_gateway"]
        assert f"through {gateway};" in found.reason


def test_credential_keywords_only_on_hosts_that_are_not_a_brand() -> None:
    assert "credential_keywords_path" in _names("https://shop.example/wp-admin/office365/login.php")
    assert "credential_keywords_path" not in _names("https://www.paypal.com/signin")
    assert rules()["credential_keywords_path"].weight < 2  # weak on purpose


def test_scheme_userinfo_port_subdomains() -> None:
    assert _names("javascript:alert(document.cookie)") == ["javascript_uri"]
    assert _names("data:text/html;base64,PHNjcmlwdD4=") == ["data_uri"]
    names = _names("https://www.paypal.com@evil.example/")
    assert "at_in_authority" in names and "brand_lookalike" in names
    assert "non_standard_port" in _names("http://example.com:8081/")
    assert "non_standard_port" not in _names("https://example.com:443/")
    assert "excessive_subdomains" in _names("https://login.microsoft.com.a.b.evil.com/")
    assert "excessive_subdomains" not in _names("https://a.b.example.com/")


def test_nested_redirect_and_dangerous_extension() -> None:
    assert "nested_redirect" in _names("https://r.example.com/c?u=https%3A%2F%2Fevil.example%2Flogin")
    assert "nested_redirect" not in _names("https://example.com/c?next=https://www.example.com/home")
    assert "link_dangerous_extension" in _names("https://files.example/invoice.pdf.js")
    assert "link_dangerous_extension" in _names("https://files.example/dl.php?file=setup.msi")
    assert "link_dangerous_extension" not in _names("https://files.example/report.pdf")
    high = [f for f in url_findings("https://x.example/a.hta") if f.name == "link_dangerous_extension"]
    medium = [f for f in url_findings("https://x.example/a.exe") if f.name == "link_dangerous_extension"]
    assert high[0].score > medium[0].score


def test_link_text_mismatch() -> None:
    found = link_text_mismatch("www.paypal.com", "https://evil.example/login")
    assert found is not None and found.evidence == "www.paypal.com -> evil.example"
    assert link_text_mismatch("https://www.paypal.com/", "https://evil.example/") is not None
    # same site, subdomains, plain words, file names, emails: not a mismatch
    assert link_text_mismatch("paypal.com", "https://www.paypal.com/signin") is None
    assert link_text_mismatch("https://www.straße.de/", "https://www.xn--strae-oqa.de/a") is None  # ß
    assert link_text_mismatch("Click here", "https://evil.example/") is None
    assert link_text_mismatch("report.md", "https://github.com/x/y") is None
    assert link_text_mismatch("support@paypal.com", "https://evil.example/") is None
    # marketing click trackers: weak; a redirect to the shown site: none
    tracked = link_text_mismatch("www.shop-example.com", "https://click.list-manage.com/track?id=1")
    assert tracked is not None and tracked.score < 2
    redirect = "https://t.example.net/r?url=https%3A%2F%2Fshop-example.com%2F"
    assert link_text_mismatch("shop-example.com", redirect) is None


def test_assess_url_link_text_makes_suspicious() -> None:
    result = assess_url("https://evil.example/x", link_text="www.paypal.com")
    assert result.verdict is Verdict.SUSPICIOUS
    assert result.reasons == ["link_text_mismatch"]


def test_intel_hit_alone_is_malicious_with_feed_evidence() -> None:
    feed = parse_feed(b"https://plain-looking.example/docs\n", name="openphish", format=FeedFormat.OPENPHISH)
    intel = IntelIndex.from_feeds([feed])
    result = assess_url("https://plain-looking.example/docs/view", intel=intel)
    assert result.verdict is Verdict.MALICIOUS
    intel_finding = result.findings[0]
    assert intel_finding.name == "intel_phishing"
    assert intel_finding.verdict is Verdict.MALICIOUS
    assert "openphish" in intel_finding.evidence and "plain-looking.example/docs" in intel_finding.evidence
    assert assess_url("https://plain-looking.example/other", intel=intel).verdict is Verdict.CLEAN


def test_thresholds_decide_the_verdict() -> None:
    url = "https://shop.example:8081/account/login"  # non_standard_port + credential_keywords_path = 3.5
    assert assess_url(url).verdict is Verdict.CLEAN
    strict = Thresholds(suspicious=3.0, malicious=3.5)
    assert assess_url(url, thresholds=strict).verdict is Verdict.MALICIOUS
    # suspicious_tld's group (url_hosting) never raises a verdict above SUSPICIOUS on its own.
    hosted = assess_url("https://shop.example.xyz/account/login", thresholds=strict)
    assert (hosted.score, hosted.verdict) == (3.5, Verdict.SUSPICIOUS)
    with pytest.raises(ValidationError):
        Thresholds(suspicious=9.0, malicious=5.0)
    with pytest.raises(ValidationError):
        Thresholds(suspicious=5.0)  # type: ignore[call-arg]


def test_unparsable_url_does_not_raise() -> None:
    result = assess_url("http://[::1")
    assert result.verdict is Verdict.CLEAN


def test_base64_hidden_destination_and_ip_named_cloud_hosts() -> None:
    hidden = assess_url("http://t.sender.example/click/9Y31b6/aHR0cHM6Ly9ldmlsLmV4YW1wbGUub3JnL2xvZ2lu")
    assert [(f.name, f.score) for f in hidden.findings] == [("nested_redirect", 2.5)]
    same_site = assess_url("https://t.example.com/r?u=aHR0cHM6Ly93d3cuZXhhbXBsZS5jb20v")
    assert "nested_redirect" not in {f.name for f in same_site.findings}
    ec2 = assess_url("http://ec2-13-52-185-2.us-west-1.compute.amazonaws.com/")
    assert "ip_in_hostname" in {f.name for f in ec2.findings}
    assert "ip_in_hostname" not in {f.name for f in assess_url("https://myapp.herokuapp.com/").findings}


def test_policy_url_thresholds_are_the_one_thresholds_class() -> None:
    from tap_core.policy import Policy, PolicyError, parse_policy

    assert Policy().url.thresholds == Thresholds(suspicious=5.0, malicious=9.0)
    old_style = parse_policy("url: {thresholds: {suspicious_score: 4, malicious_score: 8}}")
    assert old_style.url.thresholds == Thresholds(suspicious=4.0, malicious=8.0)
    assert parse_policy("url: {thresholds: {suspicious: 6}}").url.thresholds.malicious == 9.0
    for bad in ("url: {thresholds: {suspicious_scor: 4}}", "url: {thresholds: {suspicious: 10}}"):
        with pytest.raises(PolicyError):
            parse_policy(bad)
