"""Page analysis: lure language, data-harvesting forms, consent/approval pages, scripted clicks,
fake attachments and unbranded bank sign-ins -- and pages that must stay clean."""

from __future__ import annotations

import pytest

from tap_core.click.rules import analyze_html, page_rules, redirect_targets
from tap_core.model.findings import Finding

URL = "https://pages.example.net/a/index.html"
SUSPICIOUS = 5.0


def _run(html: str, url: str = URL) -> tuple[dict[str, Finding], float]:
    findings = analyze_html(html, url)
    return {f.name: f for f in findings}, sum(f.score for f in findings)


def _nav(n: int) -> str:
    return "".join(f"<a href='/section/{i}'>Section {i}</a>" for i in range(n))


def test_every_new_finding_is_a_rule() -> None:
    rules = page_rules()
    for name in (
        "page_lure_text",
        "page_threat_text",
        "page_lure_with_action",
        "page_form_sensitive_data",
        "page_consent_grant",
        "page_auto_click",
        "page_bank_name_foreign",
        "page_fake_attachment",
    ):
        assert rules[name].reason


def test_german_account_lure_with_card_form_is_flagged() -> None:
    html = (
        "<title>Kundenservice</title><p>Ihr Konto wurde gesperrt. Bitte bestätigen Sie Ihre Angaben.</p>"
        "<form action='verify.php' method='post'>"
        "<label for='k'>Kartennummer</label><input id='k' name='k'>"
        "<input name='cvc' placeholder='CVC'><input type='password' name='pw'>"
        "<button>Weiter</button></form>"
    )
    found, score = _run(html)
    assert {"page_lure_text", "page_form_sensitive_data", "page_lure_with_action"} <= found.keys()
    assert "card" in found["page_form_sensitive_data"].evidence
    assert "password" in found["page_form_sensitive_data"].evidence
    assert found["page_form_sensitive_data"].score == 3.5
    assert score >= SUSPICIOUS


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("<label>Social Security Number</label><input name='f1'>", "national id"),
        ("<input name='otpCode' placeholder='One-time code'>", "mfa"),
        ("<input name='telefono' placeholder='Teléfono para el doble factor'>", "mfa"),
        ("<input name='rekening' aria-label='IBAN'>", "bank"),
        ("<input name='q1' placeholder='Mother&#39;s maiden name'>", "secret answer"),
    ],
)
def test_sensitive_fields_without_a_password(field: str, kind: str) -> None:
    found, _ = _run(f"<form action='/step2.php' method='post'>{field}<button>Next</button></form>")
    assert found["page_form_sensitive_data"].evidence.startswith(kind)
    assert found["page_form_sensitive_data"].score == 2.0


def test_ordinary_forms_are_not_sensitive() -> None:
    signup = (
        "<form action='/join' method='post'><input name='firstName'><input name='email'>"
        "<input name='phone' type='tel'><input name='zip' placeholder='PIN code'>"
        "<input type='password' name='password'><button>Join</button></form>"
    )
    assert "page_form_sensitive_data" not in _run(signup)[0]
    # A card form that script handles (no action, no POST) and one posting to a known brand.
    scripted = "<form><input name='creditCard' autocomplete='cc-number'><button>Pay</button></form>"
    assert "page_form_sensitive_data" not in _run(scripted)[0]
    brand = "<form action='https://www.paypal.com/pay' method='post'><input name='cardNumber'></form>"
    assert "page_form_sensitive_data" not in _run(brand)[0]


def test_consent_page_asking_for_mail_access() -> None:
    html = (
        "<title>Permissions requested</title><p>Mail Helper wants to access your account</p>"
        "<ul><li>Read your email</li><li>Send email on your behalf</li></ul>"
        "<form action='/grant' method='post'><button type='submit'>Allow</button>"
        "<button type='button'>Cancel</button></form>"
    )
    found, score = _run(html)
    assert found["page_consent_grant"].score == 5.0
    assert score >= SUSPICIOUS
    # The identity provider's own consent page is what consent looks like.
    assert "page_consent_grant" not in _run(html, "https://login.microsoftonline.com/common/oauth2")[0]


def test_sign_in_page_with_an_accept_button_is_not_consent() -> None:
    html = (
        "<title>Acceder a tu cuenta</title><form action='/login' method='post'>"
        "<input name='user'><input type='password' name='pw'><button>Aceptar</button></form>"
        "<a href='/forgot'>¿Olvidaste tu contraseña?</a>"
    )
    assert "page_consent_grant" not in _run(html)[0]


