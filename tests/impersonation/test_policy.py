"""The impersonation policy section: defaults, thresholds, validation, use from the tenant policy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tap_core.impersonation import Action, ImpersonationPolicy, Vip


def test_defaults() -> None:
    p = ImpersonationPolicy()
    assert p.threshold == 3
    assert (p.action_at_threshold, p.action_below_threshold) == (Action.QUARANTINE, Action.LOG)
    assert p.newly_observed_days == 7
    assert [p.action_for(h) for h in range(5)] == ["deliver", "log", "log", "quarantine", "quarantine"]


def test_vip_policy_threshold_is_one_unless_set() -> None:
    assert ImpersonationPolicy(targets="vips").threshold == 1
    assert ImpersonationPolicy(targets="vips", hit_threshold=2).threshold == 2


def test_section_from_yaml_like_data() -> None:
    p = ImpersonationPolicy.model_validate(
        {
            "targets": "everyone",
            "hit_threshold": 2,
            "action_at_threshold": "tag",
            "trusted_senders": ["CEO@Partner.example "],
            "monitored_domains": ["NorthwindBank.com."],
            "name_matching": {"name_ratio": 95},
            "domain_matching": {"edit1_min_len": 6},
            "extra_threat_terms": ["project bluebird"],
        }
    )
    assert p.trusted_senders == ["ceo@partner.example"]
    assert p.monitored_domains == ["northwindbank.com"]
    assert p.action_for(2) == Action.TAG
    assert p.domain_matching.edit1_min_len == 6


@pytest.mark.parametrize(
    "bad",
    [
        {"hit_threshold": 0},
        {"action_at_threshold": "explode"},
        {"disabled_indicators": ["not_an_indicator"]},
        {"unknown_key": 1},
        {"targets": "someone"},
    ],
)
def test_invalid_sections_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ImpersonationPolicy.model_validate(bad)


def test_vip_model() -> None:
    v = Vip(name="Jane Doe", email="jane.doe@contoso.com", aliases=["JD", "jd@contoso.com"])
    assert v.aliases == ["JD", "jd@contoso.com"]
