"""assess_impersonation: every indicator, every action, exceptions, mailbox intelligence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tap_core.impersonation import (
    INDICATORS,
    Action,
    ImpersonationPolicy,
    ImpersonationResult,
    InternalUser,
    StaticDirectory,
    assess_impersonation,
    observe,
)
from tap_core.impersonation.memory_history import InMemorySenderHistory
from tap_core.model.message import Message

from .conftest import EXTERNAL, INTERNAL, NOW, VIPS

Msg = Callable[..., Message]


def assess(m: Message, policy: ImpersonationPolicy | None = None, **kw: Any) -> ImpersonationResult:
    kw.setdefault("internal_domains", INTERNAL)
    kw.setdefault("vips", VIPS)
    kw.setdefault("now", NOW)
    return assess_impersonation(m, policy or ImpersonationPolicy(), **kw)


def names(result: ImpersonationResult) -> list[str]:
    return result.indicator_names


def test_clean_partner_mail_has_no_hits(msg: Msg) -> None:
    result = assess(msg())
    assert (result.hits, result.indicators, result.action) == (0, [], "deliver")
    assert result.to_json() == {"hits": 0, "indicators": [], "action": "deliver"}


# --- one test per indicator ----------------------------------------------------------------------


def test_display_name_vip(msg: Msg) -> None:
    result = assess(msg('"Jane Doe" <ceo.jane@gmail.com>'))
    assert names(result) == ["display_name_vip"]
    assert result.indicators[0].evidence == '"Jane Doe" <ceo.jane@gmail.com> resembles VIP Jane Doe (exact)'
    assert "Jane Doe" in result.indicators[0].reason and "ceo.jane@gmail.com" in result.indicators[0].reason


def test_display_name_vip_not_for_the_vip_own_addresses(msg: Msg) -> None:
    internal = ["X-MS-Exchange-Organization-AuthAs: Internal"]
    assert names(assess(msg('"Jane Doe" <jane.doe@contoso.com>', headers=internal))) == []
    assert names(assess(msg('"Bob Smith" <bob@contoso.com>', headers=internal))) == []  # alias address


def test_display_name_internal_user_for_external_senders_only(msg: Msg, directory: StaticDirectory) -> None:
    result = assess(msg('"Chidi Okafor" <chidi.okafor.ng@outlook.com>'), directory=directory)
    assert names(result) == ["display_name_internal_user"]
    assert "internal user Chidi Okafor" in result.indicators[0].evidence
    internal = msg(
        '"Chidi Okafor" <c.okafor@contoso.com>', headers=["X-MS-Exchange-Organization-AuthAs: Internal"]
    )
    assert names(assess(internal, directory=directory)) == []


def test_directory_names_are_normalised_too(msg: Msg, directory: StaticDirectory) -> None:
    result = assess(msg('"Maria Jose Garcia-Lopez" <mjgl@example.org>'), directory=directory)
    assert names(result) == ["display_name_internal_user"]


def test_vip_and_directory_hit_for_one_person_count_once(msg: Msg, directory: StaticDirectory) -> None:
    result = assess(msg('"Jane Doe" <ceo.jane@gmail.com>'), directory=directory)
    assert names(result) == ["display_name_vip"]


def test_directory_index_is_rebuilt_when_the_directory_changes(msg: Msg) -> None:
    class Changing:
        def __init__(self) -> None:
            self.users: list[InternalUser] = [InternalUser("Ann Lee", "ann@contoso.com")]

        def internal_users(self, tenant_id: str) -> list[InternalUser]:
            return self.users

    d = Changing()
    m = msg('"Omar Haddad" <omar@example.org>')
    assert names(assess(m, directory=d)) == []
    d.users = [*d.users, InternalUser("Omar Haddad", "omar.haddad@contoso.com")]
    assert names(assess(m, directory=d)) == ["display_name_internal_user"]


@pytest.mark.parametrize(
    ("from_", "reply_to"),
    [
        ('"Billing" <billing@contoso-invoices.com>', None),
        ('"Pat" <pat@example.net>', "pat@c0ntoso.com"),
    ],
)
def test_domain_similarity_from_and_reply_to(msg: Msg, from_: str, reply_to: str | None) -> None:
    headers = [EXTERNAL] + ([f"Reply-To: {reply_to}"] if reply_to else [])
    result = assess(
        msg(from_, headers=headers), ImpersonationPolicy(disabled_indicators=["reply_to_mismatch"])
    )
    assert names(result) == ["domain_similarity"]
    assert "resembles contoso.com" in result.indicators[0].evidence


def test_domain_similarity_monitored_external_domains(msg: Msg) -> None:
    policy = ImpersonationPolicy(monitored_domains=["northwindbank.com"])
    result = assess(msg("payments@northwind-bank.com", headers=[EXTERNAL]), policy)
    assert names(result) == ["domain_similarity"]
    assert "northwindbank.com" in result.indicators[0].evidence


def test_domain_similarity_never_for_internal_subdomains(msg: Msg) -> None:
    m = msg("noreply@mail.contoso.com", headers=["X-MS-Exchange-Organization-AuthAs: Internal"])
    assert names(assess(m)) == []


@pytest.mark.parametrize(
    ("from_", "headers", "evidence"),
    [
        ("pat@example.net", ["Reply-To: pat.example@gmail.com"], "is a free mailbox"),
        ("pat@example.net", ["Reply-To: ap@other-company.org"], "is not at example.net"),
        ("pat@example.net", ["Return-Path: <pat.example@yahoo.co.uk>"], "Return-Path"),
    ],
)
def test_reply_to_mismatch(msg: Msg, from_: str, headers: list[str], evidence: str) -> None:
    result = assess(msg(from_, headers=[EXTERNAL, *headers]))
    assert names(result) == ["reply_to_mismatch"]
    assert evidence in result.indicators[0].evidence


@pytest.mark.parametrize(
    "headers",
    [
        ["Reply-To: sales@example.net"],  # same domain
        ["Reply-To: pat@news.example.net"],  # same registered domain
        ["Reply-To: list@lists.example.org", "List-Id: <team.lists.example.org>"],  # mailing list
        ["Return-Path: <bounce-123@mailer.esp-example.com>"],  # bulk senders bounce elsewhere
    ],
)
def test_reply_to_aligned_or_list_is_no_mismatch(msg: Msg, headers: list[str]) -> None:
    assert names(assess(msg("pat@example.net", headers=[EXTERNAL, *headers]))) == []


def test_strict_return_path(msg: Msg) -> None:
    m = msg("pat@example.net", headers=[EXTERNAL, "Return-Path: <bounce@esp-example.com>"])
    assert names(assess(m, ImpersonationPolicy(strict_return_path=True))) == ["reply_to_mismatch"]


def test_newly_observed_sender(msg: Msg) -> None:
    history = InMemorySenderHistory()
    m = msg()
    result = assess(m, history=history)
    assert names(result) == ["newly_observed_sender"]
    assert result.indicators[0].evidence == "example.net never seen before (window 7 days)"
    observe(m, history, now=NOW - timedelta(days=3))
    assert "first seen" in assess(m, history=history).indicators[0].evidence
    history = InMemorySenderHistory()
    observe(m, history, now=NOW - timedelta(days=8))
    assert names(assess(m, history=history)) == []


def test_newly_observed_uses_the_address_at_freemail_providers(msg: Msg) -> None:
    history = InMemorySenderHistory()
    observe(msg("old.friend@gmail.com"), history, now=NOW - timedelta(days=30))
    result = assess(msg("stranger@gmail.com"), history=history)
    assert result.indicators[0].evidence.startswith("stranger@gmail.com never seen")
    policy = ImpersonationPolicy(newly_observed_scope="domain")
    assert names(assess(msg("stranger@gmail.com"), policy, history=history)) == []


def test_newly_observed_window_is_configurable(msg: Msg) -> None:
    history = InMemorySenderHistory()
    observe(msg(), history, now=NOW - timedelta(days=8))
    assert names(assess(msg(), ImpersonationPolicy(newly_observed_days=14), history=history)) == [
        "newly_observed_sender"
    ]


def test_threat_dictionary(msg: Msg) -> None:
    result = assess(msg(subject="Quick favor", body="Are you at your desk? Buy gift cards."))
    assert names(result) == ["threat_dictionary"]
    assert "'gift cards'" in result.indicators[0].evidence


def test_threat_dictionary_admin_terms(msg: Msg) -> None:
    policy = ImpersonationPolicy(extra_threat_terms=["project bluebird"])
    assert names(assess(msg(body="About project bluebird."), policy)) == ["threat_dictionary"]


@pytest.mark.parametrize(
    ("auth", "evidence"),
    [
        ("spf=fail smtp.mailfrom=example.net; dkim=none; dmarc=fail header.from=example.net", "dmarc=fail"),
        ("spf=softfail smtp.mailfrom=example.net; dkim=none; dmarc=none", "spf=softfail"),
        ("spf=none; dkim=none; dmarc=none header.from=example.net", "no SPF, DKIM or DMARC pass"),
    ],
)
def test_auth_failure(msg: Msg, auth: str, evidence: str) -> None:
    result = assess(msg(headers=[EXTERNAL, f"Authentication-Results: mx.contoso.com; {auth}"]))
    assert names(result) == ["auth_failure"]
    assert evidence in result.indicators[0].evidence


def test_auth_failure_external_mail_claiming_internal_domain(msg: Msg) -> None:
    result = assess(
        msg('"IT Helpdesk" <it@contoso.com>', headers=[EXTERNAL, "Authentication-Results: mx; dmarc=pass"])
    )
    assert names(result) == ["auth_failure"]
    assert "claims internal domain contoso.com" in result.indicators[0].evidence


def test_auth_spoof_without_exchange_stamp(msg: Msg) -> None:
    spoof = msg("it@contoso.com", headers=["Authentication-Results: mx; spf=fail; dmarc=fail"])
    assert names(assess(spoof)) == ["auth_failure"]
    # Internal mail without a stamp and with "none" results is normal.
    plain = msg("it@contoso.com", headers=["Authentication-Results: mx; spf=none; dkim=none; dmarc=none"])
    assert names(assess(plain)) == []


def test_missing_authentication_results_counts_only_when_required(msg: Msg) -> None:
    assert names(assess(msg(headers=[EXTERNAL]))) == []
    policy = ImpersonationPolicy(require_authentication_results=True)
    assert names(assess(msg(headers=[EXTERNAL]), policy)) == ["auth_failure"]


def test_every_indicator_name_is_reachable() -> None:
    assert set(INDICATORS) == {
        "display_name_vip",
        "display_name_internal_user",
        "domain_similarity",
        "reply_to_mismatch",
        "newly_observed_sender",
        "threat_dictionary",
        "auth_failure",
    }


# --- hits and actions --------------------------------------------------------------------------


BEC = {
    "from_": '"Jane Doe" <jane.doe.office@gmail.com>',
    "subject": "Urgent request",
    "body": "Are you at your desk? I need you to process a wire transfer today.",
    "headers": [
        EXTERNAL,
        "Reply-To: jd.private@outlook.com",
        "Authentication-Results: mx; spf=pass; dmarc=pass",
    ],
}


def test_hits_count_indicators_and_threshold_three_quarantines(msg: Msg) -> None:
    result = assess(msg(**BEC))
    assert names(result) == ["display_name_vip", "reply_to_mismatch", "threat_dictionary"]
    assert (result.hits, result.action) == (3, "quarantine")


@pytest.mark.parametrize(
    ("policy", "action"),
    [
        (ImpersonationPolicy(), "quarantine"),  # 3 hits >= 3
        (ImpersonationPolicy(hit_threshold=4), "log"),  # below threshold: LOG by default
        (ImpersonationPolicy(hit_threshold=4, action_below_threshold=Action.TAG), "tag"),
        (ImpersonationPolicy(action_at_threshold=Action.TAG), "tag"),
        (ImpersonationPolicy(hit_threshold=4, action_below_threshold=Action.DELIVER), "deliver"),
        (ImpersonationPolicy(targets="vips", action_at_threshold=Action.LOG), "log"),
    ],
)
def test_every_action(msg: Msg, policy: ImpersonationPolicy, action: str) -> None:
    m = msg(**{**BEC, "to": "jane.doe@contoso.com"})
    assert assess(m, policy).action == action


def test_vip_policies_act_on_one_hit(msg: Msg) -> None:
    policy = ImpersonationPolicy(targets="vips")
    assert policy.threshold == 1
    result = assess(msg('"Jane Doe" <x@example.org>', to="robert.smith@contoso.com"), policy)
    assert (result.hits, result.action) == (1, "quarantine")
    other = assess(msg('"Jane Doe" <x@example.org>', to="alice@contoso.com"), policy)
    assert (other.action, other.skipped) == ("deliver", "no VIP among the recipients")


def test_group_targets_through_the_directory(msg: Msg, directory: StaticDirectory) -> None:
    policy = ImpersonationPolicy(targets="groups", target_groups=["Finance"], hit_threshold=1)
    hit = assess(msg(**{**BEC, "to": "alice@contoso.com"}), policy, directory=directory)
    assert hit.action == "quarantine"
    miss = assess(msg(**{**BEC, "to": "chidi.okafor@contoso.com"}), policy, directory=directory)
    assert (miss.action, miss.skipped) == ("deliver", "no recipient in the target groups")


def test_disabled_policy_and_disabled_indicators(msg: Msg) -> None:
    assert assess(msg(**BEC), ImpersonationPolicy(enabled=False)).action == "deliver"
    policy = ImpersonationPolicy(disabled_indicators=["threat_dictionary"])
    assert "threat_dictionary" not in names(assess(msg(**BEC), policy))


# --- exceptions and mailbox intelligence ---------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        ImpersonationPolicy(trusted_senders=["jane.doe.office@gmail.com"]),
        ImpersonationPolicy(trusted_senders=["@gmail.com"]),
        ImpersonationPolicy(trusted_domains=["gmail.com"]),
    ],
)
def test_trusted_senders_are_not_assessed(msg: Msg, policy: ImpersonationPolicy) -> None:
    result = assess(msg(**BEC), policy)
    assert (result.hits, result.action) == (0, "deliver")
    assert result.skipped.startswith("trusted")


def test_trusted_sender_that_fails_dmarc_is_assessed(msg: Msg) -> None:
    policy = ImpersonationPolicy(trusted_domains=["gmail.com"])
    spoof = msg(**{**BEC, "headers": [EXTERNAL, "Authentication-Results: mx; spf=fail; dmarc=fail"]})
    assert assess(spoof, policy).hits >= 1


def test_mailbox_intelligence_suppresses_display_name_indicators(
    msg: Msg, directory: StaticDirectory
) -> None:
    history = InMemorySenderHistory()
    m = msg('"Jane Doe" <jane.personal@gmail.com>', to="alice@contoso.com")
    assert "display_name_vip" in names(assess(m, history=history, directory=directory))
    # Alice has written to that address before: the display name is no longer an indicator.
    history.record("", "alice@contoso.com", ["jane.personal@gmail.com"], NOW - timedelta(days=40))
    result = assess(m, history=history, directory=directory)
    assert "display_name_vip" not in names(result)
    assert "display_name_internal_user" not in names(result)
    assert result.suppressed
    off = ImpersonationPolicy(mailbox_intelligence=False)
    assert "display_name_vip" in names(assess(m, off, history=history, directory=directory))


def test_to_json_shape(msg: Msg) -> None:
    data = assess(msg(**BEC)).to_json()
    assert set(data) == {"hits", "indicators", "action"}
    assert all(set(i) == {"name", "evidence"} for i in data["indicators"])
    assert data["hits"] == 3 and data["action"] == "quarantine"


def test_vips_as_plain_dicts(msg: Msg) -> None:
    result = assess(
        msg('"Jane Doe" <x@example.org>'), vips=[{"name": "Jane Doe", "email": "jane.doe@contoso.com"}]
    )
    assert names(result) == ["display_name_vip"]


def test_no_from_header_does_not_raise(msg: Msg) -> None:
    m = msg()
    m.from_address = None
    assert assess(m).action == "deliver"


def test_onmicrosoft_tenants_count_as_their_own_domains(msg: Msg) -> None:
    history = InMemorySenderHistory()
    observe(msg("a@old-partner.onmicrosoft.com"), history, now=NOW - timedelta(days=60))
    fresh = msg(
        "b@fresh-tenant.onmicrosoft.com", headers=[EXTERNAL, "Reply-To: c@other-tenant.onmicrosoft.com"]
    )
    result = assess(fresh, history=history)
    assert names(result) == ["reply_to_mismatch", "newly_observed_sender"]
    assert "fresh-tenant.onmicrosoft.com never seen" in result.indicators[1].evidence


def test_mailbox_intelligence_needs_authenticated_mail(msg: Msg) -> None:
    history = InMemorySenderHistory()
    history.record("", "alice@contoso.com", ["jane.personal@gmail.com"], NOW - timedelta(days=40))
    forged = msg(
        '"Jane Doe" <jane.personal@gmail.com>',
        headers=[EXTERNAL, "Authentication-Results: mx; spf=fail; dkim=none; dmarc=fail"],
    )
    assert "display_name_vip" in names(assess(forged, history=history))
