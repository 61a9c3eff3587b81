"""Message rules (tap_core.message_rules): each fires on its pattern and stays quiet on look-alike ham."""

from __future__ import annotations

import time

from tap_core.attachments import AttachmentEngine, assess_attachments
from tap_core.message_rules import message_findings
from tap_core.message_rules.structure import fake_reply, hidden_text
from tap_core.model.message import Message
from tap_core.parsing.mime import parse_eml
from tap_core.policy import Policy
from tap_core.urls.protect import UrlProtect


def scan(raw: str, recipient: str = "victim@contoso.test"):
    """URL Protect on ``raw``, with the links Attachment Protect finds in its files."""
    message = parse_eml(raw.encode("utf-8"))
    policy = Policy()
    in_files = (assess_attachments(message, AttachmentEngine(cache_size=0), policy.attachments).found_urls
                if message.attachments else [])
    return UrlProtect(policy.url).scan(message, recipient=recipient, attachment_urls=in_files)


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


def test_malformed_from_header_names_the_real_mailbox_and_is_a_finding() -> None:
    raw = mail('"PayPal", "PayPal" <news@mailer.example>', "hi", '<a href="https://x.example/">x</a>')
    message = parse_eml(raw.encode())
    assert message.from_address is not None
    assert (message.from_address.name, message.from_address.address) == ("PayPal", "news@mailer.example")
    r = scan(raw)
    assert {"sender_header_malformed", "brand_claim_mismatch"} <= names(r)
    for sender in ('Brand Gift, <a@mailer.example.>, Brand', '"Team" <"noreply@mailer.example">',
                   "Tax Office <notice@receita>"):
        assert "sender_header_malformed" in names(scan(mail(sender, "hi", '<a href="https://x.example/">x</a>'))), sender
    for sender in ("Jane Doe <jane@shop.example>", "jane@shop.example", '"Doe, Jane" <jane@bücher.example>'):
        assert "sender_header_malformed" not in names(scan(mail(sender, "hi", '<a href="https://x.example/">x</a>'))), sender


def test_padded_sender_name_or_subject() -> None:
    for sender, subject in (('"Parcel Service   ...NM623" <a@b.example>', "hi"),
                            ("a <a@b.example>", "Win a voucher!       ............ RW7956554")):
        r = scan(mail(sender, subject, '<a href="https://x.example/">x</a>'))
        assert "padded_header" in names(r), (sender, subject)
    for subject in ("Re: meeting... tomorrow", "Wait... what?", "Agenda: Q3 (draft)"):
        r = scan(mail("a <a@b.example>", subject, '<a href="https://x.example/">x</a>'))
        assert "padded_header" not in names(r), subject


def test_images_on_public_image_hosts() -> None:
    # The bulk layout: a clickable banner whose picture is hot-linked from an image host.
    r = scan(mail("a <a@b.example>", "hi", '<a href="https://x.example/"><img src="https://i.imgur.com/abc.png"></a>'))
    assert "images_on_public_host" in names(r)
    r = scan(mail("a <a@b.example>", "hi", '<a href="https://x.example/"><img src="https://cdn.b.example/l.png"></a>'))
    assert "images_on_public_host" not in names(r)
    # A link to an image page is not an image the message loads.
    r = scan(mail("a <a@b.example>", "hi", '<a href="https://imgur.com/gallery/x">look</a>'))
    assert "images_on_public_host" not in names(r)
    # A CSS background is an image the message loads too (a way round image-tag checks).
    r = scan(mail("a <a@b.example>", "hi",
                  '<a href="https://x.example/"><div style="background-image:url(https://imgur.com/t.png)">'
                  "&nbsp;</div></a>"))
    assert "images_on_public_host" in names(r)


def test_sender_on_shared_platform_and_freemail_organisation() -> None:
    link = '<a href="https://x.example/">x</a>'
    r = scan(mail("Casino <no-reply@promo-1234.firebaseapp.com>", "hi", link))
    assert any(f.name == "sender_on_shared_platform" and f.score == 2.5 for f in r.findings)
    r = scan(mail("Tenant <pepe@o1su91b.onmicrosoft.com>", "hi", link))
    assert any(f.name == "sender_on_shared_platform" and f.score == 1.5 for f in r.findings)
    r = scan(mail("Billing Support <billing.support2024@gmail.com>", "hi", link))
    assert "freemail_org_sender" in names(r)
    for sender in ("Jane Doe <jane.doe@gmail.com>", "Yahoo! News <news@reply.yahoo.com>"):
        assert "freemail_org_sender" not in names(scan(mail(sender, "hi", link))), sender


