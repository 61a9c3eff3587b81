"""Brand clones at click time: which brand a page presents (``identify``), and the verdict of a
brand's sign-in or payment form on a host that is not the brand's (``page_brand_clone``).

Pages are small fixtures written here, in the shapes real pages take: a kit's saved copy of a
brand's sign-in page, the brand's own page, a shop's sign-up page offering "Sign in with Google",
an ADFS page with Microsoft's copyright, a club whose name is an ordinary word that is also a brand.
"""

from __future__ import annotations

import asyncio
import ipaddress

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from connectors.fetcher import SafeFetcher
from tap_core.click.analyze import ClickAnalyzer
from tap_core.click.fetch import FetchLimits
from tap_core.click.rules import analyze_html
from tap_core.click.rules.identify import brand_table, identify
from tap_core.click.rules.parse import parse
from tap_core.detect.scoring import score
from tap_core.model.findings import Verdict
from tap_core.urls.policy import DEFAULT_THRESHOLDS
from tests.click.servers import serve

KIT_HOST = "https://secure-account-check.example.net/login/"

MICROSOFT_CLONE = """<!DOCTYPE html><html><head><title>Sign in to your account</title>
<link rel="shortcut icon" href="https://aadcdn.msftauth.net/shared/1.0/content/images/favicon_a_eupayfgghqiai7k9sol6lg2.ico">
<link rel="stylesheet" href="https://aadcdn.msftauth.net/ests/2.1/content/cdnbundles/converged.v2.login.min_81imvbluez-v5hbzpkxfcg2.css">
</head><body><div class="inner"><img class="logo" alt="Microsoft" src="images/microsoft_logo.svg">
<div role="heading">Sign in</div>
<form method="post" action="next.php"><input type="email" name="loginfmt" id="i0116" placeholder="Email, phone, or Skype">
<input type="password" name="passwd" id="i0118" placeholder="Password">
<input type="submit" id="idSIButton9" value="Sign in"></form>
<div class="footer">&copy;2024 Microsoft <a href="#">Terms of use</a> <a href="#">Privacy &amp; cookies</a></div>
</div></body></html>"""

SHOP_SIGNUP = """<!DOCTYPE html><html><head><title>Create your account | Harbour Lane Outfitters</title>
<script src="https://connect.facebook.net/en_US/sdk.js"></script>
<script src="https://apis.google.com/js/platform.js"></script></head><body>
<h1>Create your account</h1>
<a class="social" href="/auth/google"><img src="/img/google-icon.svg" alt="Google"> Sign in with Google</a>
<button class="social">Continue with Facebook</button>
<form action="/account/register" method="post"><label>Email</label><input type="email" name="email">
<label>Password</label><input type="password" name="password"><button>Create account</button></form>
<footer><img src="/img/visa.png" alt="Visa"><img src="/img/mastercard.png" alt="Mastercard">
<img src="/img/paypal.png" alt="PayPal"> &copy; 2024 Harbour Lane Outfitters</footer></body></html>"""

ADFS_PAGE = """<html><head><title>Sign In</title></head><body><div id="header">Contoso Ltd</div>
<form method="post" id="loginForm" action="/adfs/ls/?client-request-id=1"><label>User Account</label>
<input id="userNameInput" name="UserName" type="email"><label>Password</label>
<input id="passwordInput" name="Password" type="password"><span id="submitButton">Sign in</span></form>
<div id="footer">&copy; 2016 Microsoft</div></body></html>"""

CLUB_PAGE = """<html><head><title>Apple Orchard Growers Club - Member log in</title></head><body>
<h1>Members' area</h1><form action="/members/login" method="post"><label>Member number</label>
<input name="member"><label>Password</label><input type="password" name="pw"></form></body></html>"""

PAYPAL_CARD = """<html><head><title>PayPal: Update your payment method</title>
<link rel="icon" href="https://www.paypalobjects.com/en_US/i/icon/pp_favicon_x.ico"></head><body>
<img src="assets/paypal-logo.png" alt="PayPal"><h1>Confirm your card</h1>
<form action="update.php" method="post"><label>Card number</label><input name="cardnumber" autocomplete="cc-number">
<label>Expiry date</label><input name="exp" autocomplete="cc-exp"><label>CVV</label><input name="cvv" autocomplete="cc-csc">
<button>Continue</button></form><p>Copyright &copy; 1999-2024 PayPal. All rights reserved.</p></body></html>"""


def _names(html: str, url: str) -> set[str]:
    return {f.name for f in analyze_html(html, url)}


def _verdict(html: str, url: str) -> Verdict:
    return score(analyze_html(html, url), DEFAULT_THRESHOLDS).verdict


def test_the_brand_table_covers_the_most_phished_brands() -> None:
    table = brand_table()
    assert len(table.brands) >= 100
    for name in ("Microsoft", "Google", "PayPal", "Meta", "Apple", "Amazon", "Netflix", "DHL"):
        brand = table.by_name[name]
        assert brand.names and brand.domains, name


def test_a_kit_copy_of_a_sign_in_page_is_identified_by_independent_evidence() -> None:
    presented = identify(parse(MICROSOFT_CLONE, KIT_HOST))
    assert presented and presented[0].brand.name == "Microsoft"
    top = presented[0]
    assert top.sure
    # Not one clue but several that agree: the copyright, the logo, the assets and the favicon.
    assert {"copyright", "logo", "favicon"} <= set(top.kinds)


