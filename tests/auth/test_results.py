"""RFC 8601 Authentication-Results parsing and which header is trusted."""

from __future__ import annotations

from collections.abc import Callable

from tap_core.auth.results import (
    authentication_problems,
    direction,
    parse_authentication_results,
    receiver_results,
)
from tap_core.model.message import Message


def test_parse_with_comments_versions_and_properties() -> None:
    res = parse_authentication_results(
        "mx.example.org 1; spf=pass (sender IP is 192.0.2.1; good) smtp.mailfrom=example.net; "
        'dkim/1=fail (bad sig) header.d=example.net header.s="sel;1"; dmarc=fail action=quarantine '
        "header.from=example.net"
    )
    assert res.authserv_id == "mx.example.org"
    assert res.verdict("spf") == "pass"
    assert res.verdict("dkim") == "fail"
    assert res.of("dkim")[0].properties["header.d"] == "example.net"
    assert res.of("dkim")[0].properties["header.s"] == "sel;1"
    assert res.verdict("dmarc") == "fail"
    assert res.verdict("arc") == ""


def test_parse_microsoft_form_without_authserv_id() -> None:
    res = parse_authentication_results(
        "spf=softfail (sender IP is 203.0.113.9) smtp.mailfrom=contoso.com; dkim=none (message not "
        "signed) header.d=none;dmarc=fail action=none header.from=contoso.com;compauth=fail reason=000"
    )
    assert res.authserv_id == ""
    assert authentication_problems(res) == ["dmarc=fail", "spf=softfail", "compauth=fail"]


def test_parse_none_and_garbage() -> None:
    assert parse_authentication_results("mx.example.org; none").results == ()
    assert parse_authentication_results(";;;(((").results == ()


def test_any_passing_dkim_signature_counts() -> None:
    res = parse_authentication_results("mx; dkim=fail header.d=a.example; dkim=pass header.d=b.example")
    assert res.verdict("dkim") == "pass"


def test_absence_of_any_pass_is_a_problem() -> None:
    res = parse_authentication_results("mx; spf=none; dkim=none; dmarc=none")
    assert authentication_problems(res) == ["no SPF, DKIM or DMARC pass (spf=none, dkim=none)"]
    ok = parse_authentication_results("mx; spf=fail; dkim=pass; dmarc=pass")
    assert authentication_problems(ok) == []  # aligned DMARC pass outweighs a forwarded SPF fail


def test_topmost_header_is_trusted_and_forged_lower_ones_ignored(msg: Callable[..., Message]) -> None:
    m = msg(
        headers=[
            "Authentication-Results: mx.contoso.com; spf=fail smtp.mailfrom=example.net; dmarc=fail",
            "Authentication-Results: forged.example; spf=pass; dkim=pass; dmarc=pass",
        ]
    )
    res = receiver_results(m)
    assert res is not None and res.authserv_id == "mx.contoso.com" and res.verdict("dmarc") == "fail"
    picked = receiver_results(m, authserv_ids=["forged.example"])
    assert picked is not None and picked.verdict("dmarc") == "pass"
    assert receiver_results(msg(headers=[])) is None


def test_direction_from_exchange_stamp(msg: Callable[..., Message]) -> None:
    stamp = "X-MS-Exchange-Organization-AuthAs: "
    assert direction(msg(headers=[stamp + "Internal"]), ["contoso.com"]) == "internal"
    assert direction(msg(headers=[stamp + "Anonymous"]), ["contoso.com"]) == "external"
    assert direction(msg(headers=[]), ["contoso.com"]) == "external"  # From example.net
    assert direction(msg("a@contoso.com", headers=[]), ["contoso.com"]) == "unknown"