def test_brand_mail_linking_to_free_hosting_or_leaving_the_brand() -> None:
    r = scan(mail("Bradesco <naoresponder@bradesco.com.br>", "Cartão",
                  '<a href="https://x-123.southamerica-east1.run.app/">Acessar</a>'))
    assert "brand_mail_free_hosting" in names(r)
    r = scan(mail("PayPal <service@paypal.com>", "Security",
                  '<a href="http://paypal-secure.example/login">Verify now</a>'))
    assert any(f.name == "call_to_action_offsite" and f.score == 3.5 for f in r.findings)
    r = scan(mail("PayPal <service@paypal.com>", "Receipt",
                  '<a href="https://www.paypal.com/activity">View activity</a>'))
    assert "brand_mail_free_hosting" not in names(r) and "call_to_action_offsite" not in names(r)


def test_brand_disguised_in_the_other_field() -> None:
    # Cherokee letters fold through the full UTS #39 table; the sender name's trick is reported
    # once, as deceptive_unicode_text.
    r = scan(mail("\u13b7icrosoft Mail <a@b.example>", "Terms updated", '<a href="https://x.example/">x</a>'))
    assert {"brand_claim_mismatch", "deceptive_unicode_text"} <= names(r)
    assert "brand_name_disguised" not in names(r)
    r = scan(mail("Microsoft <a@b.example>", "Your PayPaI account", '<a href="https://x.example/">x</a>'))
    assert "brand_name_disguised" in names(r)
    r = scan(mail("PayPal Service <a@b.example>", "Your account", '<a href="https://x.example/">x</a>'))
    assert "brand_name_disguised" not in names(r)


def test_opaque_token_link_on_an_unrelated_site() -> None:
    r = scan(mail("Offers <news@shop.example.com>", "hi",
                  '<a href="http://hacked-blog.example/P9fKuTJuTChpPFqlROo3/1JyC">Open</a>'))
    assert "opaque_link_offsite" in names(r)
    for href in ("https://u123.ct.sendgrid.net/ls/click?upn=P9fKuTJuTChpPFqlROo3",
                 "https://links.example.com/P9fKuTJuTChpPFqlROo3",
                 "https://other.example/docs/getting-started-guide-2024",
                 "https://youtu.be/dQw4w9WgXcQ"):
        r = scan(mail("Offers <news@shop.example.com>", "hi", f'<a href="{href}">Open</a>'))
        assert "opaque_link_offsite" not in names(r), href


def test_links_only_in_a_document_from_a_free_mailbox() -> None:
    def raw(sender: str) -> str:
        return (f"From: {sender}\nTo: victim@contoso.test\nSubject: Balance\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n"
                "--b\nContent-Type: text/html; name=a.html\nContent-Disposition: attachment; filename=a.html\n\n"
                '<a href="https://bit.ly/3abcXYZ">Open</a>\n--b--\n')

    found = [f for f in scan(raw("Fannie <kqanoginaj@gmail.com>")).findings if f.name == "links_only_in_attachment"]
    assert found and found[0].score == 3.0
    found = [f for f in scan(raw("Fannie <f@shop.example.com>")).findings if f.name == "links_only_in_attachment"]
    assert found and found[0].score == 1.5


def test_lure_in_the_headline_weighs_more_than_in_the_body() -> None:
    link = '<a href="https://x.example/">x</a>'
    r = scan(mail("Wallet Team <a@b.example>", "Secure your wallet now", link))
    assert [f.score for f in r.findings if f.name == "credential_lure_text"] == [3.0]
    r = scan(mail("News <a@b.example>", "Weekly digest", "<p>How to secure your wallet</p>" + link))
    assert [f.score for f in r.findings if f.name == "credential_lure_text"] == [2.0]


def test_several_distinct_lures_and_a_brand_named_atop_the_body() -> None:
    link = '<a href="https://x.example/">Reactivate</a>'
    body = ("<p>Google Cloud</p><p>Your account has been suspended. Failure to do so within 24 hours "
            "means your files will be deleted.</p>" + link)
    r = scan(mail("Storage <a@b.example>", "Notice", body))
    lure = [f for f in r.findings if f.name == "credential_lure_text"]
    assert lure and lure[0].score == 3.0
    claim = [f for f in r.findings if f.name == "brand_claim_mismatch"]
    assert claim and claim[0].evidence == "Google in body" and claim[0].score == 1.5
    # No lure, no claim from the body: a newsletter may open with any brand's name.
    r = scan(mail("News <a@b.example>", "Weekly", "<p>Google Cloud adds regions.</p>" + link))
    assert "brand_claim_mismatch" not in names(r)


