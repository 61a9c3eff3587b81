"""The policy's ``blocked_senders``: what an entry may be, and that the pipeline honours it as the
named finding ``sender_blocked_by_policy``, which decides MALICIOUS alone."""

from __future__ import annotations

import pytest

from tap_core.model.findings import Verdict
from tap_core.parsing.mime import parse_eml
from tap_core.pipeline import Pipeline
from tap_core.policy import PolicyError, parse_policy
from tap_core.reputation.blocklist import blocked_entry

MAIL = (
    b"From: Friendly <news@mail.partner.example>\r\nTo: adele@contoso.test\r\nSubject: lunch\r\n"
    b"Message-ID: <b1@partner.example>\r\nContent-Type: text/plain\r\n\r\nSee you at noon.\r\n"
)


def test_entries_are_normalised_and_deduplicated() -> None:
    policy = parse_policy({"blocked_senders": [" Bad@Evil.Example ", "@evil.example", "evil.example.", "bad@evil.example"]})
    assert policy.blocked_senders == ["bad@evil.example", "evil.example"]


@pytest.mark.parametrize("entry", ["not an address", "@", "localhost", "a@b", "x@y.example, z@w.example"])
def test_an_entry_that_is_no_address_or_domain_is_refused_at_its_field(entry: str) -> None:
    with pytest.raises(PolicyError, match=r"blocked_senders\.0"):
        parse_policy({"blocked_senders": [entry]})


def test_an_address_its_domain_and_parent_domains_match_but_not_a_lookalike() -> None:
    assert blocked_entry("News@Mail.Partner.example", ["partner.example"]) == "partner.example"
    assert blocked_entry("news@mail.partner.example", ["news@mail.partner.example"]) == "news@mail.partner.example"
    assert blocked_entry("news@notpartner.example", ["partner.example"]) is None
    assert blocked_entry("news@partner.example", ["example"]) is None  # never a bare TLD
    assert blocked_entry("", ["partner.example"]) is None


def test_the_pipeline_decides_malicious_for_a_blocked_sender_only() -> None:
    message = parse_eml(MAIL)
    clean = Pipeline(parse_policy({})).run(message, tenant_id="t1")
    assert clean.verdict is not Verdict.MALICIOUS
    assert "sender_blocked_by_policy" not in {f.name for f in clean.findings}
    blocked = Pipeline(parse_policy({"blocked_senders": ["mail.partner.example"]})).run(message, tenant_id="t1")
    assert blocked.verdict is Verdict.MALICIOUS
    assert blocked.action.value == "quarantine"
    assert any(r.startswith("sender_blocked_by_policy: ") and "news@mail.partner.example" in r
               for r in blocked.reasons)
