"""Message-level URL Protect rules: each fires on its pattern and stays quiet on look-alike ham."""

from __future__ import annotations

from tap_core.mime import parse_eml
from tap_core.policy import Policy
from tap_core.urls.protect import UrlProtect


def scan(raw: str, recipient: str = "victim@contoso.test"):
    message = parse_eml(raw.encode("utf-8"))
    return UrlProtect(Policy()).scan(message, recipient=recipient)


def names(result) -> set[str]:
    return {f.name for f in result.findings}


def mail(sender: str, subject: str, html: str) -> str:
    return (f"From: {sender}\nTo: victim@contoso.test\nSubject: {subject}\n"
            f"Content-Type: text/html; charset=utf-8\n\n{html}\n")


def test_brand_claimed_by_a_stranger() -> None:
    r = scan(mail("PayPal Service <service@mailer.example>", "Your account",
                  '<a href="https://unrelated.example/x">Verify now</a>'))
    assert {"brand_claim_mismatch", "call_to_action_offsite"} <= names(r)


def test_brand_sending_from_its_own_domain_is_not_a_claim() -> None:
    r = scan(mail("PayPal <service@paypal.com>", "Your receipt",
                  '<a href="https://www.paypal.com/activity">Verify now</a>'))
    assert "brand_claim_mismatch" not in names(r)
    assert "call_to_action_offsite" not in names(r)
    assert r.verdict.value == "clean"


def test_confusable_brand_in_sender_name() -> None:
    r = scan(mail("PayPaI Notice <n@notice.example>", "hello", '<a href="https://x.example/">here</a>'))
    assert "brand_claim_mismatch" in names(r)


def test_disguised_subjects() -> None:
    for subject in ("Bi\U000e0139lling Update", "[Binаnсе] verify", "𝗪𝗲𝗹𝗰𝗼𝗺𝗲 offer", "D H L parcel"):
        r = scan(mail("a <a@b.example>", subject, '<a href="https://x.example/">x</a>'))
        assert "deceptive_unicode_text" in names(r), subject
    for subject in ("Résumé for Zoë", "Ça va? Café crème", "Re: [ILUG] How to copy files"):
        r = scan(mail("a <a@b.example>", subject, '<a href="https://x.example/">x</a>'))
        assert "deceptive_unicode_text" not in names(r), subject


def test_hash_buster_tokens_but_not_product_names() -> None:
    r = scan(mail("a <a@b.example>", "Fatura Emitida - KtSaGYsPn9djSGR", '<a href="https://x.example/">x</a>'))
    assert "random_token_subject" in names(r)
    for subject in ("New MacBookPro deals", "Order ORD12345AB shipped", "JavaServerFaces talk"):
        r = scan(mail("a <a@b.example>", subject, '<a href="https://x.example/">x</a>'))
        assert "random_token_subject" not in names(r), subject


def test_recipient_address_in_subject_and_base64_in_link() -> None:
    r = scan(mail("a <a@b.example>", "victim@contoso.test, your prize",
                  '<a href="https://kit.example/#dmljdGltQGNvbnRvc28udGVzdA==">open</a>'))
    assert {"recipient_in_subject", "recipient_in_link"} <= names(r)
    r = scan(mail("a <a@b.example>", "[contoso] list digest", '<a href="https://x.example/">x</a>'),
             recipient="contoso@lists.example")
    assert "recipient_in_subject" not in names(r)


def test_lure_text_and_threshold() -> None:
    r = scan(mail("Mailbox Admin <admin@helpdesk.example>", "Action required",
                  '<p>Your password expires today.</p><a href="http://203.0.113.9/owa/">Keep password</a>'))
    assert "credential_lure_text" in names(r)
    assert r.verdict.value == "suspicious"
    assert r.message_score >= 5.0


def test_sender_name_showing_another_address() -> None:
    r = scan(mail('"service@bank.example" <x@bulk.example>', "hi", '<a href="https://x.example/">x</a>'))
    assert "sender_name_address" in names(r)
    r = scan(mail('"bob@partner.example via List" <list@lists.example>', "hi", '<a href="https://x.example/">x</a>'))
    assert "sender_name_address" not in names(r)


def test_no_links_no_findings() -> None:
    r = scan(mail("PayPal Service <s@mailer.example>", "Your account has been suspended", "<p>Call us.</p>"))
    assert r.findings == [] and r.verdict.value == "clean"


def test_organisation_name_unrelated_to_any_domain() -> None:
    r = scan(mail("Europa Park Team <service@shop.example>", "hi", '<a href="https://other.example/">x</a>'))
    assert "sender_name_unrelated" in names(r)
    for sender in ("Shop Team <service@shop.example>", "Jane Doe <jane@shop.example>",
                   "Other Support <help@shop.example>"):
        r = scan(mail(sender, "hi", '<a href="https://other.example/">x</a>'))
        assert "sender_name_unrelated" not in names(r), sender
