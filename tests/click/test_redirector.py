"""The redirector over real HTTP: links, decisions, proceed, scanners, rate limit, click log."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from connectors.click_service import ClickService
from tap_core.click.decide import safe_location
from tap_core.click.pages import Branding
from tap_core.policy import Policy, UrlPolicy
from tap_core.urls.feeds import parse_feed
from tap_core.urls.normalize import normalize_url
from tests.click.conftest import BROWSER, Redirector, Site


def _proceed_href(body: str) -> str:
    start = body.index('id="proceed"')
    href = body[body.index('href="', start) + 6 :]
    return href[: href.index('"')].replace("&amp;", "&")


def _clicks(r: Redirector, tenant: str = "contoso") -> list:
    return r.stores.clicks.list_clicks(tenant, datetime.now(UTC) - timedelta(hours=1), limit=100)


# -- bad links: never a redirect ----------------------------------------------------------------
def test_forged_signature_gets_error_page(redirector: Redirector, site: Site) -> None:
    link = redirector.link(site.url("/ok"))
    head, _, query = link.partition("?")
    forged = head[:-4] + ("AAAA" if not head.endswith("AAAA") else "BBBB") + "?" + query
    resp = redirector.get(forged)
    assert resp.status_code == 400 and "location" not in resp.headers
    assert b"not valid" in resp.content


def test_tampered_destination_gets_error_page(redirector: Redirector, site: Site) -> None:
    link = redirector.link(site.url("/ok"))
    for tampered in (
        link.replace("/ok", "/evil"),
        link + "&x=1",
        link.split("?")[0] + "?https://evil.example/",
    ):
        resp = redirector.get(tampered)
        assert resp.status_code == 400 and "location" not in resp.headers


def test_truncated_and_unknown_key_links(redirector: Redirector, site: Site) -> None:
    link = redirector.link(site.url("/ok"))
    head, _, query = link.partition("?")
    assert redirector.get(head[:-3] + "?" + query).status_code == 400
    assert redirector.get(head.replace("/1.k1.", "/1.k9.") + "?" + query).status_code == 400
    assert redirector.get(head).status_code == 400  # no destination at all
    assert redirector.get(redirector.base + "/?https://evil.example/").status_code == 400


def test_expired_link_per_policy(redirector: Redirector, site: Site) -> None:
    redirector.policies["contoso"] = Policy(url=UrlPolicy(link_max_age_days=1))
    old = redirector.link(site.url("/ok"), issued_at=int(time.time()) - 3 * 86400)
    resp = redirector.get(old)
    assert resp.status_code == 400 and "location" not in resp.headers and b"expired" in resp.content


@pytest.mark.parametrize(
    "destination",
    [
        "//evil.example/x",
        "https:\\\\evil.example",
        "javascript:alert(1)",
        "https:/evil.example",
        "https:///evil.example",
        "data:text/html,<script>alert(1)</script>",
        "https://bank.example@evil.example/",
    ],
)
def test_no_open_redirect_even_for_signed_odd_destinations(redirector: Redirector, destination: str) -> None:
    from tap_core.urls.links import LinkContext

    link = redirector.codec.wrap(
        destination, LinkContext("contoso", "ann@contoso.example", b"", 1_700_000_000)
    )
    resp = redirector.get(link)
    assert "location" not in resp.headers
    assert resp.status_code in (400, 403)


def test_safe_location_refuses_header_injection() -> None:
    assert safe_location("https://a.example/x\r\nSet-Cookie: x=1") is None
    assert safe_location("https://a.example/\u00e9?q=<x>") == "https://a.example/%C3%A9?q=%3Cx%3E"
    assert safe_location("https://a.example/p?q=1&r=2#frag") == "https://a.example/p?q=1&r=2#frag"


def test_extra_path_segments_and_forged_proceed_rejected(redirector: Redirector, site: Site) -> None:
    link = redirector.link(site.url("/ok"))
    head, _, query = link.partition("?")
    token = head.rsplit("/", 1)[1]
    for path in (f"evil.example/{token}", f"go.AAAAAAAAAA.9999999999.AAAAAAAAAAAAAAAAAAAAAA/{token}"):
        resp = redirector.get(f"{redirector.base}/{path}?{query}")
        assert resp.status_code == 400 and "location" not in resp.headers


# -- decisions ----------------------------------------------------------------------------------
def test_clean_page_redirects_to_the_original_url(redirector: Redirector, site: Site) -> None:
    target = site.url("/ok/page?a=1&b=%20x")
    resp = redirector.get(redirector.link(target) + "#section")
    assert resp.status_code == 302, _clicks(redirector)[0].reasons
    assert resp.headers["location"] == target
    assert resp.headers["cache-control"] == "no-store"
    records = _clicks(redirector)
    assert records[0].decision == "redirect" and records[0].url == target
    assert records[0].recipient == "ann@contoso.example" and not records[0].is_scanner


def test_phishing_page_is_blocked(redirector: Redirector, site: Site) -> None:
    resp = redirector.get(redirector.link(site.url("/phish/login")))
    assert resp.status_code == 403 and "location" not in resp.headers
    assert b"blocked" in resp.content
    assert b"hxxp://localhost:" in resp.content
    rec = _clicks(redirector)[0]
    assert rec.decision == "block" and rec.verdict == "malicious"
    assert "page_form_exfil_endpoint" in rec.reasons


def test_suspicious_page_warns_and_proceed_works_once_signed(redirector: Redirector, site: Site) -> None:
    link = redirector.link(site.url("/suspicious/a"))
    resp = redirector.get(link)
    assert resp.status_code == 200 and b"Be careful" in resp.content
    proceed = _proceed_href(resp.text)
    assert urlsplit(proceed).path.startswith(urlsplit(redirector.base).path + "/go.")
    go = redirector.get(proceed)
    assert go.status_code == 302 and go.headers["location"] == site.url("/suspicious/a")
    decisions = [r.decision for r in _clicks(redirector)]
    assert decisions[:2] == ["proceed", "warn"]
    # Tampered signature, other link, scanner: never a redirect.
    head, _, query = proceed.partition("?")
    bad_sig = head.replace(head.split("/go.")[1].split("/")[0].split(".")[2], "A" * 22)
    assert redirector.get(bad_sig + "?" + query).status_code == 400
    other = redirector.link(site.url("/suspicious/b"))
    other_token = other.split("?")[0].rsplit("/", 1)[1]
    rebound = head.rsplit("/", 1)[0] + "/" + other_token + "?" + other.split("?", 1)[1]
    assert redirector.get(rebound).status_code == 400
    scanner = redirector.get(
        proceed, headers={"User-Agent": "Proofpoint URL Defense", "Accept-Language": "en"}
    )
    assert scanner.status_code == 200 and "location" not in scanner.headers


def test_proceed_link_expires(redirector: Redirector, site: Site) -> None:
    link = redirector.link(site.url("/suspicious/exp"))
    proceed = _proceed_href(redirector.get(link).text)
    service: ClickService = redirector.service
    service.clock = lambda: time.time() + 301
    try:
        resp = redirector.get(proceed)
    finally:
        service.clock = time.time
    assert resp.status_code == 400 and "location" not in resp.headers


def test_no_click_through_when_policy_forbids(redirector: Redirector, site: Site) -> None:
    redirector.policies["contoso"] = Policy(url=UrlPolicy(allow_click_through=False))
    resp = redirector.get(redirector.link(site.url("/suspicious/np")))
    assert resp.status_code == 200 and b'id="proceed"' not in resp.content


def test_url_listed_after_delivery_is_blocked_without_fetch(redirector: Redirector, site: Site) -> None:
    target = f"http://bad.click-test.example:{site.port}/later-bad/x"
    link = redirector.link(target)
    feed = parse_feed(f"{target}\n".encode(), name="late", category="phishing")
    redirector.intel.add_feed(feed)
    before = len(site.hits)
    resp = redirector.get(link)
    assert resp.status_code == 403
    assert not [h for h in site.hits[before:] if h.startswith("/later-bad")]


def test_excluded_destination_redirects_without_analysis(redirector: Redirector, site: Site) -> None:
    redirector.policies["contoso"] = Policy(url=UrlPolicy(do_not_rewrite=["localhost/excluded/*"]))
    target = site.url("/excluded/phish")
    resp = redirector.get(redirector.link(target))
    assert resp.status_code == 302 and resp.headers["location"] == target
    assert "/excluded/phish" not in site.hits


def test_single_use_links_are_never_fetched(redirector: Redirector, site: Site) -> None:
    for path in (
        "/reset-password?token=abc",
        "/auth/magic-link/xyz",
        "/unsubscribe?u=1",
        "/calendar/event?action=accept",
        "/verify/aZ3k9Qx7LmP2vR8tY6wN4bC1dE5f",
    ):
        target = site.url(path)
        resp = redirector.get(redirector.link(target))
        assert resp.status_code == 302 and resp.headers["location"] == target
        scanner = redirector.get(redirector.link(target), headers={"User-Agent": "Mimecast Link Scanner"})
        assert scanner.status_code == 200 and "location" not in scanner.headers
    assert not [
        h
        for h in site.hits
        if h.startswith(("/reset-password", "/auth/magic", "/unsubscribe", "/calendar", "/verify"))
    ]


def test_scanner_is_answered_without_fetch_and_logged(redirector: Redirector, site: Site) -> None:
    target = site.url("/scanned/page")
    for headers in (
        {"User-Agent": "Mozilla/5.0 (compatible; BingPreview/1.0b)", "Accept-Language": "en"},
        {"User-Agent": BROWSER["User-Agent"]},
    ):  # no Accept-Language
        resp = redirector.get(redirector.link(target), headers=headers)
        assert resp.status_code == 302
    head = redirector.get(redirector.link(target), method="HEAD")
    assert head.status_code == 302
    assert "/scanned/page" not in site.hits
    records = _clicks(redirector)
    assert all(r.is_scanner for r in records[:3])
    assert "scanner_head_request" in records[0].reasons


def test_click_at_delivery_is_a_scanner(redirector: Redirector, site: Site) -> None:
    redirector.get(redirector.link(site.url("/fresh"), issued_at=int(time.time())))
    rec = _clicks(redirector)[0]
    assert rec.is_scanner and "scanner_at_delivery" in rec.reasons


def test_rate_limit_per_link(redirector: Redirector, site: Site) -> None:
    redirector.service.settings = redirector.service.settings.model_copy(update={"click_rate_limit": 5})
    link = redirector.link(site.url("/popular"))
    codes = [redirector.get(link).status_code for _ in range(8)]
    assert 429 in codes and codes[0] == 302  # a fixed 5 s window may restart once within the burst
    assert codes.count(302) <= 10
    resp = next(r for r in (redirector.get(link) for _ in range(6)) if r.status_code == 429)
    assert resp.headers["retry-after"] == "5" and "location" not in resp.headers
    other = redirector.get(redirector.link(site.url("/popular-other")))
    assert other.status_code == 302  # the limit is per link


def test_memory_rate_limiter_is_fifty_per_five_seconds() -> None:
    from connectors.click_service import MemoryRateLimiter

    limiter = MemoryRateLimiter()
    start = time.time()
    results = [limiter.hit("link", 5, 50) for _ in range(51)]
    if int(time.time()) // 5 == int(start) // 5:
        assert results.count(True) == 50 and results[-1] is False


def test_analysis_timeout_warns_by_default(redirector: Redirector, site: Site) -> None:
    resp = redirector.get(redirector.link(site.url("/slow")))
    assert resp.status_code == 200 and b"Be careful" in resp.content
    rec = _clicks(redirector)[0]
    assert rec.decision == "warn" and "analysis_timeout" in rec.reasons


def test_malicious_download_is_not_redirected(redirector: Redirector, site: Site) -> None:
    resp = redirector.get(redirector.link(site.url("/file.exe")))
    assert resp.status_code in (200, 403) and "location" not in resp.headers


def test_cached_verdict_is_reused(redirector: Redirector, site: Site) -> None:
    target = site.url("/cached/page")
    redirector.get(redirector.link(target))
    redirector.get(redirector.link(target))
    assert site.hits.count("/cached/page") == 1


# -- SSRF through the redirector -----------------------------------------------------------------
def test_private_and_metadata_destinations_are_not_fetched(strict_redirector: Redirector, site: Site) -> None:
    for target in (
        "http://10.0.0.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        f"http://[::ffff:127.0.0.1]:{site.port}/x",
        f"http://2130706433:{site.port}/dec",
        f"http://0177.0.0.1:{site.port}/oct",
        f"http://localhost:{site.port}/name",
    ):
        resp = strict_redirector.get(strict_redirector.link(target))
        assert resp.status_code == 200 and "location" not in resp.headers  # warned: not checkable
    assert not [h for h in site.hits if h in ("/x", "/dec", "/oct", "/name")]


def test_redirect_from_allowed_page_to_private_address_is_refused(redirector: Redirector, site: Site) -> None:
    for path in ("/to-private", "/to-metadata"):
        resp = redirector.get(redirector.link(site.url(path)))
        assert resp.status_code == 200 and b"Be careful" in resp.content
        rec = _clicks(redirector)[0]
        assert "fetch_refused" in rec.reasons


# -- branding and escaping ---------------------------------------------------------------------
def test_xss_in_destination_and_branding_is_escaped(redirector: Redirector, site: Site) -> None:
    redirector.policies["contoso"] = Policy(
        branding=Branding(
            name='<script>alert("n")</script>',
            support_contact="<img src=x>",
            custom_text="</p><script>1</script>",
        )
    )
    norm = normalize_url(site.url('/suspicious/"><script>alert(1)</script>'))
    assert norm is not None
    target = norm.url  # links are made from normalised URLs, as the rewriter does
    resp = redirector.get(redirector.link(target))
    assert resp.status_code == 200
    assert b"<script" not in resp.content.lower()
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'none'" in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["cache-control"] == "no-store"
    with pytest.raises(ValueError):
        Branding(logo_url="javascript:alert(1)")
    with pytest.raises(ValueError):
        Branding(logo_url="http://contoso.example/logo.png")
    # The logo's host goes into the CSP: anything but a plain host (and port) is refused.
    for bad in ("https://a;script-src:*@x/", "https://user@cdn.example/l.png", "https://x;y.example/l.png"):
        with pytest.raises(ValueError):
            Branding(logo_url=bad)


def test_pages_may_load_images_from_the_tenant_logo_origin_only(redirector: Redirector, site: Site) -> None:
    redirector.policies["contoso"] = Policy(
        branding=Branding(name="Contoso", logo_url="https://CDN.contoso.example:8443/l.png")
    )
    target = normalize_url(site.url("/suspicious/page"))
    assert target is not None
    csp = redirector.get(redirector.link(target.url)).headers["content-security-policy"]
    assert "img-src https://cdn.contoso.example:8443;" in csp
    redirector.policies["contoso"] = Policy(branding=Branding(name="Contoso"))
    csp = redirector.get(redirector.link(target.url)).headers["content-security-policy"]
    assert "img-src 'none'" in csp


def test_a_visit_of_our_own_fetcher_is_logged_as_ours(redirector: Redirector, site: Site) -> None:
    from connectors.click_service import own_visit_token

    token = own_visit_token(redirector.codec)
    redirector.get(redirector.link(site.url("/ok/ours")), headers={**BROWSER, "X-TAP365-Visit": token})
    redirector.get(redirector.link(site.url("/ok/forged")), headers={**BROWSER, "X-TAP365-Visit": "f" * 32})
    by_url = {r.url: r for r in _clicks(redirector)}
    ours, forged = by_url[site.url("/ok/ours")], by_url[site.url("/ok/forged")]
    assert ours.is_scanner and "tap365_own_visit" in ours.reasons
    assert not forged.is_scanner


def test_the_page_is_fetched_in_the_language_of_the_person_who_clicked(redirector: Redirector, site: Site) -> None:
    redirector.get(redirector.link(site.url("/ok/localised")), headers={**BROWSER, "Accept-Language": "fr-FR,fr;q=0.9"})
    assert site.hits[-1] == "/ok/localised" and site.languages[-1] == "fr-FR,fr;q=0.9"
