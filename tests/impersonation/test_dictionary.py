"""The targeted-threat dictionary: languages, strong and weak terms, admin terms."""

from __future__ import annotations

import pytest

from tap_core.impersonation.dictionary import ThreatDictionary, body_text, load_terms, shipped_languages


def test_every_required_language_is_shipped_with_both_sections() -> None:
    assert {"en", "de", "fr", "es", "pt", "nl", "it"} <= set(shipped_languages())
    for lang in shipped_languages():
        terms = load_terms(lang)
        assert terms.strong and terms.weak, lang


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Quick favor", "Are you at your desk? I need gift cards.", "are you at your desk"),
        ("", "Please update my direct deposit before Friday", "update my direct deposit"),
        ("W2", "Send me all employee W-2s today", "w-2s"),
        (
            "Neue Bankverbindung",
            "Bitte nutzen Sie ab sofort unsere neue Bankverbindung.",
            "neue bankverbindung",
        ),
        ("", "Veuillez noter notre nouveau RIB.", "nouveau rib"),
        ("", "Necesito que compres tarjetas de regalo.", "tarjetas de regalo"),
        ("", "Segue os novos dados bancários para pagamento.", "novos dados bancários"),
        ("", "Graag betalen op ons nieuwe bankgegevens: zie bijlage", "nieuwe bankgegevens"),
        ("", "Ho bisogno di un bonifico urgente oggi.", "bonifico urgente"),
        ("", "Wіre trаnsfer needed", "wire transfer"),  # Cyrillic і and а
    ],
)
def test_strong_terms_match_alone(subject: str, body: str, expected: str) -> None:
    assert expected in ThreatDictionary().matches(subject, body)


def test_one_weak_term_is_everyday_mail_two_are_not() -> None:
    d = ThreatDictionary()
    assert d.matches("Invoice 4411", "Please find the invoice attached.") == []
    assert set(d.matches("Invoice 4411", "The invoice is overdue, please pay.")) == {"invoice", "overdue"}


def test_words_match_whole_not_inside_other_words() -> None:
    assert ThreatDictionary(["en"]).matches("", "The wirelessly transferred invoices") == []


def test_admin_terms_extend_the_dictionary() -> None:
    d = ThreatDictionary(["en"], extra_strong=["project bluebird"], extra_weak=["crypto", "ledger"])
    assert d.matches("", "About Project  Bluebird") == ["project bluebird"]
    assert d.matches("", "crypto ledger") == ["crypto", "ledger"]


def test_languages_can_be_limited() -> None:
    assert ThreatDictionary(["en"]).matches("", "neue Bankverbindung") == []


def test_body_text_prefers_text_and_strips_html() -> None:
    assert body_text("plain", "<p>html</p>") == "plain"
    text = body_text(None, "<style>gift cards{}</style><p>Hello <b>there</b></p>")
    assert "gift" not in text and "Hello" in text
