"""The pipelines together: one Decision per message, rewriting, tagging, exclusions."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pytest

from tap_core.attachments import AttachmentEngine
from tap_core.model.decision import Action
from tap_core.parsing.mime import parse_eml
from tap_core.pipeline import Pipeline
from tap_core.policy import parse_policy
from tap_core.urls.feeds import parse_feed
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec, LinkKeyring, decode_link

FIXTURES = Path(__file__).parent / "fixtures" / "mail"


@pytest.fixture(scope="module")
def codec() -> LinkCodec:
    return LinkCodec("https://tap.contoso.test/api/r", LinkKeyring({"k1": os.urandom(32)}, "k1"))


def load(name: str):
    return parse_eml((FIXTURES / name).read_bytes(), name)


def test_clean_newsletter_rewritten_byte_for_byte_elsewhere(codec: LinkCodec) -> None:
    message = load("01-newsletter-clean.eml")
    d = Pipeline(codec=codec).run(message, tenant_id="t1", recipient="adele@contoso.test")
    assert d.action is Action.REWRITE and d.verdict.value == "clean"
    assert d.rewritten_html is not None and d.rewritten_text is not None
    rewritten = [u for u in d.urls if u.rewritten]
    assert rewritten
    for u in rewritten:
        assert decode_link(u.rewritten) == u.url
        assert codec.verify(u.rewritten).context.recipient == "adele@contoso.test"
    # mailto: untouched, and putting the original URLs back gives the original body exactly.
    assert 'href="mailto:news@contoso.test"' in d.rewritten_html
    restored = d.rewritten_html
    for u in rewritten:
        restored = restored.replace(html.escape(u.rewritten or ""), html.escape(u.url))
    assert restored == message.html_body


def test_rewriting_twice_is_idempotent(codec: LinkCodec) -> None:
    message = load("01-newsletter-clean.eml")
    first = Pipeline(codec=codec).run(message, tenant_id="t1", recipient="adele@contoso.test")
    message.html_body = first.rewritten_html
    message.text_body = first.rewritten_text
    second = Pipeline(codec=codec).run(message, tenant_id="t1", recipient="adele@contoso.test")
    assert second.rewritten_html is None and second.rewritten_text is None
    assert second.action is Action.DELIVER


def test_lookalike_phish_is_quarantined_with_every_link_wrapped(codec: LinkCodec) -> None:
    d = Pipeline(codec=codec).run(load("02-paypal-lookalike-phish.eml"))
    assert d.verdict.value == "malicious" and d.action is Action.QUARANTINE
    assert "brand_lookalike" in d.urls[0].reasons
    # Should an admin release it, even the malicious link goes through the redirector (which blocks it).
    assert d.rewritten_html is not None and d.urls[0].rewritten
    assert 'href="http://paypal.com.account' not in d.rewritten_html


def test_policy_decides_malicious_and_suspicious_actions(codec: LinkCodec) -> None:
    policy = parse_policy("url: {malicious_action: hold, suspicious_action: tag}")
    assert Pipeline(policy, codec=codec).run(load("02-paypal-lookalike-phish.eml")).action is Action.HOLD
    d = Pipeline(policy, codec=codec).run(load("03-ip-literal-credential.eml"))
    assert d.action is Action.TAG
    assert d.rewritten_text is not None and "TAP365" in d.rewritten_text


def test_safelinks_unwrapped_and_replaced_by_one_link(codec: LinkCodec) -> None:
    d = Pipeline(codec=codec).run(load("04-safelinks-wrapped.eml"))
    (u,) = d.urls
    assert u.url == "https://docs.example.com/share/project-plan"
    assert u.wrappers == ["safelinks"]
    assert d.rewritten_html is not None and "safelinks.protection.outlook.com" not in d.rewritten_html
    assert decode_link(u.rewritten or "") == "https://docs.example.com/share/project-plan"


def test_exclusions_apply_to_scan_and_rewrite(codec: LinkCodec) -> None:
    policy = parse_policy('url: {do_not_rewrite: ["*.example.com"]}')
    d = Pipeline(policy, codec=codec).run(load("01-newsletter-clean.eml"))
    excluded = [u for u in d.urls if u.excluded_by]
    assert excluded and all(u.rewritten is None and u.findings == [] for u in excluded)
    assert all(u.rewritten for u in d.urls if not u.excluded_by and u.url.startswith("http"))


def test_internal_rewrite_switch(codec: LinkCodec) -> None:
    policy = parse_policy("internal_domains: [contoso.test]\nurl: {rewrite_internal: false}")
    d = Pipeline(policy, codec=codec).run(load("06-internal-memo.eml"))
    assert d.action is Action.DELIVER and d.rewritten_text is None
    assert d.rewrite_skipped and "internal" in d.rewrite_skipped


def test_intel_hit_is_malicious(codec: LinkCodec) -> None:
    index = IntelIndex()
    index.add_feed(parse_feed(b"https://www.example.org/calendar\n", name="test-feed", format="url_list"))
    d = Pipeline(intel=index, codec=codec).run(load("01-newsletter-clean.eml"))
    assert d.verdict.value == "malicious" and d.action is Action.QUARANTINE
    hit = next(u for u in d.urls if u.url.startswith("https://www.example.org/calendar"))
    assert any(r.startswith("intel_") for r in hit.reasons)


def test_vip_impersonation_tags_with_banner(codec: LinkCodec) -> None:
    policy = parse_policy(
        "internal_domains: [contoso.test]\n"
        "vips: [{name: Jane Doe, email: jane.doe@contoso.test}]\n"
        "impersonation: {hit_threshold: 1, action_at_threshold: tag}\n"
    )
    raw = ("From: Jane Doe <jane.doe.ceo@freemail.example>\nTo: finance@contoso.test\n"
           "Subject: urgent wire transfer\nContent-Type: text/html\n\n<html><body><p>Please pay today.</p></body></html>\n")
    d = Pipeline(policy, codec=codec).run(parse_eml(raw.encode()))
    assert d.action is Action.TAG
    assert "display_name_vip" in [i["name"] for i in d.impersonation["indicators"]]
    assert d.rewritten_html is not None and "Jane Doe" in d.rewritten_html
    assert d.rewritten_html.endswith("<p>Please pay today.</p></body></html>\n")
    assert d.categories


def test_attachment_findings_and_sandbox_hold(codec: LinkCodec) -> None:
    eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    import base64
    raw = (b"From: a@b.example\nTo: c@contoso.test\nSubject: file\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nsee file\n'
           b'--B\nContent-Type: application/octet-stream; name="x.com"\nContent-Transfer-Encoding: base64\n\n'
           + base64.b64encode(eicar) + b"\n--B--\n")
    d = Pipeline(codec=codec, attachment_engine=AttachmentEngine()).run(parse_eml(raw))
    assert d.verdict.value == "malicious" and d.action is Action.QUARANTINE
    assert d.pipelines["attachments"] == "malicious"
    assert d.attachments and "yara_eicar_test_file" in d.attachments[0]["reasons"]


@pytest.mark.parametrize("document", [
    "attachments: {enabled: false}",
    "attachments: {limits: {max_dept: 3}}",
    "attachments: {thresholds: {suspcious: 2}}",
    "impersonation: {enable: false}",
    "url: {rewrite_internal: true, bogus: 1}",
])
def test_a_misspelt_policy_key_is_an_error_not_a_silent_default(document: str) -> None:
    from tap_core.policy import PolicyError

    with pytest.raises(PolicyError, match="Extra inputs are not permitted"):
        parse_policy(document)


def _vip_mail(body: str = "<p>Lunch on Friday?</p>") -> bytes:
    return ("From: Jane Doe <jane.doe.ceo@freemail.example>\nTo: finance@contoso.test\nSubject: hello\n"
            f"Content-Type: text/html\n\n<html><body>{body}</body></html>\n").encode()


def test_an_impersonation_policy_that_says_quarantine_still_quarantines(codec: LinkCodec) -> None:
    policy = parse_policy(
        "internal_domains: [contoso.test]\nvips: [{name: Jane Doe, email: jane.doe@contoso.test}]\n"
        "impersonation: {hit_threshold: 1, action_at_threshold: quarantine}\n"
    )
    d = Pipeline(policy, codec=codec).run(parse_eml(_vip_mail()))
    assert d.action is Action.QUARANTINE and d.verdict.value != "clean"
    assert d.pipelines["impersonation"] == "quarantine"
    # The same mail under the default policy is only logged: the VIP name is the policy's to weigh.
    logged = Pipeline(parse_policy("internal_domains: [contoso.test]\nvips: [{name: Jane Doe}]\n"),
                      codec=codec).run(parse_eml(_vip_mail()))
    assert logged.impersonation["action"] == "log"
    assert logged.action in (Action.LOG, Action.DELIVER, Action.REWRITE)


def test_below_threshold_impersonation_is_logged_in_the_one_vocabulary(codec: LinkCodec) -> None:
    policy = parse_policy("internal_domains: [contoso.test]\nvips: [{name: Jane Doe, email: jane.doe@contoso.test}]\n")
    d = Pipeline(policy, codec=codec).run(parse_eml(_vip_mail()))
    assert d.pipelines["impersonation"] == "log"
    assert d.action is Action.LOG  # delivered untouched (no link to rewrite), and recorded
    assert d.to_json()["action"] == "log"


def test_the_message_verdict_is_the_learned_score_against_the_tenants_thresholds(codec: LinkCodec) -> None:
    message = load("03-ip-literal-credential.eml")
    default = Pipeline(codec=codec).run(message)
    assert default.verdict.value != "clean" and default.findings
    weights = [default.weights[f.name] for f in default.findings]
    assert weights == sorted(weights, reverse=True)
    assert default.reasons[0].split(" ", 1)[0] == default.findings[0].name  # the strongest first
    lenient = parse_policy({"thresholds": {"suspicious": 50, "hold": 60, "malicious": 70}})
    relaxed = Pipeline(lenient, codec=codec).run(message)
    assert relaxed.score == default.score and relaxed.verdict.value == "clean"
    strict = parse_policy({"thresholds": {"suspicious": -50, "hold": -40, "malicious": 70}})
    newsletter = Pipeline(strict, codec=codec).run(load("01-newsletter-clean.eml"))
    assert newsletter.verdict.value == "suspicious" and newsletter.action is Action.HOLD


def test_a_malicious_file_decides_alone_whatever_the_message_score(codec: LinkCodec) -> None:
    import base64

    eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    raw = (b"From: a@b.example\nTo: c@contoso.test\nSubject: notes\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nsee file\n'
           b'--B\nContent-Type: application/octet-stream; name="notes.txt"\nContent-Transfer-Encoding: base64\n\n'
           + base64.b64encode(eicar) + b"\n--B--\n")
    strict = parse_policy({"thresholds": {"suspicious": 50, "hold": 60, "malicious": 70}})
    d = Pipeline(strict, codec=codec, attachment_engine=AttachmentEngine()).run(parse_eml(raw))
    assert d.score < 50 and d.verdict.value == "malicious" and d.action is Action.QUARANTINE


def test_a_malicious_file_is_the_attachment_policys_to_act_on(codec: LinkCodec) -> None:
    """Monitor mode analyses and reports, and always delivers; a hold policy holds."""
    import base64

    eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    raw = (b"From: a@b.example\nTo: c@contoso.test\nSubject: notes\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nsee file\n'
           b'--B\nContent-Type: application/octet-stream; name="notes.txt"\nContent-Transfer-Encoding: base64\n\n'
           + base64.b64encode(eicar) + b"\n--B--\n")
    engine = AttachmentEngine()
    monitored = Pipeline(parse_policy("attachments: {mode: monitor}"), codec=codec, attachment_engine=engine)
    d = monitored.run(parse_eml(raw))
    assert d.verdict.value == "malicious" and d.action in (Action.DELIVER, Action.REWRITE)
    held = Pipeline(parse_policy("attachments: {malicious_action: hold}"), codec=codec, attachment_engine=engine)
    assert held.run(parse_eml(raw)).action is Action.HOLD
