"""The one scorer: weights add up within their groups' caps, groups never go past their highest
verdict, deciding findings decide alone, and the strongest contributions come first."""

from __future__ import annotations

import pytest

from tap_core.detect.groups import groups
from tap_core.detect.rules import rulebook
from tap_core.detect.scoring import Thresholds, score, verdict_for
from tap_core.model.findings import Finding, Verdict

URL = Thresholds(suspicious=5.0, malicious=9.0)


def finding(name: str, variant: str = "", **fields: str) -> Finding:
    return rulebook()[name].finding("evidence", variant, **fields)


def test_weights_add_up_to_the_verdict() -> None:
    low = score([finding("url_shortener")], URL)
    assert (low.score, low.verdict, low.hold) == (2.0, Verdict.CLEAN, False)
    both = score([finding("ip_literal_host"), finding("at_in_authority")], URL)
    assert (both.score, both.verdict, both.hold) == (7.5, Verdict.SUSPICIOUS, True)
    assert both.reasons == ["at_in_authority", "ip_literal_host"]  # strongest first
    assert [c.weight for c in both.contributions] == [4.0, 3.5]


def test_a_group_never_adds_more_than_its_cap() -> None:
    cap = groups()["url_hosting"].max_score
    many = [finding("url_shortener"), finding("free_hosting", "page"), finding("suspicious_tld"),
            finding("ipfs_gateway")]
    assert sum(f.score for f in many) > cap
    result = score(many, URL)
    assert result.score == pytest.approx(cap)
    assert sum(c.weight for c in result.contributions) == pytest.approx(cap)
    # Capped proportionally: the order of strength is kept.
    assert result.contributions[0].finding.name == "free_hosting"


def test_a_group_never_raises_the_verdict_past_its_highest() -> None:
    assert groups()["url_hosting"].max_verdict is Verdict.SUSPICIOUS
    strict = Thresholds(suspicious=1.0, malicious=3.0)
    hosting_only = score([finding("url_shortener"), finding("suspicious_tld")], strict)
    assert hosting_only.score >= strict.malicious
    assert hosting_only.verdict is Verdict.SUSPICIOUS  # its group stops at SUSPICIOUS
    assert hosting_only.reach[Verdict.MALICIOUS] == 0.0
    with_host = score([finding("url_shortener"), finding("ip_literal_host")], strict)
    assert with_host.verdict is Verdict.MALICIOUS  # url_host may reach MALICIOUS


def test_deciding_findings_decide_alone() -> None:
    hit = rulebook()["intel"].finding("feed: x", named="intel_phishing", category="phishing", feed="feed")
    assert hit.verdict is Verdict.MALICIOUS
    result = score([hit], Thresholds(suspicious=50.0, malicious=100.0))
    assert (result.verdict, result.hold) == (Verdict.MALICIOUS, True)
    assert result.reasons[0] == "intel_phishing" and result.deciding == (hit,)


def test_hold_splits_suspicious_into_tag_and_hold() -> None:
    bands = Thresholds(suspicious=2.0, hold=4.0, malicious=9.0)
    tagged = score([finding("url_shortener"), finding("punycode_host")], bands)
    assert (tagged.verdict, tagged.hold) == (Verdict.SUSPICIOUS, False)
    held = score([finding("ip_literal_host"), finding("punycode_host")], bands)
    assert (held.verdict, held.hold) == (Verdict.SUSPICIOUS, True)
    assert verdict_for(1.0, bands) == (Verdict.CLEAN, False)
    assert verdict_for(9.0, bands) == (Verdict.MALICIOUS, True)


def test_learned_weights_bias_and_negative_floor() -> None:
    words = rulebook()["learned_words"].finding("x", "ordinary", weight=-50.0, words="x")
    floor = groups()["text"].min_score
    lure = finding("credential_lure_text", phrase="verify")
    result = score([words, lure], URL, bias=1.0)
    assert result.weight_of("learned_words") == pytest.approx(floor)
    assert result.score == pytest.approx(1.0 + floor + lure.score)
    doubled = score([lure], URL, weight_of=lambda f: f.score * 2)
    assert doubled.score == pytest.approx(2 * lure.score)


@pytest.mark.parametrize("bad", [{"suspicious": 5, "malicious": 4}, {"suspicious": 1, "malicious": 4, "hold": 5}])
def test_thresholds_must_be_ordered(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Thresholds.model_validate(bad)


def test_old_threshold_keys_still_read() -> None:
    assert Thresholds.model_validate({"suspicious_score": 4, "malicious_score": 8}) == Thresholds(
        suspicious=4, malicious=8
    )
