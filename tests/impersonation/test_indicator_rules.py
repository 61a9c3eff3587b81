"""Every impersonation indicator is a finding of its rule in indicator_rules.toml: the rule's
group, weight and wording; several occurrences of one indicator make one finding and one hit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tap_core.detect.rules import family_rules
from tap_core.impersonation import (
    INDICATORS,
    ImpersonationPolicy,
    ImpersonationResult,
    StaticDirectory,
    assess_impersonation,
    observe,
)
from tap_core.impersonation.memory_history import InMemorySenderHistory
from tap_core.model.findings import Finding
from tap_core.model.message import Message

from .conftest import EXTERNAL, INTERNAL, NOW, VIPS

Msg = Callable[..., Message]
RULES = family_rules("impersonation", "indicator_rules.toml")


def assess(m: Message, policy: ImpersonationPolicy | None = None, **kw: Any) -> ImpersonationResult:
    kw.setdefault("internal_domains", INTERNAL)
    kw.setdefault("vips", VIPS)
    kw.setdefault("now", NOW)
    return assess_impersonation(m, policy or ImpersonationPolicy(), **kw)


def _of_its_rule(f: Finding) -> None:
    rule = RULES[f.name]
    assert (f.group, f.score) == (rule.group, rule.weight), f.name
    assert f.verdict is None
    assert "{" not in f.reason and "?" not in f.reason, f.reason


def test_the_table_holds_exactly_the_indicators() -> None:
    assert set(RULES) == set(INDICATORS)
    assert RULES["auth_failure"].group == "auth"
    # The tenant's own indicators act through the impersonation policy (hit count), not the score.
    identity = {"display_name_vip", "display_name_internal_user", "domain_similarity"}
    assert {RULES[n].group for n in identity} == {"impersonation_identity"}
    assert {RULES[n].group for n in INDICATORS if n not in identity | {"auth_failure"}} == {"impersonation"}


def test_display_names_keep_their_wording(msg: Msg, directory: StaticDirectory) -> None:
    result = assess(msg('"Jane Doe" <ceo.jane@gmail.com>'))
    (f,) = result.indicators
    _of_its_rule(f)
    assert f.reason == "The sender's name resembles Jane Doe, but the message comes from ceo.jane@gmail.com."
    result = assess(msg('"Chidi Okafor" <chidi@example.net>'), directory=directory)
    (f,) = result.indicators
    _of_its_rule(f)
    assert f.name == "display_name_internal_user"
    assert f.evidence == '"Chidi Okafor" <chidi@example.net> resembles internal user Chidi Okafor (exact)'
    assert (
        f.reason == "The sender's name resembles Chidi Okafor, but the message comes from chidi@example.net."
    )


def test_domain_similarity_from_and_reply_to_are_one_finding(msg: Msg) -> None:
    m = msg("billing@contoso-invoices.com", headers=[EXTERNAL, "Reply-To: ap@c0ntoso.com"])
    result = assess(m, ImpersonationPolicy(disabled_indicators=["reply_to_mismatch"]))
    assert result.hits == 1
    (f,) = result.indicators
    _of_its_rule(f)
    assert f.reason == (
        "The sender's domain contoso-invoices.com resembles contoso.com. "
        "The reply address domain c0ntoso.com resembles contoso.com."
    )
    assert f.evidence.startswith("From contoso-invoices.com") and "; Reply-To c0ntoso.com" in f.evidence


def test_reply_to_wordings(msg: Msg) -> None:
    cases = {
        "Reply-To: pat.example@gmail.com": (
            "free_mailbox",
            "Replies would go to the free mailbox pat.example@gmail.com, not to example.net.",
        ),
        "Reply-To: ap@other-company.org": (
            "",
            "Replies would go to ap@other-company.org, not to the sender's domain example.net.",
        ),
        "Return-Path: <pat.example@yahoo.co.uk>": (
            "return_path_free_mailbox",
            "The message was sent through the free mailbox pat.example@yahoo.co.uk, not from example.net.",
        ),
    }
    for header, (variant, reason) in cases.items():
        (f,) = assess(msg("pat@example.net", headers=[EXTERNAL, header])).indicators
        _of_its_rule(f)
        assert (f.variant, f.reason) == (variant, reason)
    strict = ImpersonationPolicy(strict_return_path=True)
    m = msg("pat@example.net", headers=[EXTERNAL, "Return-Path: <bounce@esp-example.com>"])
    (f,) = assess(m, strict).indicators
    assert f.variant == "return_path"
    assert (
        f.reason
        == "The message was sent through bounce@esp-example.com, not from the sender's domain example.net."
    )


def test_two_reply_addresses_are_one_hit(msg: Msg) -> None:
    m = msg("pat@example.net", headers=[EXTERNAL, "Reply-To: a@gmail.com, b@other-company.org"])
    result = assess(m)
    assert result.hits == 1
    (f,) = result.indicators
    _of_its_rule(f)
    assert f.variant == "free_mailbox"  # the first occurrence's
    assert f.reason.count("Replies would go to") == 2
    assert f.evidence == (
        "Reply-To a@gmail.com is a free mailbox, From is example.net; Reply-To b@other-company.org is not at example.net"
    )


def test_newly_observed_wordings(msg: Msg) -> None:
    history = InMemorySenderHistory()
    m = msg()
    (f,) = assess(m, history=history).indicators
    _of_its_rule(f)
    assert (f.variant, f.reason) == ("", "Your organisation has not received mail from example.net before.")
    observe(m, history, now=NOW - timedelta(days=3))
    (f,) = assess(m, history=history).indicators
    _of_its_rule(f)
    assert (f.variant, f.reason) == (
        "recent",
        "Your organisation first received mail from example.net less than 7 days ago.",
    )


def test_threat_dictionary_wording(msg: Msg) -> None:
    (f,) = assess(msg(subject="Quick favor", body="Are you at your desk? Buy gift cards.")).indicators
    _of_its_rule(f)
    assert f.reason == f"The message uses wording common in payment and gift-card fraud: {f.evidence}."


def test_auth_failure_spoof_and_failed_checks_are_one_finding(msg: Msg) -> None:
    auth = "Authentication-Results: mx.contoso.com; spf=fail smtp.mailfrom=contoso.com; dmarc=fail"
    result = assess(msg('"IT" <it@contoso.com>', headers=[EXTERNAL, auth]))
    assert result.indicator_names == ["auth_failure"] and result.hits == 1
    (f,) = result.indicators
    _of_its_rule(f)
    assert f.variant == "internal_domain"
    assert f.reason == (
        "The message claims to come from your domain contoso.com but was sent from outside. "
        "The sender's identity could not be verified (dmarc=fail; spf=fail)."
    )
    assert f.evidence == "external message claims internal domain contoso.com; dmarc=fail; spf=fail"
    only_checks = assess(msg(headers=[EXTERNAL, auth.replace("contoso.com;", "example.net;")])).indicators
    assert [(x.variant, x.reason) for x in only_checks] == [
        ("", "The sender's identity could not be verified (dmarc=fail; spf=fail).")
    ]
