"""The authentication rules on real header shapes: Exchange Online, Google, kernel.org, ARC."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tap_core.auth import auth_findings
from tap_core.model.findings import Finding
from tap_core.model.message import Message

Msg = Callable[..., Message]

# Exchange Online: no authserv-id, comments, ";" without a space, compauth with its reason code.
EXO_PERMERROR = (
    "Authentication-Results: spf=pass (sender IP is 40.107.22.90) smtp.mailfrom=fabrikam.com; "
    "dkim=none (message not signed) header.d=none;dmarc=permerror action=none "
    "header.from=fabrikam.com;compauth=fail reason=001"
)
EXO_SPOOF = (
    "Authentication-Results: spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=contoso.com; "
    "dkim=none (message not signed) header.d=none;dmarc=fail action=quarantine "
    "header.from=contoso.com;compauth=fail reason=000"
)
EXO_PASS = (
    "Authentication-Results: spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.net; "
    "dkim=pass (signature was verified) header.d=example.net;dmarc=pass action=none "
    "header.from=example.net;compauth=pass reason=100"
)
GOOGLE_PASS = (
    "Authentication-Results: mx.google.com;\r\n"
    "       dkim=pass header.i=@kernel.org header.s=k20201202 header.b=Xy3/abc+de;\r\n"
    "       arc=pass (i=1 spf=pass spfdomain=kernel.org dkim=pass dkdomain=kernel.org dmarc=pass "
    "fromdomain=kernel.org);\r\n"
    "       spf=pass (google.com: domain of maintainer@kernel.org designates 139.178.84.217 as "
    "permitted sender) smtp.mailfrom=maintainer@kernel.org;\r\n"
    "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=kernel.org"
)
KERNEL_FAIL = (
    "Authentication-Results: smtp.subspace.kernel.org; dmarc=fail (p=none dis=none) "
    "header.from=example.com; spf=softfail smtp.mailfrom=bounce@example.com; dkim=fail (2048-bit key) "
    'header.d=example.com header.i=@example.com header.b="k3Y=abc/def"'
)


def _by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings}


def _filled(findings: list[Finding]) -> None:
    for f in findings:
        assert f.group == "auth", f.name
        assert "{" not in f.reason and "?" not in f.reason, f.reason
        assert f.score > 0, f.name


def test_exchange_online_dmarc_permerror_and_compauth(msg: Msg) -> None:
    found = auth_findings(msg(headers=[EXO_PERMERROR]))
    _filled(found)
    by = _by_name(found)
    assert set(by) == {"auth_dmarc_fail", "auth_compauth_fail"}  # spf passed, dkim "none" weighs nothing
    dmarc = by["auth_dmarc_fail"]
    assert dmarc.variant == "permerror" and dmarc.score == 2.0
    assert dmarc.reason == "DMARC permerror for the From domain fabrikam.com."
    assert "header.from=fabrikam.com" in dmarc.evidence
    compauth = by["auth_compauth_fail"]
    assert compauth.variant == "fail"
    assert compauth.reason == "Composite authentication fail (reason 001)."
    assert compauth.evidence == "compauth=fail reason=001"


def test_exchange_online_spoof(msg: Msg) -> None:
    found = auth_findings(msg(headers=[EXO_SPOOF]))
    _filled(found)
    by = _by_name(found)
    assert set(by) == {"auth_spf_fail", "auth_dmarc_fail", "auth_compauth_fail", "auth_unauthenticated"}
    assert by["auth_spf_fail"].variant == "fail" and by["auth_spf_fail"].score == 2.0
    assert by["auth_spf_fail"].reason == "SPF fail: the sending server is not authorised by contoso.com."
    assert by["auth_dmarc_fail"].variant == "fail" and by["auth_dmarc_fail"].score == 3.0
    assert by["auth_compauth_fail"].reason.endswith("(reason 000).")
    assert by["auth_unauthenticated"].evidence == "spf=fail, dkim=none, dmarc=fail"


def test_passing_mail_gives_nothing(msg: Msg) -> None:
    assert auth_findings(msg(headers=[EXO_PASS])) == []
    assert auth_findings(msg(headers=[GOOGLE_PASS])) == []


def test_kernel_org_style_with_authserv_id(msg: Msg) -> None:
    found = auth_findings(msg(headers=[KERNEL_FAIL]))
    _filled(found)
    by = _by_name(found)
    assert set(by) == {"auth_dmarc_fail", "auth_spf_fail", "auth_dkim_fail", "auth_unauthenticated"}
    assert by["auth_spf_fail"].variant == "softfail" and by["auth_spf_fail"].score == 1.0
    assert "example.com" in by["auth_spf_fail"].reason  # the domain of smtp.mailfrom's address
    assert by["auth_dkim_fail"].reason == "The DKIM signature of example.com does not verify (fail)."
    assert "header.d=example.com" in by["auth_dkim_fail"].evidence


def test_no_header_weighs_nothing(msg: Msg) -> None:
    assert auth_findings(msg(headers=[])) == []
    # An ARC-Seal alone is no Authentication-Results: nothing.
    assert auth_findings(msg(headers=["ARC-Seal: i=1; a=rsa-sha256; cv=fail; d=x.example; s=s; b=abc"])) == []


def test_unauthenticated_needs_spf_and_dkim_reported(msg: Msg) -> None:
    none = "Authentication-Results: mx.example.org; spf=none smtp.mailfrom=a@b.example; " + (
        "dkim=none (message not signed); dmarc=none"
    )
    found = auth_findings(msg(headers=[none]))
    _filled(found)
    assert [f.name for f in found] == ["auth_unauthenticated"]
    assert found[0].reason == "Nothing authenticates the sender: spf=none, dkim=none, dmarc=none."
    # A method missing from the header is not a result.
    assert auth_findings(msg(headers=["Authentication-Results: mx.example.org; spf=none"])) == []
    assert auth_findings(msg(headers=["Authentication-Results: mx.example.org; dkim=none; dmarc=none"])) == []
    # DMARC not reported at all still leaves nothing that authenticates.
    found = auth_findings(msg(headers=["Authentication-Results: mx.example.org; spf=neutral; dkim=none"]))
    assert [f.evidence for f in found] == ["spf=neutral, dkim=none, dmarc=not reported"]
    # One pass is enough; a temporary error says nothing.
    assert auth_findings(msg(headers=["Authentication-Results: mx; spf=pass; dkim=none; dmarc=none"])) == []
    assert auth_findings(msg(headers=["Authentication-Results: mx; spf=temperror; dkim=none"])) == []


def test_dkim_fails_only_when_no_signature_passed(msg: Msg) -> None:
    two = "Authentication-Results: mx; dkim=fail header.d=list.example; dkim=pass header.d=example.net"
    assert auth_findings(msg(headers=[two])) == []
    bad = "Authentication-Results: mx; dkim=permerror (no key for signature) header.i=@example.net"
    found = auth_findings(msg(headers=[bad]))
    assert [(f.name, f.reason) for f in found] == [
        ("auth_dkim_fail", "The DKIM signature of example.net does not verify (permerror).")
    ]
    anonymous = auth_findings(msg(headers=["Authentication-Results: mx; dkim=fail"]))
    assert anonymous[0].reason == "The DKIM signature of the signer does not verify (fail)."


def test_arc_from_the_receiver_only(msg: Msg) -> None:
    ar = "Authentication-Results: mx.google.com; arc=fail (signature failed); spf=pass; dkim=pass; dmarc=pass"
    found = auth_findings(msg(headers=[ar]))
    _filled(found)
    assert [(f.name, f.evidence) for f in found] == [
        ("auth_arc_fail", "arc=fail in the receiver's Authentication-Results")
    ]
    # A seal's cv=fail is what a forwarder found upstream (lists seal it on mail they rewrote):
    # the receiver did not say the chain failed, so nothing weighs.
    seals = [
        "ARC-Seal: i=1; a=rsa-sha256; t=1700000000; cv=none; d=lists.example; s=arc; b=AbC/dE+f==",
        "ARC-Seal: i=2; a=rsa-sha256; t=1700000100; cv=fail;\r\n d=relay.example; s=arc; b=ZZZ",
    ]
    plain = "Authentication-Results: mx.example.org; spf=pass; dkim=pass; dmarc=pass"
    assert auth_findings(msg(headers=[plain, *seals])) == []

def test_only_the_topmost_header_is_read(msg: Msg) -> None:
    forged_below = [EXO_PASS, EXO_SPOOF]
    assert auth_findings(msg(headers=forged_below)) == []
    assert {f.name for f in auth_findings(msg(headers=forged_below[::-1]))} >= {"auth_dmarc_fail"}
    # A known receiving server's header can be picked by its authserv-id.
    picked = auth_findings(msg(headers=[GOOGLE_PASS, KERNEL_FAIL]), authserv_ids=["smtp.subspace.kernel.org"])
    assert "auth_dmarc_fail" in {f.name for f in picked}
    assert auth_findings(msg(headers=[KERNEL_FAIL]), authserv_ids=["mx.contoso.com"]) == []


def test_spf_without_mailfrom_names_no_domain(msg: Msg) -> None:
    found = auth_findings(msg(headers=["Authentication-Results: mx; spf=hardfail"]))
    assert [(f.name, f.variant) for f in found] == [("auth_spf_fail", "fail")]
    assert (
        found[0].reason
        == "SPF hardfail: the sending server is not authorised by the envelope sender's domain."
    )
    helo = auth_findings(
        msg(headers=["Authentication-Results: mx; spf=permerror smtp.helo=mail.example.org"])
    )
    assert helo[0].variant == "permerror" and "mail.example.org" in helo[0].reason


@pytest.mark.parametrize(
    "value",
    [
        "",
        ";;;(((",
        "garbage without any result",
        "mx; none",
        '"unterminated; spf=fail',
        "mx; spf=fail (unclosed comment; dkim=fail",
        "mx; =fail; spf=; dkim==; dmarc=fail=x header.from==",
        "mx; compauth=fail reason=" + "9" * 500,
        "\x00\udcff; spf=\u00e9chec",
    ],
)
def test_garbage_never_raises(msg: Msg, value: str) -> None:
    found = auth_findings(msg(headers=[f"Authentication-Results: {value}"]))
    _filled(found)


def test_hostile_headers_are_linear(msg: Msg) -> None:
    hostile = [
        "Authentication-Results: mx; " + "(" * 200_000 + "spf=fail",
        "Authentication-Results: mx; " + '"' * 200_001 + "; spf=fail",
        "Authentication-Results: mx; " + "dkim=fail header.d=a.example; " * 20_000,
        "Authentication-Results: mx; spf=fail " + "x=y " * 50_000,
    ]
    seals = ["ARC-Seal: " + "i=1;" * 50_000] * 50
    start = time.perf_counter()
    for header in hostile:
        auth_findings(msg(headers=[header, *seals]))
    assert time.perf_counter() - start < 5.0
