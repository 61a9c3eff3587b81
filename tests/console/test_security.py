"""CSRF on every POST, the security headers on every answer, static assets, and escaping of
what mail puts into pages. Records are written into Azurite through the stores, then read back
through the console's handler."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from connectors.console import csrf
from connectors.console.app import NAV, SECURITY_HEADERS
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import (
    AuditRecord,
    ClickRecord,
    QuarantineEntry,
    QuarantineStatus,
    VerdictRecord,
)

from .conftest import ADMIN_UPN, ANALYST_UPN, OTHER_TENANT, TENANT, Client, signed_in, text
from .helpers import csrf_token

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
#: What a hostile message puts in every field it controls.
EVIL = '<script>alert(1)</script>"onmouseover="alert(2)\'><img src=x onerror=alert(3)>'


# -- CSRF --------------------------------------------------------------------------------------------
def _post(client: Client, token: str | None, **headers: str) -> int:
    form = {} if token is None else {"csrf_token": token}
    return client.post("/audit", form, headers=headers).status


def test_post_without_token_refused(client: Client) -> None:
    r = client.post("/audit", {})
    assert r.status == 403 and "no security token" in text(r)


def test_post_with_wrong_or_foreign_token_refused(client: Client, runtime: Runtime) -> None:
    good = csrf_token(client.get("/audit"))
    kid, issued, mac = good.split(".")
    assert _post(client, f"{kid}.{issued}.{mac[:-2]}xx") == 403
    assert _post(client, f"{kid}.{int(issued) + 1}.{mac}") == 403
    assert _post(client, f"nokey.{issued}.{mac}") == 403
    assert _post(client, "x" * 500) == 403
    # Another person's token, and this person's token for another tenant, are no good here.
    keyring = client.app.keyring
    assert _post(client, csrf.issue(keyring, TENANT, ANALYST_UPN)) == 403
    assert _post(client, csrf.issue(keyring, OTHER_TENANT, ADMIN_UPN)) == 403


def test_post_with_valid_token_passes_the_check(client: Client) -> None:
    token = csrf_token(client.get("/audit"))
    # Past the CSRF check the router answers: /audit takes no POST.
    assert _post(client, token) == 405
    assert client.post("/audit", {}, headers={"x-csrf-token": token}).status == 405


def test_expired_token_refused(client: Client, runtime: Runtime) -> None:
    max_age = runtime.settings.console_token_minutes * 60
    old = csrf.issue(client.app.keyring, TENANT, ADMIN_UPN, now=time.time() - max_age - 5)
    r = client.post("/audit", {"csrf_token": old})
    assert r.status == 403 and "expired" in text(r)
    fresh = csrf.issue(client.app.keyring, TENANT, ADMIN_UPN, now=time.time() - max_age + 60)
    assert _post(client, fresh) == 405


def test_cross_site_post_refused_even_with_a_token(client: Client) -> None:
    token = csrf_token(client.get("/audit"))
    assert _post(client, token, **{"sec-fetch-site": "cross-site"}) == 403
    assert _post(client, token, origin="https://evil.example") == 403
    assert _post(client, token, origin="null") == 403
    assert _post(client, token, origin="https://tap365.example", **{"sec-fetch-site": "same-origin"}) == 405


def test_csrf_check_unit() -> None:
    from connectors.keys import parse_keys

    ring = parse_keys("k1:" + "A" * 43)
    token = csrf.issue(ring, TENANT, "Ada@X", now=1000)
    csrf.check(ring, token, TENANT, "ada@x", 60, now=1050)  # UPNs compare without case
    with pytest.raises(csrf.CsrfError):
        csrf.check(ring, token, TENANT, "ada@x", 60, now=1061)
    with pytest.raises(csrf.CsrfError):
        csrf.check(ring, "", TENANT, "ada@x", 60, now=1000)


# -- headers -----------------------------------------------------------------------------------------
def _assert_headers(headers: dict[str, str], *, page: bool = True) -> None:
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"  # never a referrer to another site
    if page:
        assert headers["Cache-Control"] == "no-store"


def test_headers_on_every_page_and_error(client: Client, analyst: Client) -> None:
    answers = [client.get(path) for _, path in NAV if path not in ("/held", "/requests", "/policy")]
    answers += [client.get("/nope"), client.get("/", headers={}, replace_headers=True),
                client.get("/", headers=signed_in(tenant=OTHER_TENANT)), analyst.post("/audit", {}),
                client.post("/audit", {})]
    for r in answers:
        _assert_headers(r.headers)
    assert SECURITY_HEADERS["Content-Security-Policy"] == CSP


def test_pages_hold_no_inline_script_or_style(client: Client) -> None:
    for path in ("/", "/clicks", "/audit"):
        body = text(client.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), path
        assert "style=" not in body and not re.search(r"<style", body), path
        assert not re.search(r"\son[a-z]+=", body), path


def test_static_assets(client: Client) -> None:
    css = client.get("/static/console.css", headers={}, replace_headers=True)  # no sign-in needed
    assert css.status == 200 and css.content_type.startswith("text/css")
    assert "max-age=31536000" in css.headers["Cache-Control"]
    _assert_headers(css.headers, page=False)
    js = client.get("/static/console.js")
    assert js.status == 200 and "javascript" in js.content_type
    for bad in ("/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e/auth.py", "/static/",
                "/static/README.md", "/static/console.css/", "/static/.hidden.css"):
        assert client.get(bad).status == 404, bad
    assert client.post("/static/console.css", {}).status == 405


# -- escaping ----------------------------------------------------------------------------------------
def test_mail_text_renders_inert_on_every_page(client: Client, runtime: Runtime) -> None:
    now = datetime.now(UTC)
    stores = runtime.stores
    stores.verdicts.put_verdict(TENANT, "m1", VerdictRecord(
        "m1", now, "malicious", "quarantine", mailbox=f"victim{EVIL}@contoso.example",
        sender=f"x@{EVIL}.example", subject=EVIL, reasons=(EVIL,),
        details={"pipelines": {"url": "malicious"}, "findings": [{"name": EVIL, "reason": EVIL}]}))
    stores.clicks.append(ClickRecord(TENANT, f"{EVIL}@contoso.example", f"https://e.example/{EVIL}",
                                     "malicious", "block", now, reasons=(EVIL,)))
    stores.audit.append(TENANT, AuditRecord(EVIL, EVIL, EVIL, EVIL, now))
    stores.quarantine.put(QuarantineEntry(TENANT, "victim@contoso.example", "m1", "f", "inbox", EVIL, now,
                                          QuarantineStatus.QUARANTINED, subject=EVIL, sender=EVIL))
    for path in ("/", "/clicks", "/audit"):
        body = text(client.get(path))
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert '"onmouseover=' not in body, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text(client.get("/audit"))
    assert "&lt;script&gt;" in text(client.get("/clicks"))
    # The overview's tables and chart labels carry the hostile mailbox, escaped.
    assert "victim&lt;script&gt;" in text(client.get("/"))


def test_notice_text_comes_only_from_registered_notices(client: Client) -> None:
    body = text(client.get("/audit", query={"notice": EVIL}))
    assert "alert(" not in body and 'class="notice"' not in body


# -- tenant isolation --------------------------------------------------------------------------------
def test_pages_show_only_the_principals_tenant(client: Client, runtime: Runtime) -> None:
    now = datetime.now(UTC)
    runtime.stores.audit.append(OTHER_TENANT, AuditRecord("eve@fabrikam.example", "released", "t", "other", now))
    runtime.stores.clicks.append(ClickRecord(OTHER_TENANT, "eve@fabrikam.example", "https://fabrikam.example/x",
                                             "clean", "redirect", now))
    # The query cannot name another tenant: there is no tenant parameter to take.
    for path in ("/audit", "/clicks", "/"):
        body = text(client.get(path, query={"tenant": OTHER_TENANT, "tenant_id": OTHER_TENANT}))
        assert "fabrikam" not in body, path


def test_limits_are_clamped(client: Client, runtime: Runtime) -> None:
    now = datetime.now(UTC)
    for i in range(3):
        runtime.stores.audit.append(TENANT, AuditRecord("a@x", "released", f"t{i}", "r", now - timedelta(minutes=i)))
    r = client.get("/audit", query={"size": "100000", "page": "-4"})
    assert r.status == 200 and "Page 1" in text(r)