def test_mfa_approval_page() -> None:
    html = (
        "<title>Two-factor sign-in request</title><p>A sign-in request is waiting for you.</p>"
        "<form action='approve.php' method='post'><button>Approve</button></form>"
    )
    found, _ = _run(html)
    assert found["page_consent_grant"].score == 5.0


def test_scripted_click_on_a_foreign_link() -> None:
    html = (
        "<body onload=\"document.getElementById('go').click()\">"
        "<a id='go' href='https://landing.example.org/start#123'>Continue</a></body>"
    )
    findings = analyze_html(html, URL)
    names = {f.name for f in findings}
    assert {"page_auto_click", "page_meta_redirect"} <= names
    assert sum(f.score for f in findings) >= SUSPICIOUS
    assert redirect_targets(findings) == ["https://landing.example.org/start#123"]
    # A click on a link of the same site is navigation inside the site.
    same = "<script>document.querySelector('#n').click()</script><a id='n' href='/next'>next</a>"
    assert "page_auto_click" not in _run(same)[0]


def test_page_dressed_as_a_mail_with_an_attachment() -> None:
    html = (
        "<div>From: Accounts &lt;billing@vendor.example&gt;</div><div>Subject: overdue invoice</div>"
        "<p>Please find the overdue invoice attached. Review required.</p>"
        "<div class='att'>Attachment: INV_2291.pdf (84 KB)</div>"
    )
    found, score = _run(html)
    assert found["page_fake_attachment"].score == 5.0  # the page is the message and nothing else
    assert "INV_2291.pdf" in found["page_fake_attachment"].evidence
    assert "page_lure_text" in found
    assert score >= SUSPICIOUS


def test_mail_archive_page_is_weaker_than_a_page_that_is_only_the_mail() -> None:
    message = (
        "<pre>From: Dev Lead &lt;lead@lists.example.org&gt;\nSubject: build logs</pre>"
        "<p>Logs attached.</p><p>Attachment: build-log.txt</p>"
    )
    alone, alone_score = _run(message)
    archive, archive_score = _run(message + _nav(6))
    assert alone["page_fake_attachment"].score == 5.0
    assert alone_score >= SUSPICIOUS
    assert archive["page_fake_attachment"].score == 3.5
    assert archive_score < SUSPICIOUS


def test_kit_name_in_the_code_is_stronger_than_in_an_article() -> None:
    kit = "<html><!-- 16shop v3 panel --><body><h1>Welcome</h1><p>Continue below.</p></body></html>"
    path = "<body><img src='/16SHOP/assets/logo.png'><p>Loading...</p></body>"
    before = "<!-- scampage by x --><!doctype html><html><body><p>Loading...</p></body></html>"
    article = (
        "<title>Inside a phishing kit</title><p>Researchers described the 16shop kit and its "
        "panel.</p>" + _nav(8)
    )
    for page in (kit, path, before):
        found, score = _run(page)
        assert found["page_kit_marker"].score == 5.0
        assert score >= SUSPICIOUS
    found, score = _run(article)
    assert found["page_kit_marker"].score == 4.0
    assert score < SUSPICIOUS
    # Code idioms kits share with some ordinary sites stay a trace wherever they are.
    assert (
        _run("<form action='send.php' method='post'><input name='q'></form>")[0]["page_kit_marker"].score
        == 4.0
    )


def test_a_form_that_moves_the_second_factor_to_a_new_phone() -> None:
    html = (
        "<h1>Helpdesk reset</h1><form action='reset.php' method='post'>"
        "<label>Employee name</label><input name='employee'>"
        "<label>New phone number for MFA</label><input name='phone2'>"
        "<button>Process reset</button></form>"
    )
    found, score = _run(html)
    assert found["page_form_sensitive_data"].evidence.startswith("new second factor")
    assert found["page_form_sensitive_data"].score == 3.5
    assert score >= SUSPICIOUS  # with almost nothing else on the page
    # A new phone number on a profile form is ordinary contact data.
    profile = (
        "<form action='/profile' method='post'><label>New phone number</label><input name='p'>"
        "<button>Save</button></form>"
    )
    assert "page_form_sensitive_data" not in _run(profile)[0]


def test_bank_sign_in_whose_name_the_address_does_not_carry() -> None:
    html = (
        "<title>Northwind Credit Union - Online Banking</title><form action='login.php' method='post'>"
        "<input name='member'><input type='password' name='pw'><button>Log in</button></form>"
    )
    found, _ = _run(html, "https://secure-portal.example.net/")
    assert "page_bank_name_foreign" in found
    assert "page_bank_name_foreign" not in _run(html, "https://www.northwindcu.org/")[0]
    assert "page_bank_name_foreign" not in _run(html, "https://online.northwind.example/")[0]