def test_a_brand_clone_off_the_brands_domains_is_malicious_on_its_own() -> None:
    findings = analyze_html(MICROSOFT_CLONE, KIT_HOST)
    clone = next(f for f in findings if f.name == "page_brand_clone")
    assert clone.verdict is Verdict.MALICIOUS
    assert "Microsoft" in clone.reason and "password" in clone.reason
    assert _verdict(MICROSOFT_CLONE, KIT_HOST) is Verdict.MALICIOUS


def test_the_same_page_on_the_brands_own_sign_in_host_is_not_a_clone() -> None:
    real = MICROSOFT_CLONE.replace('action="next.php"', 'action="/common/login"')
    assert "page_brand_clone" not in _names(real, "https://login.microsoftonline.com/common/login")
    assert _verdict(real, "https://login.live.com/login.srf") is Verdict.CLEAN


def test_a_saved_page_that_sends_the_password_to_the_brand_itself_is_not_a_clone() -> None:
    saved = MICROSOFT_CLONE.replace('action="next.php"', 'action="https://login.live.com/ppsecure/post.srf"')
    assert "page_brand_clone" not in _names(saved, KIT_HOST)


def test_other_providers_sign_in_buttons_and_card_logos_are_not_presentation() -> None:
    url = "https://www.harbourlane.example.com/account/register"
    assert not [e for e in identify(parse(SHOP_SIGNUP, url)) if e.sure]
    assert "page_brand_clone" not in _names(SHOP_SIGNUP, url)
    assert _verdict(SHOP_SIGNUP, url) is Verdict.CLEAN


def test_an_identity_provider_footer_alone_does_not_make_a_company_page_a_clone() -> None:
    assert "page_brand_clone" not in _names(ADFS_PAGE, "https://sts.contoso.example.com/adfs/ls/")


def test_an_ordinary_word_that_is_also_a_brand_needs_more_than_the_name() -> None:
    assert not [e for e in identify(parse(CLUB_PAGE, "https://orchard-club.example.org/")) if e.brand.name == "Apple"]
    assert "page_brand_clone" not in _names(CLUB_PAGE, "https://orchard-club.example.org/")


def test_a_brand_payment_form_off_its_domains_is_a_clone_too() -> None:
    findings = analyze_html(PAYPAL_CARD, "http://billing-update.example.org/pp/")
    clone = [f for f in findings if f.name == "page_brand_clone"]
    assert clone and "PayPal" in clone[0].reason


def test_no_secret_asked_no_clone() -> None:
    brochure = MICROSOFT_CLONE.replace('<input type="password" name="passwd" id="i0118" placeholder="Password">', "")
    assert "page_brand_clone" not in _names(brochure, KIT_HOST)


def test_the_redirector_blocks_a_clone_fetched_over_http() -> None:
    """Through the analyzer the redirector runs, with the real safe fetcher over real HTTP."""

    async def run(port: int) -> None:
        fetcher = SafeFetcher(
            allow_networks=[ipaddress.ip_network("127.0.0.1/32")],
            limits=FetchLimits(timeout_seconds=10),
        )
        try:
            analysis = await ClickAnalyzer(fetcher).analyze(f"http://127.0.0.1:{port}/login/")
        finally:
            await fetcher.aclose()
        assert analysis.verdict is Verdict.MALICIOUS
        assert "page_brand_clone" in analysis.reasons

    async def page(_request: object) -> HTMLResponse:
        return HTMLResponse(MICROSOFT_CLONE)

    with serve(Starlette(routes=[Route("/login/", page)])) as port:
        asyncio.run(run(port))


def test_an_identity_providers_approval_screen_off_its_domains_is_a_clone() -> None:
    approve = """<html><head><title>Microsoft account - Approve sign in request</title>
<link rel="icon" href="https://aadcdn.msftauth.net/shared/1.0/content/images/favicon_a.ico"></head><body>
<img alt="Microsoft" src="img/microsoft_logo.svg"><h1>Approve sign in request</h1>
<p>Open your Authenticator app and approve the request to sign in.</p>
<form action="approve.php" method="post"><button type="submit">Approve</button></form></body></html>"""
    findings = analyze_html(approve, "https://mfa-verify.example.net/")
    assert "page_consent_grant" in {f.name for f in findings}
    clone = [f for f in findings if f.name == "page_brand_clone"]
    assert clone and "approval" in clone[0].reason


def test_a_kit_with_its_assets_saved_beside_it_is_known_by_its_title() -> None:
    """No request to the brand's servers (a kit ships its copies): the title still says whose
    sign-in page this is."""
    kit = """<html><head><title>Facebook - log in or sign up</title>
<link rel="stylesheet" href="mobile_files/V0Om-DH9YTH.css"></head><body>
<form method="post" action="login.php"><input name="email" placeholder="Mobile number or email address">
<input type="password" name="pass" placeholder="Password"><button name="login">Log in</button></form>
<a href="#">Forgotten password?</a></body></html>"""
    clone = [f for f in analyze_html(kit, "http://free-likes.example.org/fb/") if f.name == "page_brand_clone"]
    assert clone and "Facebook" in clone[0].reason and clone[0].evidence.startswith("Meta on ")
    # The brand's own address is not a clone, whatever its title says.
    assert "page_brand_clone" not in _names(kit, "https://m.facebook.com/login/")