def test_html_body_read_when_the_text_part_is_a_stub() -> None:
    raw = ("From: Rewards <a@b.example>\nTo: victim@contoso.test\nSubject: Hello\nMIME-Version: 1.0\n"
           "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
           "Please use an HTML mail client.\n--b\nContent-Type: text/html\n\n"
           '<p>Claim your reward now.</p><a href="https://x.example/">Go</a>\n--b--\n')
    assert "credential_lure_text" in names(scan(raw))


def test_encrypted_pdf_opened_with_the_password_the_mail_gives() -> None:
    import base64
    import io

    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    action = DictionaryObject({NameObject("/S"): NameObject("/URI"),
                               NameObject("/URI"): TextStringObject("https://pay.evil.example/x")})
    link = DictionaryObject({NameObject("/Type"): NameObject("/Annot"),
                             NameObject("/Subtype"): NameObject("/Link"), NameObject("/A"): action})
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    writer.encrypt(user_password="4471", owner_password="owner-secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    pdf = base64.b64encode(buffer.getvalue()).decode()

    def raw(text: str) -> str:
        return ("From: Bank <a@b.example>\nTo: victim@contoso.test\nSubject: Invoice\nMIME-Version: 1.0\n"
                f"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n{text}\n"
                "--b\nContent-Type: application/pdf; name=f.pdf\nContent-Disposition: attachment; filename=f.pdf\n"
                f"Content-Transfer-Encoding: base64\n\n{pdf}\n--b--\n")

    assert "https://pay.evil.example/x" in scan(raw("Senha de acesso: 4471")).results
    assert "https://pay.evil.example/x" not in scan(raw("See the attached invoice.")).results


# -- structure rules: read from the message alone, links or not ---------------------------------

def headed(subject: str, headers: str = "", html: str = "<p>Please see below.</p>") -> Message:
    return parse_eml((f"From: Jane <jane@partner.example>\nTo: victim@contoso.test\nSubject: {subject}\n"
                      f"{headers}Content-Type: text/html; charset=utf-8\n\n{html}\n").encode())


def test_fake_reply_on_a_reply_prefix_without_an_earlier_message() -> None:
    for subject in ("RE: Your invoice", "Re: payment", "RE : facture", "Fwd: shared file", "FW: Urgent",
                    "AW: Angebot", "WG: Rechnung", "TR: document", "RV: pago", "SV: faktura", "Odp: faktura",
                    "Antw: offerte", "R: fattura", "Re[2]: hello", "RE (2): transfer", "[EXTERNAL] RE: wire",
                    "回复：合同"):
        finding = fake_reply(headed(subject))
        assert finding is not None, subject
        assert finding.group == "message_structure" and finding.evidence in subject
        assert finding.evidence in finding.reason
    # Found without any link too: the link rules return early, the structure rules do not.
    found = message_findings(headed("RE: Your invoice"), [], {})
    assert [f.name for f in found] == ["fake_reply"]
    r = scan(mail("Jane <jane@partner.example>", "RE: Your invoice", "<p>Call me.</p>"))
    assert names(r) == {"fake_reply"}


def test_real_replies_and_other_subjects_are_no_fake_reply() -> None:
    assert fake_reply(headed("Re: lunch", "In-Reply-To: <a1@partner.example>\n")) is None
    assert fake_reply(headed("Re: [list] patch v2", "References: <a1@x.example> <a2@x.example>\n")) is None
    # Outlook threads through Thread-Index: 22 bytes for a new conversation, 5 more per reply.
    assert fake_reply(headed("RE: budget", "Thread-Index: AcJVkO1R3ZzGJ7uKTs2qk5Ue4KEPVwAAAAAA\n")) is None
    assert fake_reply(headed("RE: budget", "Thread-Index: AcJVkO1R3ZzGJ7uKTs2qk5Ue4KEPVw==\n")) is not None
    for subject in ("Reply needed", "Request for quote", "Rex: the dog", "Review: Q3", "Fwdthinking", "Hi"):
        assert fake_reply(headed(subject)) is None, subject
    # Headers not read (a Graph message fetched without internetMessageHeaders): no guess.
    assert fake_reply(Message(source="graph:x", subject="RE: invoice")) is None


FILLER = "&zwnj;&nbsp;&#847; " * 60


def test_hidden_text_stuffed_into_the_body() -> None:
    words = "the quarterly report is attached for your review and approval today"
    for style in ("display:none", "display: none !important", "visibility:hidden", "font-size:0",
                  "font-size:0px", "font-size:1px", "opacity:0", "max-height:0;overflow:hidden",
                  "FONT-SIZE: 0PT"):
        html = f'<p>Your mailbox is full.</p><div style="{style}">{words}</div>'
        finding = hidden_text(headed("Notice", html=html))
        assert finding is not None, style
        assert finding.name == "hidden_text" and str(len(words)) in finding.reason, style
    # Many tiny hidden pieces between visible words add up (hash-busting).
    html = "<p>" + "".join(f'Pay<span style="font-size:0">xq{i}z</span>Pal ' for i in range(12)) + "</p>"
    assert hidden_text(headed("Notice", html=html)) is not None
    # A preheader after the text is no preheader; nor is a second hidden block.
    html = f'<div style="display:none">Summary line.</div><p>Hello</p><div style="display:none">{words}</div>'
    finding = hidden_text(headed("Notice", html=html))
    assert finding is not None and "Summary" not in finding.evidence


def test_newsletters_preheaders_and_responsive_layouts_are_no_hidden_text() -> None:
    preheader = ('<span class="preheader" style="display:none;font-size:1px;max-height:0;opacity:0;'
                 f'overflow:hidden;mso-hide:all">Ten new articles this week, and an interview.{FILLER}</span>')
    assert hidden_text(headed("Weekly digest", html=preheader + "<p>Hello</p>" * 3)) is None
    # Too short to say anything to a filter, or nothing but fillers.
    assert hidden_text(headed("Hi", html='<p>Hi</p><span style="display:none">ref 1234</span>')) is None
    assert hidden_text(headed("Hi", html=f'<p>Hi</p><div style="display:none">{FILLER}</div>')) is None
    # MJML and similar: font-size:0 on column wrappers kills the gaps, the text sets its own size.
    column = ('<div style="font-size:0px;text-align:left"><div class="mj-column" style="font-size:0px;'
              'display:inline-block"><div style="font-family:Arial;font-size:13px;line-height:1">'
              "Our spring collection is here: new colours, new fabrics, free returns.</div></div></div>")
    assert hidden_text(headed("Spring", html="<p>Hello</p>" + column * 3)) is None
    # ...unless the size inside is relative to nothing.
    hidden = column.replace("font-size:13px", "font-size:1.2em")
    assert hidden_text(headed("Spring", html="<p>Hello</p>" + hidden)) is not None
    # A stylesheet class that sets the size (not inline) shows the text as well.
    html = ('<style>.body-text { font-size: 15px; }</style><p>Hi</p><table><tr><td style="font-size:0">'
            '<span class="body-text">Our spring collection is here: new colours and fabrics.</span></td></tr></table>')
    assert hidden_text(headed("Spring", html=html)) is None
    # Responsive mail: a mobile-only block hidden inline, shown from a media query (!important).
    mobile = ('<div class="mobile-only" style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
              "Menu: Shop women, Shop men, Shop kids, Sale, Stores near you</div>")
    sheet = "<style>@media (max-width:600px) { .mobile-only { display:block !important; max-height:none !important; } }</style>"
    assert hidden_text(headed("Sale", html=sheet + "<p>Hello</p>" + mobile)) is None
    assert hidden_text(headed("Sale", html="<p>Hello</p>" + mobile)) is not None  # nothing shows it
    # An !important inline style is one no stylesheet overrides.
    forced = mobile.replace("display:none;", "display:none !important;")
    assert hidden_text(headed("Sale", html=sheet + "<p>Hello</p>" + forced)) is not None
    # Shown again from inside: visibility:visible undoes visibility:hidden.
    html = ('<p>Hi</p><div style="visibility:hidden"><span style="visibility:visible">'
            "Our spring collection is here: new colours and fabrics.</span></div>")
    assert hidden_text(headed("Spring", html=html)) is None


def test_structure_rules_are_linear_on_a_hostile_two_megabyte_body() -> None:
    size = 2_000_000
    bodies = (
        '<div style="display:none">' * (size // 26),
        '<span style="font-size:0">ab</span>' * (size // 36),
        '<div style="font-size:0"><p style="font-size:14px">x' * (size // 54),
        "<style>" + ".a{font-size:12px}" * (size // 18) + "</style><p style='display:none'>hi</p>",
        "<p style='font-size:" + "1" * size + "'>",
        "<style>" + "{" * size + "</style>",
    )
    for body in bodies:
        message = Message(source="t", subject="RE" + " " * 100_000 + "x", html_body=body,
                          headers=[("Subject", "RE")])
        start = time.perf_counter()
        hidden_text(message)
        fake_reply(message)
        assert time.perf_counter() - start < 3.0, body[:40]