def test_french_scam_story_with_a_single_next_step() -> None:
    html = (
        "<title>Opportunité</title><p>Vous avez gagné ! Un rendement garanti vous attend.</p>"
        "<a href='/suite.php'>Continuer</a>"
    )
    found, score = _run(html)
    assert found["page_lure_text"].score == 2.5  # two phrases
    assert "page_lure_with_action" in found
    assert score >= SUSPICIOUS


def test_bank_help_page_about_fraud_stays_clean() -> None:
    html = (
        "<title>Security centre | Example Bank</title><h1>Protect yourself from fraud</h1>"
        "<p>We will never ask you to verify your account or confirm your identity by e-mail. "
        "If a message says your account has been suspended, or that there is unusual activity, "
        "do not click its links. Never buy a gift card to pay us, and never share a one-time code.</p>"
        "<form action='/search' method='get'><input name='q'></form>" + _nav(30)
    )
    found, score = _run(html, "https://www.examplebank.example/security")
    assert "page_lure_with_action" not in found
    assert score < SUSPICIOUS


def test_newsletter_stays_clean() -> None:
    html = (
        "<title>Weekly deals</title><p>Our gift card sale ends Sunday: urgent, only three days left! "
        "Pay by invoice or bank transfer. Your points expire soon.</p>"
        "<form action='/subscribe' method='post'><input name='email'><button>Subscribe</button></form>"
        + _nav(12)
    )
    found, score = _run(html, "https://news.shop.example/")
    assert "page_lure_with_action" not in found
    assert score < SUSPICIOUS


def test_spanish_please_is_not_payment_fraud_wording() -> None:
    html = (
        "<title>Pago</title><p>Por favor, revise el pago de su pedido antes de continuar.</p>"
        "<form action='/checkout' method='post'><input name='address'><button>Continuar</button></form>"
    )
    assert "page_threat_text" not in _run(html)[0]


def test_bare_page_with_only_a_card_form() -> None:
    html = (
        "<title>Step 2</title><form action='/pay.php' method='post'>"
        "<input name='cc' autocomplete='cc-number'><input name='exp' autocomplete='cc-exp'>"
        "<button>Continue</button></form>"
    )
    found, _ = _run(html)
    assert found["page_form_sensitive_data"].evidence.startswith("card")
    assert "page_no_content_credentials" in found
    # The same form inside a shop's page with its navigation is ordinary.
    assert "page_no_content_credentials" not in _run(html + _nav(10))[0]


@pytest.mark.parametrize(
    ("title", "labels"),
    [
        ("Connexion à votre compte", ("Adresse e-mail", "Mot de passe", "Se connecter")),
        ("Inicie sesión en su cuenta", ("Usuario", "Su contraseña", "Entrar")),
        ("Anmelden - Ihr Konto", ("E-Mail", "Passwort", "Anmelden")),
    ],
)
def test_small_sign_in_pages_in_other_languages_stay_clean(title: str, labels: tuple[str, str, str]) -> None:
    user, password, button = labels
    html = (
        f"<title>{title}</title><h1>{title}</h1><form action='/session' method='post'>"
        f"<label for='u'>{user}</label><input id='u' name='u'>"
        f"<label for='p'>{password}</label><input id='p' type='password' name='p'>"
        f"<button>{button}</button></form><a href='/reset'>?</a><a href='/signup'>+</a>"
    )
    found, score = _run(html, "https://login.example-shop.example/")
    assert "page_lure_text" not in found
    assert score < SUSPICIOUS


def test_strengths_are_rule_variants() -> None:
    """Stronger forms of a finding are variants of its rule (weights and wordings are data)."""
    form = "<title>Login</title><form action='{}'><input type=password></form>"
    free, _ = _run(form.format("https://evil-user.weebly.com/post"))
    other, _ = _run(form.format("https://collector.example.org/post"))
    assert (free["page_form_foreign_action"].variant, free["page_form_foreign_action"].score) == (
        "free_hosting",
        4.5,
    )
    assert free["page_form_foreign_action"].reason.endswith("It is a free hosting site.")
    assert (other["page_form_foreign_action"].variant, other["page_form_foreign_action"].score) == ("", 2.5)
    several, _ = _run("<!-- antibot --><!-- 16shop --><script src='https://api.ipify.org'></script>")
    assert several["page_kit_marker"].variant == "in_code_several"
    assert (
        several["page_kit_marker"].score == page_rules()["page_kit_marker"].weights["in_code_several"] == 7.0
    )
    assert all(f.group.startswith("page_") for f in several.values())
